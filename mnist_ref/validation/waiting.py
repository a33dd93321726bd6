"""Does the timed guard (wall over CPU seconds a round) see a step that waits, without false alarms?

    python -m mnist_ref.validation.waiting collect --cycles 13 --out-dir results/waiting-validation
    python -m mnist_ref.validation.waiting analyse results/waiting-validation --out results/waiting-validation.md

collect: timed-guard bench processes (`--bench-measure steps`: the book's batch-32 fit and the NumPy floor, 300 steps
a round, all cores), one at a time, per cycle two unchanged ones (same1, same2) and one per level, the order reversed
every other cycle: wait1.2 and wait1.5 sleep 0.2 and 0.5 times each batch's own duration at its end
(`--bench-inject-wait`: every step really takes longer and does no more CPU work); work0.125 puts 0.125 extra products
into every step (`--bench-inject-work`: real CPU work, about 5% of the step's time, results/steady-validation.md).
analyse: sliding windows of 4 consecutive cycles, 4 processes a side as `mnist-ref ab` runs its guard: A/A same1
against same2, a level against same1, every comparison through `mnist-ref compare`'s own code with
WAITING_THRESHOLDS (mnist_ref/gate/compare.py), fixed and committed before the runs were collected. The expected
verdicts: no change for A/A and for the extra work (a count catches work; wall over CPU must not move with it),
slower for both waits. The clock's verdicts on the same windows are shown beside, and the floor (which no
injection touches) is the control.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

from mnist_ref.gate import ab, compare
from mnist_ref.gate.compare import Quantity, Verdict
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.store import rounds
from mnist_ref.store.files import BenchFile
from mnist_ref.store.measures import Measure
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import steady, study

PROG = "mnist_ref.validation.waiting"
BENCH_ARGS = ab.bench_args(measure=Measure.STEPS)
SAME = ("same1", "same2")
LEVELS = {
    "wait1.2": ("--bench-inject-wait", "1.2"),
    "wait1.5": ("--bench-inject-wait", "1.5"),
    "work0.125": ("--bench-inject-work", "0.125"),
}
# What each comparison should say on wall over CPU: waiting is slower; work and A/A are not (the count sees work).
EXPECTED = {
    "A/A": Verdict.NO_CHANGE,
    "wait1.2": Verdict.SLOWER,
    "wait1.5": Verdict.SLOWER,
    "work0.125": Verdict.NO_CHANGE,
}
PER_SIDE = ab.GUARD_REPEATS


def arms(python: str, root: Path) -> list[ab.Arm]:
    return [ab.Arm(name, python, root, BENCH_ARGS) for name in SAME] + [
        ab.Arm(name, python, root, (*BENCH_ARGS, *args)) for name, args in LEVELS.items()
    ]


def _judge(base: list[BenchFile], new: list[BenchFile]) -> compare.Result:
    # The clock beside the guard as judged when this study was made (before gate/ratio.py's estimator): kept as
    # measured.
    return compare.compare(base, new, compare.Policy(only_common=True, clock_estimator=False))


def verdict(result: compare.Result, quantity: Quantity, *, floor: bool = False) -> compare.PathVerdict | None:
    """The fit's verdict in one quantity (the book's, or the floor's), None where it was not judged."""
    return next((v for v in result.paths if v.path == "fit" and v.key.floor == floor and v.quantity is quantity), None)


def comparisons(all_runs: dict[str, list[BenchFile]], *, per_side: int = PER_SIDE) -> dict[str, list[compare.Result]]:
    """arm -> results over sliding windows of per_side consecutive cycles: A/A same1 against same2, a level against
    same1. Windows overlap, so n counts comparisons, not independent samples."""
    same1, same2 = all_runs.get("same1", []), all_runs.get("same2", [])
    n = min(len(same1), len(same2))
    windows = [range(i, i + per_side) for i in range(0, n - per_side + 1)]
    out = {"A/A": [_judge([same1[j] for j in w], [same2[j] for j in w]) for w in windows]}
    for arm, files in all_runs.items():
        if arm not in SAME:
            out[arm] = [_judge([same1[j] for j in w], [files[j] for j in w]) for w in windows if w[-1] < len(files)]
    return out


@dataclasses.dataclass(frozen=True)
class WaitingStudy:
    """What the collected runs say: each arm's medians (step seconds, CPU seconds a step, wall over CPU), every window's
    verdicts, the processes the contention check flagged, and the same windows judged as if none had been flagged."""

    folder: Path
    env: Provenance
    processes: dict[str, int]
    step_s: dict[str, float]  # arm -> median over processes of the median round's seconds a step
    cpu_step_s: dict[str, float]  # arm -> median over processes of CPU seconds a step
    waiting: dict[str, float]  # arm -> median over processes of the median round's wall over CPU
    comparisons: dict[str, list[compare.Result]]
    flagged: list[str]  # "arm run N: reasons" for every process the contention check flagged
    unflagged: dict[str, list[compare.Result]]  # the same windows, every contention flag removed (information only)


def _fit(f: BenchFile):
    return next(m for m in f.measured if m.path == "fit" and not m.key.floor)


