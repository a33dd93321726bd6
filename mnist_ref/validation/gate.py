"""Proof that the regression gate works: real bench runs, interleaved, judged by `mnist-ref compare`.

    python -m mnist_ref.validation.gate collect --cycles 6 --out-dir results/gate-validation
    python -m mnist_ref.validation.gate analyse results/gate-validation --out results/gate-validation.md

Arms, one bench process each per cycle, in this order: two identical ones (A/A), two really slowed down
(every timed Keras call sleeps (factor - 1) times its own duration inside the timed region, so the process
takes that much longer), and one pinned to a single core with taskset (another machine, in effect).
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from pathlib import Path

from mnist_ref.gate import ab, compare
from mnist_ref.measure.speed_of_light import CALIBRATION_SIZE
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.reporting.tables import fmt, provenance, table
from mnist_ref.store.files import PATHS, BenchFile
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import study

PROG = "mnist_ref.validation.gate"
BENCH_ARGS = ("--bench-smoke", "--bench-modes", "book", "--bench-devices", "cpu")
SLOWDOWNS = {"slow2x": 2.0, "slow1.4x": 1.4}
PINNED = "onecore"


def arms(python: str, root: Path) -> list[ab.Arm]:
    """The five arms of the validation run."""
    return [
        ab.Arm("same1", python, root, BENCH_ARGS),
        ab.Arm("same2", python, root, BENCH_ARGS),
        *(ab.Arm(name, python, root, (*BENCH_ARGS, f"--bench-inject-slowdown={f}")) for name, f in SLOWDOWNS.items()),
        ab.Arm(PINNED, python, root, BENCH_ARGS, prefix=("taskset", "-c", "0")),
    ]


def _verdict(result: compare.Result) -> str:
    if result.correctness_failed:
        return "correctness"
    if result.slower:
        return "slower"
    return "noisy" if any(v.verdict is compare.Verdict.NOISY for v in result.paths) else "no change"


def _fit_ratio(result: compare.Result) -> float:
    return next(v.ratio for v in result.paths if v.path == "fit")


def pairs(n_base: int, n_new: int, *, adjacent_too: bool) -> list[tuple[int, int]]:
    """(base index, new index) pairs from the same cycle, and for A/A also new[i] against base[i + 1]."""
    same_cycle = [(i, i) for i in range(min(n_base, n_new))]
    later = [(i + 1, i) for i in range(min(n_base - 1, n_new))] if adjacent_too else []
    return same_cycle + later


def judge_pairs(base: list[BenchFile], new: list[BenchFile], *, adjacent_too: bool = False) -> list[compare.Result]:
    """One two-file comparison per pair of processes."""
    policy = compare.Policy(table=compare.SAME_MACHINE_THRESHOLDS)
    return [
        compare.compare([base[i]], [new[j]], policy) for i, j in pairs(len(base), len(new), adjacent_too=adjacent_too)
    ]


def judge_windows(base: list[BenchFile], new: list[BenchFile], *, width: int) -> list[compare.Result]:
    """Interleaved comparisons: rounds of `width` consecutive cycles pooled per side, tight threshold."""
    n = min(len(base), len(new))
    # The threshold rule this study validated (the clock of one session is now judged by gate/ratio.py's estimator,
    # validated in results/clock-validation.md); the page stays as measured.
    policy = compare.Policy(table=compare.INTERLEAVED_THRESHOLDS, clock_estimator=False)
    return [compare.compare(base[s : s + width], new[s : s + width], policy) for s in range(0, n - width + 1)]


def _tally(j: Judged) -> study.Tally:
    return study.Tally.of(j.name, [_verdict(r) for r in j.results], j.expect)


def _count_row(label: str, results: list[compare.Result], *, expect: str) -> list[str]:
    verdicts = [_verdict(r) for r in results]
    ratios = sorted(_fit_ratio(r) for r in results)
    counts = ", ".join(f"{v} {verdicts.count(v)}" for v in dict.fromkeys(verdicts))
    return [
        label,
        str(len(results)),
        study.Tally.of(label, verdicts, expect).fraction,
        counts,
        f"{fmt(ratios[0], 'x')} - {fmt(ratios[-1], 'x')}" if ratios else "",
    ]


def _per_path_row(label: str, results: list[compare.Result], *, expect: str) -> list[str]:
    """How often each hot path alone gave the expected verdict."""
    cells = []
    for path in PATHS:
        verdicts = [v.verdict for r in results for v in r.paths if v.path == path]
        cells.append(f"{sum(v == expect for v in verdicts)}/{len(verdicts)}")
    return [label, *cells]


@dataclasses.dataclass(frozen=True)
class Judged:
    """One question of the study: its comparisons and the verdict each should give."""

    name: str  # the arm ("A/A", "slow1.4")
    results: list[compare.Result]
    expect: str
    width: int | None = None  # processes a side of an interleaved window; None: separate runs

    @property
    def label(self) -> str:
        return self.name if self.width is None else f"{self.name}, {self.width} process(es) a side"


@dataclasses.dataclass(frozen=True)
class Pinned:
    """A one-core process against a two-core one: the gate's result and how much the matmul calibration fell."""

    result: compare.Result
    calibration: float


