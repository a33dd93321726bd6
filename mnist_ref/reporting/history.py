"""results/history.md (and history.png): a case's fit over runs, ordered by time, the way asv shows a benchmark over
commits: the steady number with its spread, accuracy and weights, where the environment changed, and what the
regression gate would have said against the run before."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_BATCH_SIZE
from mnist_ref.gate import compare
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.reporting.tables import accuracy_cell, fmt, provenance, table
from mnist_ref.store import rounds
from mnist_ref.store.files import BenchFile, CaseKey, case_order, cells
from mnist_ref.store.measured import Measured
from mnist_ref.store.measures import Measure

HEADERS = [
    "run (UTC)",
    "commit",
    "what changed from the run before",
    "fit median",
    "round spread",
    "test accuracy",
    "weights",
    "the gate against the run before",
]
# Fields whose change the table names (the gate's environment summary).
WATCHED = ("python", "numpy", "keras", "backend", "backend_version", "cpu", "usable_cores", "gpus", "measure")


def ordered(files: list[BenchFile]) -> list[BenchFile]:
    """Files by the time their session ran, then by commit."""
    return sorted(files, key=lambda f: (f.datetime, f.provenance.git_commit))


def changes(before: BenchFile | None, after: BenchFile) -> str:
    """The environment fields that differ from the run before ('first run' for the first)."""
    if before is None:
        return "first run"
    old, new = compare.side([before]), compare.side([after])
    moved = [
        f"{compare.LABELS[f]} {compare.shown(old, f)} -> {compare.shown(new, f)}"
        for f in compare.differing(old, new, WATCHED)
    ]
    return "; ".join(moved) or "nothing (same stack and machine)"


class Verdicts:
    """`mnist-ref compare BEFORE AFTER --perf warn` for pairs of runs, each pair compared once for all its cases."""

    def __init__(self):
        self._results: dict[tuple, compare.Result | str] = {}

    def __call__(self, before: BenchFile, after: BenchFile) -> compare.Result | str:
        """The comparison's result, or why there is none."""
        pair = (before.path, after.path)
        if pair not in self._results:
            try:
                self._results[pair] = compare.compare([before], [after], compare.WARN_ONLY)
            except ReportError as exc:
                self._results[pair] = f"not compared ({str(exc).split(':')[0]})"
        return self._results[pair]


def gate_cell(before: BenchFile | None, after: BenchFile, key: CaseKey, verdicts: Verdicts) -> str:
    """What `mnist-ref compare BEFORE AFTER --perf warn` says about this case's fit."""
    if before is None:
        return ""
    result = verdicts(before, after)
    if isinstance(result, str):
        return result
    if any(f.failed and f.key == key for f in result.findings):
        return "**INCORRECT**"
    verdict = next((v for v in result.paths if v.key == key and v.path == "fit"), None)
    if verdict is None:
        return "not compared"
    word = "**slower**" if verdict.verdict is compare.Verdict.SLOWER else verdict.verdict.value
    return f"{word} ({verdict.ratio:.3f}x, {result.comparison.label})"


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100 * fraction


def _median_cell(fit: Measured, counted: bool) -> str:
    median = fit.median
    return f"{median / 1e6:,.1f} M instr." if counted else f"{fmt(median, 's')} s"


def case_rows(files: list[BenchFile], key: CaseKey, verdicts: Verdicts) -> list[list[str]]:
    """One row per run of the case, oldest first."""
    rows, previous, fingerprint = [], None, None
    for bench_file in files:
        fit = cells([bench_file]).get(key, {}).get("fit")
        if fit is None:
            continue
        info = fit.info
        counted = bench_file.measure.counted
        weights = info.fingerprint
        same = (
            ""
            if counted
            else (f"`{weights[:8]}`" if weights else "")
            + ("" if fingerprint is None or weights is None else " same" if weights == fingerprint else " **changed**")
        )
        rows.append(
            [
                bench_file.datetime[:16].replace("T", " "),
                bench_file.provenance.git_commit[:8],
                changes(previous, bench_file),
                _median_cell(fit, counted),
                fmt(_percent(fit.spread), "pct"),
                "" if counted else accuracy_cell(info.test_accuracy, diverged=bool(info.diverged)),
                same,
                gate_cell(previous, bench_file, key, verdicts),
            ]
        )
        previous, fingerprint = bench_file, weights if not counted else fingerprint
    return rows


def series(files: list[BenchFile]) -> dict[tuple[CaseKey, str], list[BenchFile]]:
    """(case, measure) -> the files that measured its fit, in time order; cases measured at least twice."""
    out: dict[tuple[CaseKey, str], list[BenchFile]] = {}
    for bench_file in ordered(files):
        for key, paths in cells([bench_file]).items():
            if "fit" in paths:
                out.setdefault((key, bench_file.measure), []).append(bench_file)
    return {k: v for k, v in sorted(out.items(), key=lambda item: (case_order(item[0][0]), item[0][1])) if len(v) > 1}


