"""Calibrating the clock across processes: how far processes of identical code spread in each setting, from one
interleaved pool; the same pool's arms made slower by a known amount validate the estimator (validation/clock.py).

    python -m mnist_ref.validation.calibration collect --cycles 16 --out-dir results/calibration
    python -m mnist_ref.validation.calibration analyse results/calibration --out results/calibration.md
    python -m mnist_ref.validation.calibration collect --cycles 29 --arms default default-b wait1.03 wait1.05 wait1.10 \
        --out-dir results/clock-validation

collect: every arm's timed-guard process (`--bench-measure steps`: the book's batch-32 fit, evaluate and predict on the
CPU, 300 steps a round), one at a time, in rounds (cycles): each cycle runs every arm once (or those named), in a fresh
random order (seeded). The arms are one code in several settings, and the same code made slower by a known amount:

- default, default-b: TensorFlow's own threads (two identical arms: the A/A);
- intra2: TF_NUM_INTRAOP_THREADS=2, TF_NUM_INTEROP_THREADS=1; threads1: both 1;
- fitonly: `-k fit --bench-fit-rounds 16` (more of the fit a process measures);
- wait1.03, wait1.05, wait1.10: the default arm with `--bench-inject-wait F`, every step waiting F - 1 times its own
  duration (the wait owed carried from sleep to sleep, so a round is F times as long to within one sleep's overshoot).

The rules, fixed before the runs (RULES below, committed with this file before any process was collected):
- cycle 1 is a warm-up of the machine and is discarded, for every arm;
- per process, each path's median round;
- the spread of a setting is 1.4826 x the MAD of its log process medians (gate.ratio.spread), and its correlation
  within a cycle is Spearman's between that arm's and default's log medians over the usable cycles.
The validation's rules (levels, budgets, the estimator) are clock.RULES.
"""

from __future__ import annotations

import dataclasses
import datetime
import statistics
import sys
from pathlib import Path

from mnist_ref.gate import ab
from mnist_ref.gate.ratio import spread
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ConfigError, ReportError
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.store import files
from mnist_ref.store.measures import Measure
from mnist_ref.validation import study

PROG = "mnist_ref.validation.calibration"
TIMED_ARGS = ab.bench_args(select=None, measure=Measure.STEPS)
SEED = 34  # the order of every cycle


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the analysis does, fixed before the runs."""

    warmup_cycles: int = 1
    settings: tuple[str, ...] = ("default", "default-b", "intra2", "threads1", "fitonly")


RULES = Rules()


@dataclasses.dataclass(frozen=True)
class CalibrationArm:
    name: str
    options: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # VAR=value, set for this arm's processes only
    label: str = ""


ARMS = (
    CalibrationArm("default", label="TensorFlow's own threads"),
    CalibrationArm("default-b", label="the same, a second arm (A/A)"),
    CalibrationArm(
        "intra2", env=("TF_NUM_INTRAOP_THREADS=2", "TF_NUM_INTEROP_THREADS=1"), label="intra-op 2, inter-op 1"
    ),
    CalibrationArm(
        "threads1", env=("TF_NUM_INTRAOP_THREADS=1", "TF_NUM_INTEROP_THREADS=1"), label="intra-op 1, inter-op 1"
    ),
    CalibrationArm("fitonly", options=("-k", "fit", "--bench-fit-rounds", "16"), label="the fit only, 16 rounds"),
    *(
        CalibrationArm(f"wait{f}", options=("--bench-inject-wait", f), label=f"every step waits {f}x its own duration")
        for f in ("1.03", "1.05", "1.10")
    ),
)


def bench_arms() -> list[ab.Arm]:
    return [
        ab.Arm(a.name, sys.executable, CHECKOUT, (*TIMED_ARGS, *a.options), prefix=("env", *a.env) if a.env else ())
        for a in ARMS
    ]


def collect(out_dir: Path, *, cycles: int, names: list[str] | None = None) -> None:
    """Every arm (or those named) once a cycle, in a fresh random order, one process at a time, into a new folder (one
    session)."""
    ab.check_repeats(cycles, guard=0, option="--cycles")
    ab.check_out_dir(out_dir, default="a new folder per collection")
    arms = bench_arms()
    unknown = sorted(set(names or ()) - {a.name for a in arms})
    if unknown:
        raise ConfigError(f"--arms: no arm {', '.join(unknown)}; choose from {', '.join(a.name for a in arms)}")
    ab.run_interleaved(
        [a for a in arms if names is None or a.name in names],
        repeats=cycles,
        out_dir=out_dir,
        session=f"calibration-{files.stamp()}",
        shuffle=SEED,
        together=1,
    )


def _options(sub) -> dict:
    sub.choices["collect"].add_argument("--arms", nargs="+", default=None, help="the arms to run (default: all)")
    return {}


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "calibration study",
        argv,
        cycles=16,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles, names=args.arms),
        pages=study.one_page(render),
        options=_options,
    )


# --- analyse: the pool read back into numbers ---------------------------------------------------------------------

PATHS = ("fit", "evaluate", "predict", "predict_one")


@dataclasses.dataclass(frozen=True)
class Process:
    """One process of the pool: its cycle, each path's median round (seconds) and rounds, its machine covariates."""

    cycle: int
    medians: dict[str, float]
    rounds: dict[str, int]
    steal_share: float | None
    probe_s: float | None