@dataclasses.dataclass(frozen=True)
class GateStudy:
    """What the collected runs say, before any of it is written: the environment, how long the collection took,
    the separate-run pairs, the interleaved windows and the pinned comparisons."""

    folder: Path
    env: Provenance
    cycles: int
    minutes: float
    pairs: list[Judged]
    windows: list[Judged]
    pinned: list[Pinned]
    processes: int = 0
    started: str = ""  # the first process' date, YYYY-MM-DD


@dataclasses.dataclass(frozen=True)
class Contrast:
    """What other pages quote of this study: its size and date, how far unchanged code moved between two processes
    (the fit), what two separate runs caught of each slowdown, and the fewest processes a side that kept every
    interleaved A/A window clean (None: no width did)."""

    processes: int
    started: str
    widest_aa: float
    caught: list[study.Tally]
    clean_width: int | None


def contrast(result: GateStudy) -> Contrast:
    aa = next(j for j in result.pairs if j.name == "A/A")
    ratios = [_fit_ratio(r) for r in aa.results]
    clean = [j.width for j in result.windows if j.name == "A/A" and _tally(j).hits == _tally(j).total]
    return Contrast(
        result.processes,
        result.started,
        max(max(r, 1 / r) for r in ratios),
        [_tally(j) for j in result.pairs if j.name != "A/A"],
        min(clean) if clean else None,
    )


def analyse(folder: Path) -> GateStudy:
    """Every comparison of a collected folder through `mnist-ref compare`'s own code."""
    arm_runs = study.runs(folder)
    same1, same2 = arm_runs["same1"], arm_runs["same2"]
    judged = [Judged("A/A", judge_pairs(same1, same2, adjacent_too=True), "no change")]
    judged += [
        Judged(name, judge_pairs(same1, arm_runs[name]) + judge_pairs(same2, arm_runs[name]), "slower")
        for name in SLOWDOWNS
    ]
    windows = []
    for width in (1, 2, 3, 4):
        windows.append(Judged("A/A", judge_windows(same1, same2, width=width), "no change", width))
        windows += [
            Judged(name, judge_windows(same1, arm_runs[name], width=width), "slower", width) for name in SLOWDOWNS
        ]
    pinned = []
    for a, b in zip(same1, arm_runs[PINNED], strict=False):
        fa = next(m for m in a.measured if m.path == "fit").info
        fb = next(m for m in b.measured if m.path == "fit").info
        pinned.append(Pinned(compare.compare([a], [b]), fa.matmul_flops_per_s / fb.matmul_flops_per_s))
    stamps = sorted(f.datetime for files in arm_runs.values() for f in files)
    minutes = (
        datetime.datetime.fromisoformat(stamps[-1]) - datetime.datetime.fromisoformat(stamps[0])
    ).total_seconds() / 60
    processes = sum(len(files) for files in arm_runs.values())
    return GateStudy(
        folder,
        same1[0].provenance,
        len(same1),
        minutes,
        judged,
        windows,
        pinned,
        processes,
        stamps[0][:10],
    )


def _pinned_rows(pinned: list[Pinned]) -> list[list[str]]:
    rows = []
    for i, p in enumerate(pinned):
        raw = _fit_ratio(p.result)
        rows.append(
            [
                str(i + 1),
                fmt(raw, "x"),
                fmt(p.calibration, "x"),
                fmt(raw / p.calibration, "x"),
                p.result.comparison.label,
                _verdict(p.result),
                p.result.perf_policy,
            ]
        )
    return rows


def _describe(thresholds: dict[str, float]) -> str:
    return ", ".join(f"{path} {fmt(value, 'x')}" for path, value in thresholds.items())


def render(folder: Path, *, command: str) -> str:
    """results/gate-validation.md from a collected folder: analyse, then page."""
    return page(analyse(folder), command=command)