def headline(trends: dict[tuple[CaseKey, str], list[BenchFile]]) -> str:
    """How many runs over which days; for the book's case, how far each measure moved and whether its weights ever
    changed without a change of stack."""
    if not trends:
        return "No case was measured in two runs or more here, so there is no history."
    runs = {f.path for v in trends.values() for f in v}
    days = sorted({f.datetime[:10] for v in trends.values() for f in v})
    parts = [f"**{len(runs)} runs from {days[0]} to {days[-1]}**"]
    for (key, measure), files in trends.items():
        if key.mode != "book" or key.batch_size != BOOK_BATCH_SIZE:
            continue
        fits = [cells([f])[key]["fit"] for f in files]
        medians = [b.median for b in fits]
        if measure.counted:
            parts.append(
                f"{key.label} counted: {len(files)} runs within {max(medians) / min(medians):.3f}x "
                f"({min(medians) / 1e6:,.1f} to {max(medians) / 1e6:,.1f} M instructions a round)"
            )
            continue
        prints = [b.info.fingerprint for b in fits]
        moved = [i for i in range(1, len(files)) if prints[i] != prints[i - 1]]
        unexplained = [i for i in moved if changes(files[i - 1], files[i]).startswith("nothing")]
        weights = (
            "never changed"
            if not moved
            else f"changed {len(moved)} times, "
            + (
                "each time with the stack"
                if not unexplained
                else f"**{len(unexplained)} times without a change of stack**"
            )
        )
        parts.append(
            f"{key.label} timed: {len(files)} runs from {fmt(min(medians), 's')} to {fmt(max(medians), 's')} s an "
            f"epoch ({max(medians) / min(medians):.2f}x, this shared machine's noise between processes and days); its "
            f"weights {weights}"
        )
    return "; ".join(parts) + "."


def render(files: list[BenchFile], *, command: str) -> str:
    """The history page: per case measured twice or more, its runs in time order."""
    trends = series(files)
    lines = [
        "# History",
        "",
        headline(trends),
        "",
        f"{len(files)} bench files, ordered by the time each session ran (then commit). A row says what changed in "
        "the environment since the run before (versions, CPU, cores, measure) and what "
        "`mnist-ref compare BEFORE AFTER --perf warn` says about the case's fit: its kind of comparison decides the "
        "threshold, and a change of machine or stack is compared only as the gate would across machines.",
        "",
        "What is comparable across days on this shared machine: instruction counts of the same code, measure and "
        "stack repeat to a fraction of a percent, so a step between two counted runs is the code's or the stack's. "
        "Seconds are not: the same code in two processes differs by up to 1.5x here and the CPU model under a session "
        "changes from day to day, so a timed row is read against its spread and the gate's verdict, not against the "
        "row above it. Accuracy and weights are comparable whenever the stack is the same.",
        "",
    ]
    verdicts = Verdicts()
    for (key, measure), ordered_files in trends.items():
        lines += [
            f"## {key.label}, fit ({'instruction counts' if measure.counted else 'seconds'})",
            "",
            table(case_rows(ordered_files, key, verdicts), HEADERS, label_columns=3),
            "",
        ]
    lines += ["![fit over runs](history.png)", ""] if trends else []
    lines += provenance(f"Generated by `{command}` from those {len(files)} bench files.")
    return "\n".join(lines)


def plot(files: list[BenchFile]) -> bytes:
    """The fit median of each case over the runs (timed and counted side by side; one x position a run, in time order,
    shared by every case), each run's spread as an error bar, a dashed line where the environment changed."""
    from mnist_ref.reporting.plots import figure, png

    plt = figure()
    trends = series(files)
    measures = sorted({m for _, m in trends}) or [Measure.TIME]
    fig, axes = plt.subplots(1, len(measures), figsize=(6.5 * len(measures), 4.6), squeeze=False)
    for ax, measure in zip(axes[0], measures, strict=True):
        scale = 1e6 if measure.counted else 1.0
        timeline = ordered(list({f.path: f for (_, m), runs in trends.items() if m == measure for f in runs}.values()))
        position = {f.path: i for i, f in enumerate(timeline)}
        for i in range(1, len(timeline)):
            if not changes(timeline[i - 1], timeline[i]).startswith("nothing"):
                ax.axvline(i - 0.5, color="grey", linestyle="--", alpha=0.4)
        for (key, m), runs in trends.items():
            if m == measure:
                fits = [cells([f])[key]["fit"] for f in runs]
                ax.errorbar(
                    [position[f.path] for f in runs],
                    [rounds.median(b.rounds) / scale for b in fits],
                    yerr=[b.iqr / 2 / scale for b in fits],
                    marker="o",
                    capsize=3,
                    label=key.label,
                )
        ax.set_xticks(
            range(len(timeline)), [f.datetime[5:16].replace("T", " ") for f in timeline], rotation=70, fontsize=6
        )
        ax.set(
            xlabel="run (UTC), oldest first; dashed: the environment changed",
            ylabel="fit, M instructions a round" if measure.counted else "fit epoch (s), median +/- IQR/2",
            title="instruction counts" if measure.counted else "seconds",
        )
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return png(fig)