@dataclasses.dataclass(frozen=True)
class Pool:
    """A pool read back: arm -> cycle -> its process, the cycles every arm named completed after the warm-up, a
    process's wall time and the machine."""

    folder: Path
    processes: dict[str, dict[int, Process]]
    cycles: int
    usable: tuple[int, ...]
    process_wall_s: float
    environment: object  # store.provenance.Provenance of the pool

    def medians(self, arm: str, path: str, cycles) -> list[float]:
        return [self.processes[arm][c].medians[path] for c in cycles]

    def generated_by(self, command: str, *, prog: str) -> str:
        """The page's provenance: the command that wrote it, the pool's folder and how it was collected, the machine."""
        return (
            f"Generated by `{command}` from the bench JSON under `{self.folder.name}/` (collected with `python -m "
            f"{prog} collect`). Machine: {self.environment.machine}; Python {self.environment.python}."
        )

    def rounds_a_process(self, path: str, arm: str = "default") -> int:
        """How many rounds of a path each process of an arm timed (the most, where its processes differ)."""
        return max(p.rounds.get(path, 0) for p in self.processes[arm].values())


@dataclasses.dataclass(frozen=True)
class Setting:
    """One arm's processes from the usable cycles: median, spread and correlation with default within a cycle."""

    name: str
    label: str
    fit_median_s: float
    spread: dict[str, float]  # path -> 1.4826 x MAD of log process medians
    correlation: float | None  # Spearman, with default's fit over the usable cycles
    first_cycle: float | None  # cycle 1's fit over the median of the others


@dataclasses.dataclass(frozen=True)
class Calibration:
    pool: Pool
    rules: Rules
    settings: tuple[Setting, ...]
    covariates: dict[str, float | None]  # name -> Spearman with default's fit over its processes


def _process(f, cycle: int) -> Process:
    timed = [m for m in f.measured if not m.key.floor]
    record = f.session.contention
    return Process(
        cycle,
        {m.path: m.median for m in timed},
        {m.path: m.round_count for m in timed},
        record.get("steal_share"),
        record.get("probe_start_s"),
    )


def spearman(x, y) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return None  # too few, or a constant side: no correlation is defined
    return float(spearmanr(x, y).statistic)


def read_pool(folder: Path, arms: tuple[str, ...], *, warmup_cycles: int, least: int) -> Pool:
    """The named arms' processes of a pool; refused in one line where an arm is missing or fewer than `least` cycles
    are complete after the warm-up."""
    runs = study.runs(folder)
    missing = [a for a in arms if a not in runs]
    if missing:
        raise ReportError(f"{folder}: no runs of {', '.join(missing)}; collect the pool first (the collect command)")
    processes = {
        arm: {int(f.path.stem.split("-")[1]): _process(f, int(f.path.stem.split("-")[1])) for f in runs[arm]}
        for arm in arms
    }
    cycles = max(max(c) for c in processes.values())
    usable = tuple(c for c in range(warmup_cycles + 1, cycles + 1) if all(c in processes[a] for a in arms))
    if len(usable) < least:
        raise ReportError(f"{folder}: {len(usable)} complete cycles after the warm-up; the rules need {least}")
    return Pool(folder, processes, cycles, usable, _process_wall_s(runs), runs[arms[0]][0].provenance)


def _setting(name: str, pool: Pool, default_fit: list[float], rules: Rules) -> Setting:
    processes = pool.processes[name]
    procs = [processes[c] for c in pool.usable]
    fits = [p.medians["fit"] for p in procs]
    later = statistics.median(fits)
    first = processes.get(1)
    return Setting(
        name,
        next(a.label for a in ARMS if a.name == name),
        later,
        {p: spread([q.medians[p] for q in procs]) for p in PATHS if all(p in q.medians for q in procs)},
        None if name == "default" else spearman(default_fit, fits),
        first.medians["fit"] / later if first and rules.warmup_cycles else None,
    )


