"""Calibrating the clock across processes, and validating the timed-ratio estimator (gate/ratio.py) against slowdowns of
known size, from one interleaved pool of identical code.

    python -m mnist_ref.validation.calibration collect --cycles 16 --out-dir results/calibration
    python -m mnist_ref.validation.calibration collect --cycles 29 --arms default default-b wait1.03 wait1.05 wait1.10 \
        --out-dir results/clock-validation
    python -m mnist_ref.validation.calibration analyse results/calibration --validation results/clock-validation \
        --out results/calibration.md

collect: every arm's timed-guard process (`--bench-measure steps`: the book's batch-32 fit, evaluate and predict on the
CPU, 300 steps a round), one at a time, in rounds (cycles): each cycle runs every arm once, in a fresh random order
(seeded). The arms are one code in several settings, and the same code made slower by a known amount:

- default, default-b: TensorFlow's own threads (two identical arms: the A/A);
- intra2: TF_NUM_INTRAOP_THREADS=2, TF_NUM_INTEROP_THREADS=1; threads1: both 1;
- fitonly: `-k fit --bench-fit-rounds 16` (four times the fit a process measures);
- wait1.03, wait1.05, wait1.10: the default arm with `--bench-inject-wait F`, every step waiting F - 1 times its own
  duration (the wait owed carried from sleep to sleep, so a round is F times as long to within one sleep's overshoot).

The rules, fixed before the runs (RULES below, committed with this file before any process was collected):
- cycle 1 is a warm-up of the machine and is discarded, for every arm;
- per process, each path's median round; the ratio of two arms is gate.ratio.ratio() in its paired form (the two arms'
  processes of one cycle are a pair), exact 95%;
- a ratio "differs" where its interval excludes 1, and is "the same" within +-3% where it lies inside [1/1.03, 1.03];
- each level is judged at each budget (processes a side: 8, `ab`'s 16, the versions study's 20) in COMPARISONS
  comparisons of that many cycles drawn from the usable cycles at random (seeded; the pool allows at most one or two
  disjoint sets, so the draws overlap); truth is 1 for the A/A and F for waitF;
- the spread of a setting is 1.4826 x the MAD of its log process medians (gate.ratio.spread), and its correlation
  within a cycle is Spearman's between that arm's and default's log medians over the usable cycles.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

from mnist_ref.gate import ab
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ConfigError
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
    same_within: float = 0.03
    budgets: tuple[int, ...] = (8, 16, 20)  # processes a side
    comparisons: int = 20
    seed: int = 34
    levels: tuple[tuple[str, str, float], ...] = (
        ("A/A", "default-b", 1.0),
        ("1.03x wait", "wait1.03", 1.03),
        ("1.05x wait", "wait1.05", 1.05),
        ("1.10x wait", "wait1.10", 1.10),
    )
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


def main(argv: list[str] | None = None) -> int:
    parser, sub = study.parser(PROG, cycles=16)
    sub.choices["collect"].add_argument("--arms", nargs="+", default=None, help="the arms to run (default: all)")
    args = parser.parse_args(argv)

    def body() -> None:
        if args.command == "collect":
            collect(args.out_dir, cycles=args.cycles, names=args.arms)
        else:
            import shlex

            from mnist_ref.plumbing import atomic
            from mnist_ref.plumbing.checkout import portable

            command = portable(f"python -m {PROG} " + shlex.join(sys.argv[1:] if argv is None else argv))
            for path in atomic.write_many(pages(args.folder, args.out, command=command)):
                print(f"wrote {path}")

    return study.main("calibration study", body)


# --- analyse: the pool read back into numbers ---------------------------------------------------------------------

PATHS = ("fit", "evaluate", "predict", "predict_one")


@dataclasses.dataclass(frozen=True)
class Process:
    """One process of the pool: its cycle, each path's median round (seconds), and its machine covariates."""

    cycle: int
    medians: dict[str, float]
    steal_share: float | None
    probe_s: float | None
    wall_s: float | None


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
class Level:
    """One known truth judged in repeated comparisons of PER_ARM cycles, and once on the whole pool."""

    name: str
    arm: str
    truth: float
    path: str
    ratios: tuple  # gate.ratio.Ratio of each comparison
    whole: object  # gate.ratio.Ratio on every usable cycle

    @property
    def coverage(self) -> float:
        return sum(r.low <= self.truth <= r.high for r in self.ratios) / len(self.ratios)

    @property
    def different(self) -> float:
        return sum(r.low > 1 or r.high < 1 for r in self.ratios) / len(self.ratios)

    @property
    def median_half_width(self) -> float:
        return statistics.median(r.half_width for r in self.ratios)


@dataclasses.dataclass(frozen=True)
class Calibration:
    folder: Path
    rules: Rules
    cycles: int
    usable: tuple[int, ...]
    settings: tuple[Setting, ...]
    levels: tuple[Level, ...]
    process_wall_s: float
    covariates: dict[str, float | None]  # name -> Spearman with default's fit over its processes
    environment: object  # store.provenance.Provenance of the pool