def page(result: GateStudy, *, command: str) -> str:
    """The study's page: a headline, the separate-run pairs, the interleaved windows, the pinned comparisons."""
    folder, env, minutes = result.folder, result.env, result.minutes
    rows = [_count_row(j.label, j.results, expect=j.expect) for j in result.pairs]
    path_rows = [_per_path_row(j.label, j.results, expect=j.expect) for j in result.pairs]
    window_rows = [_count_row(j.label, j.results, expect=j.expect) for j in result.windows]
    four = [_tally(j) for j in result.windows if j.width == 4]
    return "\n".join(
        [
            '# Does the regression gate tell "worse" from noise?',
            "",
            f"**Seconds, two separate runs: {study.verdict_summary([_tally(j) for j in result.pairs])}; interleaved, 4 "
            f"processes a side: {study.verdict_summary(four)}.**",
            "",
            "Each process is the smoke bench in book mode on the CPU "
            "(batch 32: 4 timed fit epochs, 5 evaluate and 5 predict rounds over the test set, 30 one-image predicts).",
            "",
            f"Arms, interleaved one process each per cycle ({result.cycles} cycles): `same1` and `same2` identical; "
            + ", ".join(
                f"`{n}` every timed Keras call really slowed {f}x (it sleeps (factor - 1) times its own "
                "duration inside the timed region)"
                for n, f in SLOWDOWNS.items()
            )
            + f"; `{PINNED}` the same bench under `taskset -c 0` (one core of two).",
            "",
            "The gate's thresholds (`mnist_ref/gate/compare.py`) were chosen from these A/A runs: the largest "
            "ratio unchanged code showed, plus a margin. The A/A counts below are therefore a fit, not an independent "
            "test; the checks made after the thresholds were fixed are under `independent/` and in the README "
            "(Regression checks).",
            "",
            "## Two separate runs (`mnist-ref compare BASE.json NEW.json`)",
            "",
            "Each comparison is one process against another; the gate sees the same machine kind and uses its "
            f"thresholds for separate runs ({_describe(compare.SAME_MACHINE_THRESHOLDS)}) with the one-sided "
            f"Mann-Whitney test at alpha {compare.ALPHA}. A/A pairs: the two identical processes of a cycle, and the "
            "second against the next cycle's first. Slowed pairs: each slowed process against both identical "
            "processes of its cycle. 'expected' counts 'no change' for A/A and 'slower' for the slowed arms. A "
            "comparison is 'slower' when any path is; fit ratios shown.",
            "",
            table(
                rows,
                ["comparison", "n", "expected verdict", "verdicts", "fit ratio new/base (min - max)"],
                label_columns=1,
            ),
            "",
            "Per hot path, how often that path alone gave the expected verdict:",
            "",
            table(path_rows, ["comparison", *PATHS], label_columns=1),
            "",
            "## Interleaved runs (what `mnist-ref ab` does)",
            "",
            "The rounds of k consecutive cycles pooled per side (sliding windows, so windows overlap), judged with "
            f"the interleaved thresholds ({_describe(compare.INTERLEAVED_THRESHOLDS)}); from 4 processes a side the "
            "test compares per-process medians, below that the rounds.",
            "",
            table(
                window_rows,
                ["comparison", "n", "expected verdict", "verdicts", "fit ratio new/base (min - max)"],
                label_columns=1,
            ),
            "",
            "## Another machine: one core against two",
            "",
            "Each pinned process against the first identical process of its cycle. Raw: the fit time ratio. "
            f"Calibration: how much the {CALIBRATION_SIZE}x{CALIBRATION_SIZE} matmul throughput fell. Normalised: raw "
            "over calibration, the correction a matmul-based normalisation would apply (1.00x would mean it explains "
            "the slowdown).",
            "",
            table(
                _pinned_rows(result.pinned),
                ["cycle", "raw fit ratio", "matmul calibration ratio", "normalised", "gate saw", "verdict", "policy"],
                label_columns=1,
            ),
            "",
            *provenance(
                f"Generated by `{command}` from the bench JSON under `{folder.name}/` (one folder per arm), collected "
                f"with `python -m mnist_ref.validation.gate collect --cycles {result.cycles} --out-dir "
                f"results/{folder.name}` ({minutes:.0f} minutes from the first session to the last, the arms in the "
                f"same order every cycle). Machine: {env.machine}; Python "
                f"{env.python}, Keras {env.keras}, {env.backend} {env.backend_version}."
            ),
        ]
    )


def collect(out_dir: Path, *, cycles: int) -> None:
    ab.run_interleaved(
        arms(sys.executable, CHECKOUT), repeats=cycles, out_dir=out_dir, session="gate-validation", alternate=False
    )


def main(argv: list[str] | None = None) -> int:
    """collect: run the arms; analyse: write the markdown."""
    return study.main(
        PROG,
        "gate validation",
        argv,
        cycles=6,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles),
        pages=study.one_page(render),
    )


if __name__ == "__main__":
    sys.exit(main())