def analyse(folder: Path, rules: Rules = RULES) -> Calibration:
    """The pool read back under the rules: every setting's spread and correlation with default, and the covariates."""
    pool = read_pool(folder, tuple(a.name for a in ARMS), warmup_cycles=rules.warmup_cycles, least=4)
    default_fit = pool.medians("default", "fit", pool.usable)
    default = [pool.processes["default"][c] for c in pool.usable]
    covariates = {
        "hypervisor steal": spearman([p.steal_share or 0 for p in default], default_fit),
        "NumPy probe at the start": spearman([p.probe_s or 0 for p in default], default_fit),
    }
    settings = tuple(_setting(name, pool, default_fit, rules) for name in rules.settings)
    return Calibration(pool, rules, settings, covariates)


def _process_wall_s(runs: dict) -> float:
    """A process's wall time, start-up included: the median gap between consecutive processes' end times (datetime)."""
    ends = sorted(datetime.datetime.fromisoformat(f.datetime) for found in runs.values() for f in found if f.datetime)
    gaps = [(b - a).total_seconds() for a, b in zip(ends, ends[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


# --- render: the page, from the numbers -----------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _corr(x: float | None) -> str:
    return "" if x is None else f"{x:+.2f}"


def headline(result: Calibration) -> str:
    by = {s.name: s for s in result.settings}
    default = by["default"]
    others = ", ".join(
        f"{s.name} {pct(s.spread['fit'])}" for s in result.settings if s.name not in ("default", "default-b")
    )
    firsts = [s.first_cycle for s in result.settings if s.first_cycle]
    first = (
        f" Cycle 1 ran {min(firsts):.2f}x-{max(firsts):.2f}x the later cycles' median and is discarded."
        if firsts
        else ""
    )
    return (
        f"Between processes of identical code, the fit's spread is {pct(default.spread['fit'])} on TensorFlow's own "
        f"threads (default-b {pct(by['default-b'].spread['fit'])}; {others}), and processes of one cycle correlate "
        f"{_corr(by['default-b'].correlation)} (default against default-b).{first}"
    )


def render(folder: Path, *, command: str) -> str:
    result = analyse(folder)
    pool = result.pool
    rows = [
        [
            s.name,
            s.label,
            f"{s.fit_median_s:.3f}",
            *(pct(s.spread.get(p)) for p in ("fit", "evaluate", "predict")),
            _corr(s.correlation),
            "" if s.first_cycle is None else f"{s.first_cycle:.2f}x",
        ]
        for s in result.settings
    ]
    covariates = [[name, _corr(value)] for name, value in result.covariates.items()]
    lines = [
        "# Calibration: how far processes of identical code spread",
        "",
        headline(result),
        "",
        f"One pool, {len(ARMS)} arms, {pool.cycles} cycles; each cycle ran every arm once, one process at a time, in "
        f"a fresh random order. Cycles {pool.usable[0]}-{pool.usable[-1]} are used ({len(pool.usable)} a "
        "setting; cycle 1 warmed the machine up and is left out, as the rules fixed before the runs say). A process "
        f"timed {pool.rounds_a_process('fit')} fit rounds. Spread: "
        "1.4826 x the MAD of the log process medians (about a standard deviation: 0.05 is 5%). Correlation: "
        "Spearman's, between the setting's and default's fit over the same cycles (a high value is drift the cycles "
        "share, which pairing by cycle cancels).",
        "",
        table(
            rows,
            [
                "setting",
                "what",
                "fit, s a 300-step round",
                "spread fit",
                "spread evaluate",
                "spread predict",
                "correlation in a cycle",
                "cycle 1 / later",
            ],
            label_columns=2,
        ),
        "",
        "Covariates the TensorFlow version cannot change, against default's fit over its processes (Spearman):",
        "",
        table(covariates, ["covariate", "correlation"], label_columns=1),
        "",
        "The answer stays on TensorFlow's own threads: the other settings were not validated against changes of known "
        "size ([clock-validation.md](clock-validation.md) validates the default).",
        "",
    ]
    return "\n".join(lines + provenance(pool.generated_by(command, prog=PROG)))


if __name__ == "__main__":
    sys.exit(main())