def _without_flag(f: BenchFile) -> BenchFile:
    return dataclasses.replace(f, meta={**f.meta, "contention": None})


def analyse(folder: Path) -> WaitingStudy:
    all_runs = study.runs(folder)
    if not all(name in all_runs for name in SAME):
        raise MnistRefError(f"{folder}: no same1/ and same2/ runs; collect them first")
    step, cpu, waiting = {}, {}, {}
    for arm, files in all_runs.items():
        fits = [_fit(f) for f in files]
        step[arm] = statistics.median(rounds.median(m.rounds) / m.info.steps_per_round for m in fits)
        cpu[arm] = statistics.median(m.info.cpu_per_step_s for m in fits)
        waiting[arm] = statistics.median(rounds.median(m.waiting) for m in fits)
    flagged = [
        f"{arm} run {i}: {f.session.contention.describe()}"
        for arm, files in all_runs.items()
        for i, f in enumerate(files, start=1)
        if f.session.contention.contended
    ]
    unflagged = {arm: [_without_flag(f) for f in files] for arm, files in all_runs.items()}
    return WaitingStudy(
        folder,
        all_runs["same1"][0].provenance,
        {a: len(f) for a, f in all_runs.items()},
        step,
        cpu,
        waiting,
        comparisons(all_runs),
        flagged,
        comparisons(unflagged),
    )


def _ratios(
    results: list[compare.Result], quantity: Quantity, *, floor: bool = False
) -> tuple[list[Verdict], list[float]]:
    judged = [v for v in (verdict(r, quantity, floor=floor) for r in results) if v is not None]
    return [v.verdict for v in judged], [v.ratio for v in judged]


def _tally(arm: str, results: list[compare.Result]) -> study.Tally:
    """The windows judged (not flagged as contended) that gave the arm's expected wall-over-CPU verdict."""
    return study.Tally.of(arm, _ratios(results, Quantity.WAITING)[0], EXPECTED[arm])


def _counts(verdicts: list[Verdict]) -> str:
    return ", ".join(f"{v} {verdicts.count(v)}" for v in dict.fromkeys(sorted(verdicts))) or "none judged"


def _range(ratios: list[float]) -> str:
    return f"{min(ratios):.3f}x - {max(ratios):.3f}x" if ratios else ""


def rows(result: WaitingStudy) -> list[list[str]]:
    """One row per comparison: true size on the clock and in CPU, windows judged, the expected verdict on wall over CPU
    among them, their ratios, and the floor's wall-over-CPU verdicts (the control)."""
    unchanged = statistics.median([result.step_s[a] for a in SAME])
    unchanged_cpu = statistics.median([result.cpu_step_s[a] for a in SAME])
    out = []
    for arm, results in result.comparisons.items():
        if not results:
            continue
        size = 1.0 if arm == "A/A" else result.step_s[arm] / unchanged
        cpu = 1.0 if arm == "A/A" else result.cpu_step_s[arm] / unchanged_cpu
        waits, wait_ratios = _ratios(results, Quantity.WAITING)
        floors, _ = _ratios(results, Quantity.WAITING, floor=True)
        t = study.Tally.of(arm, waits, EXPECTED[arm])  # as _tally, from the verdicts at hand
        out.append(
            [
                arm,
                f"{size:.3f}x",
                f"{cpu:.3f}x",
                f"{len(waits)}/{len(results)}",
                f"{t.fraction} {t.expect}",
                _range(wait_ratios),
                f"{floors.count(Verdict.NO_CHANGE)}/{len(floors)}",
            ]
        )
    return out


HEADERS = [
    "comparison",
    "step seconds / unchanged",
    "CPU a step / unchanged",
    "windows judged",
    "expected (wall/CPU)",
    "wall/CPU ratio",
    "floor no change",
]


def clock_rows(comparisons: dict[str, list[compare.Result]]) -> list[list[str]]:
    """The clock's verdicts on the same windows (shown within one stack, not deciding)."""
    out = []
    for arm, results in comparisons.items():
        clocks, ratios = _ratios(results, Quantity.SECONDS)
        out.append([arm, _counts(clocks), _range(ratios)])
    return out


def unflagged_rows(comparisons: dict[str, list[compare.Result]]) -> list[list[str]]:
    """Every window judged as if no process had been flagged as contended (information, not the gate's rule)."""
    out = []
    for arm, results in comparisons.items():
        waits, ratios = _ratios(results, Quantity.WAITING)
        out.append(
            [
                arm,
                str(len(results)),
                f"{waits.count(EXPECTED[arm])}/{len(waits)} {EXPECTED[arm]}",
                _counts(waits),
                _range(ratios),
            ]
        )
    return out


WORK = "work0.125"  # the extra-work arm both this study and the steady one run


def render(folder: Path, *, command: str) -> str:
    """The page from a collected folder, quoting the count's verdicts on the same extra work from the steady study
    beside it (results/steady-validation/), where there is one."""
    counted = folder.parent / "steady-validation"
    work = steady.tally(steady.analyse(counted), WORK) if (counted / WORK).is_dir() else None
    return page(analyse(folder), command=command, work_counted=work)