def _process(f, cycle: int) -> Process:
    medians = {m.path: m.median for m in f.measured if not m.key.floor}
    record = f.session.contention
    return Process(cycle, medians, record.get("steal_share"), record.get("probe_start_s"), record.get("wall_s"))


def _spearman(x, y) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 4 or len(set(x)) < 2 or len(set(y)) < 2:
        return None  # too few, or a constant side: no correlation is defined
    return float(spearmanr(x, y).statistic)


def read_pool(folder: Path) -> dict[str, dict[int, Process]]:
    """arm -> cycle -> its process."""
    runs = study.runs(folder)
    return {
        arm: {int(f.path.stem.split("-")[1]): _process(f, int(f.path.stem.split("-")[1])) for f in found}
        for arm, found in runs.items()
    }


def _setting(
    name: str, processes: dict[int, Process], usable: tuple[int, ...], default_fit: list[float], rules: Rules
) -> Setting:
    from mnist_ref.gate.ratio import spread

    procs = [processes[c] for c in usable]
    fits = [p.medians["fit"] for p in procs]
    later = statistics.median(fits)
    first = processes.get(1)
    return Setting(
        name,
        next(a.label for a in ARMS if a.name == name),
        later,
        {p: spread([q.medians[p] for q in procs]) for p in PATHS if all(p in q.medians for q in procs)},
        None if name == "default" else _spearman(default_fit, fits),
        first.medians["fit"] / later if first and rules.warmup_cycles else None,
    )


def analyse(folder: Path, rules: Rules = RULES) -> Calibration:
    """The pool read back under the rules: every setting's spread and correlation, every level's comparisons."""
    import random

    from mnist_ref.gate.ratio import ratio
    from mnist_ref.plumbing.errors import ReportError

    pool = read_pool(folder)
    missing = [a.name for a in ARMS if a.name not in pool]
    if missing:
        raise ReportError(f"{folder}: no runs of {', '.join(missing)}; collect the pool first (the collect command)")
    cycles = max(max(c) for c in pool.values())
    usable = tuple(c for c in range(rules.warmup_cycles + 1, cycles + 1) if all(c in pool[a.name] for a in ARMS))
    if len(usable) < rules.per_arm:
        raise ReportError(f"{folder}: {len(usable)} complete cycles after the warm-up; the rules need {rules.per_arm}")
    default_fit = [pool["default"][c].medians["fit"] for c in usable]
    settings = [_setting(name, pool[name], usable, default_fit, rules) for name in rules.settings]
    rng = random.Random(rules.seed)
    draws = [sorted(rng.sample(usable, rules.per_arm)) for _ in range(rules.comparisons)]
    levels = []
    for name, arm, truth in rules.levels:
        for path in ("fit", "evaluate", "predict"):

            def pair(chosen, path=path, arm=arm):
                return (
                    [pool["default"][c].medians[path] for c in chosen],
                    [pool[arm][c].medians[path] for c in chosen],
                )

            levels.append(
                Level(
                    name,
                    arm,
                    truth,
                    path,
                    tuple(ratio(*pair(d), paired=True) for d in draws),
                    ratio(*pair(usable), paired=True),
                )
            )
    default = [pool["default"][c] for c in usable]
    covariates = {
        "hypervisor steal": _spearman([p.steal_share or 0 for p in default], default_fit),
        "NumPy probe at the start": _spearman([p.probe_s or 0 for p in default], default_fit),
    }
    runs = study.runs(folder)
    return Calibration(
        folder,
        rules,
        cycles,
        usable,
        tuple(settings),
        tuple(levels),
        _process_wall_s(runs),
        covariates,
        runs["default"][0].provenance,
    )


def _process_wall_s(runs: dict) -> float:
    """A process's wall time, start-up included: the median gap between consecutive processes' end times (datetime)."""
    import datetime

    ends = sorted(datetime.datetime.fromisoformat(f.datetime) for found in runs.values() for f in found if f.datetime)
    gaps = [(b - a).total_seconds() for a, b in zip(ends, ends[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


# --- render: the two pages, from the numbers ------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _corr(x: float | None) -> str:
    return "" if x is None else f"{x:+.2f}"


def fit_levels(result: Calibration) -> list[Level]:
    return [lv for lv in result.levels if lv.path == "fit"]


def calibration_headline(result: Calibration) -> str:
    by = {s.name: s for s in result.settings}
    default = by["default"]
    others = ", ".join(
        f"{s.name} {_pct(s.spread['fit'])}" for s in result.settings if s.name not in ("default", "default-b")
    )
    firsts = [s.first_cycle for s in result.settings if s.first_cycle]
    first = (
        f" Cycle 1 ran {min(firsts):.2f}x-{max(firsts):.2f}x the later cycles' median and is discarded."
        if firsts
        else ""
    )
    return (
        f"Between processes of identical code, the fit's spread is {_pct(default.spread['fit'])} on TensorFlow's own "
        f"threads (default-b {_pct(by['default-b'].spread['fit'])}; {others}), and processes of one cycle correlate "
        f"{_corr(by['default-b'].correlation)} (default against default-b).{first}"
    )


def render_calibration(result: Calibration, *, command: str) -> str:
    from mnist_ref.reporting.tables import provenance, table

    rows = [
        [
            s.name,
            s.label,
            f"{s.fit_median_s:.3f}",
            *(_pct(s.spread.get(p)) for p in ("fit", "evaluate", "predict")),
            _corr(s.correlation),
            "" if s.first_cycle is None else f"{s.first_cycle:.2f}x",
        ]
        for s in result.settings
    ]
    covariates = [[name, _corr(value)] for name, value in result.covariates.items()]
    lines = [
        "# Calibration: how far processes of identical code spread",
        "",
        calibration_headline(result),
        "",
        f"One pool, {len(ARMS)} arms, {result.cycles} cycles; each cycle ran every arm once, one process at a time, in "
        f"a fresh random order. Cycles {result.usable[0]}-{result.usable[-1]} are used ({len(result.usable)} a "
        "setting; cycle 1 warmed the machine up and is left out, as the rules fixed before the runs say). Spread: "
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
    return "\n".join(
        lines
        + provenance(
            f"Generated by `{command}` from the bench JSON under `{result.folder.name}/` (collected with `python -m "
            f"{PROG} collect`). Machine: {result.environment.machine}; Python {result.environment.python}."
        )
    )


def validation_headline(result: Calibration) -> str:
    fits = fit_levels(result)
    aa = next(lv for lv in fits if lv.truth == 1.0)
    known = [lv for lv in fits if lv.truth != 1.0]
    minutes = 2 * result.rules.per_arm * result.process_wall_s / 60
    return (
        f"At {result.rules.per_arm} processes a side, paired by cycle (about {minutes:.0f} minutes of machine), the "
        "fit's 95% interval held the truth in "
        f"{min(lv.coverage for lv in fits):.0%}-{max(lv.coverage for lv in fits):.0%} of {result.rules.comparisons} "
        f"comparisons per level, called the A/A different in {aa.different:.0%}, and was "
        f"+-{100 * statistics.median([lv.median_half_width for lv in fits]):.1f}% wide (median); it called "
        + ", ".join(f"the {lv.name} different in {lv.different:.0%}" for lv in known)
        + "."
    )


def render_validation(result: Calibration, *, command: str) -> str:
    from mnist_ref.reporting.tables import provenance, table

    same = result.rules.same_within
    rows = [
        [
            lv.name,
            lv.path,
            f"{lv.truth:.2f}",
            f"{lv.coverage:.0%}",
            f"{lv.different:.0%}",
            f"+-{100 * lv.median_half_width:.1f}%",
            lv.whole.cell(),
            lv.whole.sentence(same).split(" (")[0],
        ]
        for lv in result.levels
    ]
    lines = [
        "# Validation: the timed ratio against slowdowns of known size",
        "",
        validation_headline(result),
        "",
        "The estimator (`mnist_ref/gate/ratio.py`): per process the median round of each path; the ratio of two arms "
        "is the Hodges-Lehmann estimate of the shift in log medians, with its exact distribution-free 95% interval, "
        "in the paired (Wilcoxon signed-rank) form, the two arms' processes of one cycle being a pair. The truth: 1 "
        "for two identical arms (A/A); F for an arm whose every step waits F - 1 times its own duration "
        "(`--bench-inject-wait F`, exact over a round to within one sleep's overshoot). Each level was judged in "
        f"{result.rules.comparisons} comparisons of {result.rules.per_arm} cycles drawn at random from the "
        f"{len(result.usable)} usable ones (seed {result.rules.seed}; the pool holds one disjoint set, so the draws "
        f"overlap), and once on all {len(result.usable)}. 'Different': the interval excludes 1; 'the same': it lies "
        f"within +-{100 * same:.0f}%. Rules fixed before the runs (`mnist_ref/validation/calibration.py`).",
        "",
        table(
            rows,
            [
                "level",
                "path",
                "truth",
                "interval held the truth",
                "called different",
                "median half-width",
                f"all {len(result.usable)} cycles",
                "answer",
            ],
            label_columns=2,
        ),
        "",
        f"A process takes about {result.process_wall_s:.0f} s here, start-up included.",
        "",
    ]
    return "\n".join(
        lines
        + provenance(
            f"Generated by `{command}` from the bench JSON under `{result.folder.name}/` (collected with `python -m "
            f"{PROG} collect`). Machine: {result.environment.machine}; Python {result.environment.python}."
        )
    )


def pages(folder: Path, out: Path, *, command: str) -> dict[Path, bytes]:
    """calibration.md at out and clock-validation.md beside it, with the index."""
    from mnist_ref.plumbing import atomic
    from mnist_ref.reporting import index

    validation_out = out.parent / "clock-validation.md"
    index.with_index([(out, b""), (validation_out, b"")])
    result = analyse(folder)
    return index.with_index(
        [
            (out, atomic.encode(render_calibration(result, command=command))),
            (validation_out, atomic.encode(render_validation(result, command=command))),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