def page(result: WaitingStudy, *, command: str, work_counted: study.Tally | None = None) -> str:
    table_rows = rows(result)
    tallies = [_tally(arm, results) for arm, results in result.comparisons.items() if results]
    headline = study.verdict_summary(tallies)
    windows = sum(len(results) for results in result.comparisons.values())
    not_judged = windows - sum(t.total for t in tallies)
    arm_rows = [
        [
            arm,
            str(result.processes[arm]),
            f"{result.step_s[arm] * 1e3:.3f}",
            f"{result.cpu_step_s[arm] * 1e3:.3f}",
            f"{result.waiting[arm]:.3f}",
        ]
        for arm in result.step_s
    ]
    env = result.env
    lines = [
        "# Does the timed guard see a step that waits?",
        "",
        f"**Wall over CPU seconds, {PER_SIDE} interleaved processes a side, the book's fit, in the windows judged: "
        f"{headline}"
        + (
            f" ({not_judged} of {windows} windows not judged: a process in them was flagged as contended)"
            if not_judged
            else ""
        )
        + ".**",
        "",
        "An instruction count sees work, not waiting: a step that sleeps, takes a lock or waits for another thread "
        "executes about as many instructions and takes longer. `mnist-ref ab` therefore follows its counts with a "
        f"timed guard: {PER_SIDE} short processes a side, one at a time, interleaved (`--bench-measure steps`: 300 "
        "steps a round, all cores, each round's wall and CPU seconds). Within one stack the guard judges wall over "
        "CPU seconds a round, which a wait raises and more work leaves alone (the count judges work); across stacks "
        "its clock decides.",
        "",
        "Each process is `pytest bench --benchmark-only "
        + " ".join(BENCH_ARGS)
        + "`; arms per cycle, one process at a time, the order reversed every other cycle: `same1`, `same2` "
        "unchanged; `wait1.2`, `wait1.5` sleeping 0.2 and 0.5 times each batch's own duration at its end "
        "(`--bench-inject-wait`: no more CPU work); `work0.125` with 0.125 extra products in every step "
        "(`--bench-inject-work`: about 5% more time, caught by the count in "
        "[steady-validation.md](steady-validation.md)" + (f", {work_counted.fraction})." if work_counted else ")."),
        "",
        "The rules were fixed in code (`WAITING_THRESHOLDS` in mnist_ref/gate/compare.py, "
        + ", ".join(f"{p} {t:g}x" for p, t in compare.WAITING_THRESHOLDS.items())
        + ", with the one-sided Mann-Whitney test at alpha 0.05 on per-process medians, and the gate's contention "
        "rule: a window holding a contended process is not judged) and committed before these runs were collected.",
        "",
        "## Verdicts",
        "",
        f"Sliding windows of {PER_SIDE} consecutive cycles, {PER_SIDE} processes a side (what `mnist-ref ab` runs): "
        "A/A same1 against same2, a level against same1. Windows overlap, so n counts comparisons, not independent "
        "samples. 'step seconds / unchanged' is each arm's true size on the clock (median over its processes of the "
        "median round, over the unchanged arms'); 'windows judged': those without a process the contention check "
        'flagged (the gate judges none of those: `mnist-ref ab` says "cannot judge", exit 2 under `--perf fail`); '
        "'floor no change': the NumPy floor's wall-over-CPU verdicts that said no change (no injection touches it).",
        "",
        table(table_rows, HEADERS, label_columns=1),
        "",
        "Processes the contention check flagged: " + ("; ".join(result.flagged) or "none") + ".",
        "",
        "The clock on the same windows (shown beside wall over CPU within one stack, not deciding):",
        "",
        table(clock_rows(result.comparisons), ["comparison", "clock verdicts", "clock ratio"], label_columns=1),
        "",
        "For information, not the gate's rule: every window judged as if no process had been flagged "
        "(hypervisor steal moves wall and not CPU, so it moves wall over CPU by its share):",
        "",
        table(
            unflagged_rows(result.unflagged),
            ["comparison", "n", "expected (wall/CPU)", "wall/CPU verdicts", "wall/CPU ratio"],
            label_columns=1,
        ),
        "",
        "## Each arm",
        "",
        "Medians over the arm's processes of each process' median round (book fit, 300 steps a round):",
        "",
        table(
            arm_rows, ["arm", "processes", "ms a step", "CPU ms a step (all threads)", "wall / CPU"], label_columns=1
        ),
        "",
    ]
    lines += provenance(
        f"Generated by `{command}` from the bench JSON under `{result.folder.name}/` (one folder per arm). "
        f"Machine: {env.machine}; Python {env.python}, Keras {env.keras}, {env.backend} {env.backend_version}."
    )
    return "\n".join(lines)


def collect(out_dir: Path, *, cycles: int) -> None:
    ab.run_interleaved(
        arms(sys.executable, CHECKOUT),
        repeats=cycles,
        out_dir=out_dir,
        session="waiting-validation",
        alternate=True,
        together=1,
    )


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "waiting validation",
        argv,
        cycles=13,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles),
        pages=study.one_page(render),
    )


if __name__ == "__main__":
    sys.exit(main())
