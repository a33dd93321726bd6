"""The regression gate's report: what gate.compare decided, as a terminal summary and a markdown page."""

from __future__ import annotations

from mnist_ref.gate import compare
from mnist_ref.gate.compare import ALPHA, MIN_RUNS_FOR_RUN_LEVEL, Gate, PathVerdict, Quantity, Result, Verdict
from mnist_ref.reporting.tables import fmt, table
from mnist_ref.store.files import case_label


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _verdict_cell(v: PathVerdict, policy: str, *, markdown: bool) -> str:
    if not v.decides:
        return f"{v.verdict.value} (shown)"
    if v.verdict is Verdict.SLOWER:
        text = "SLOWER" if policy == "fail" else "slower (warning)"
        return f"**{text}**" if markdown else text
    return v.verdict.value


def _pct(share: float | None) -> str:
    return fmt(None if share is None else share * 100, "pct")


def _median_cell(value: float, quantity: Quantity) -> str:
    if quantity is Quantity.INSTRUCTIONS:
        return f"{value / 1e6:,.2f} M"
    if quantity is Quantity.WAITING:
        return f"{value:.3f}"
    return f"{fmt(value, 'ms')} ms"


def performance_rows(result: Result, *, markdown: bool) -> list[list[str]]:
    """One row per case, path and measure."""
    rows = []
    for v in result.paths:
        counts = v.quantity is not Quantity.SECONDS
        rows.append(
            [
                case_label(v.key),
                f"{v.path} ({v.quantity})",
                f"{_median_cell(v.base_median, v.quantity)} -> {_median_cell(v.new_median, v.quantity)}",
                f"{v.ratio:.4f}x" if counts else fmt(v.ratio, "x"),
                f"{_pct(v.base_spread)} / {_pct(v.new_spread)}",
                (f"HL {v.interval.cell()} 95%" if v.interval else _p(v.p_slower if v.ratio >= 1 else v.p_faster))
                + f" ({v.base_rounds} / {v.new_rounds} "
                f"{v.unit}{', paired' if v.interval and v.interval.paired else ''})",
                (f"{v.threshold:g}x" if counts else fmt(v.threshold, "x")) or "none",
                _verdict_cell(v, result.perf_policy, markdown=markdown),
            ]
        )
    return rows


def performance_headers(result: Result) -> list[str]:
    """The performance table's headers: the measure of each row (seconds, instructions, or wall over CPU seconds)."""
    return [
        "case",
        "path (measure)",
        "median base -> new",
        "new/base",
        "IQR/median base / new",
        "p, one-sided or the clock's interval (compared)",
        "threshold",
        "verdict",
    ]


def summary_line(result: Result) -> str:
    """One line: the verdict a CI log shows first."""
    failed = [f for f in result.findings if f.failed]
    if failed:
        head = f"CORRECTNESS REGRESSION in {len({f.key for f in failed})} case(s)"
    elif result.slower:
        head = (
            f"PERFORMANCE REGRESSION in {len(result.slower)} path(s)"
            if result.perf_policy == "fail"
            else f"slower in {len(result.slower)} path(s) (warning only: {result.comparison.label})"
        )
    elif result.unchecked:
        head = f"NOT CHECKED: {len(result.unchecked)} case(s) or path(s) could not be compared"
    else:
        head = "no regression"
    noisy = sum(v.verdict is Verdict.NOISY and v.decides for v in result.paths)
    faster = sum(v.verdict is Verdict.FASTER and v.decides for v in result.paths)
    return (
        f"{head}; {len(result.paths)} path(s) compared ({result.comparison.label}), {faster} faster, "
        f"{noisy} noisy, {len(result.not_compared)} not compared; exit {int(result.exit_code)}"
    )


def environment_rows(result: Result) -> list[list[str]]:
    """Environment fields side by side, marking the ones that differ."""
    base, new = compare.summary(result.base_env), compare.summary(result.new_env)
    return [[k, base[k], new[k], "" if base[k] == new[k] else "differs"] for k in base]


def findings_rows(result: Result) -> list[list[str]]:
    """Correctness findings, failures first."""
    ordered = sorted(result.findings, key=lambda f: not f.failed)
    return [[case_label(f.key), "FAIL" if f.failed else "shown", f.what] for f in ordered]


def render_terminal(result: Result) -> str:
    """The plain-text report for a terminal or CI log."""
    parts = [summary_line(result), f"comparison: {result.comparison.label} ({result.comparison.why})", ""]
    if result.findings:
        parts += [table(findings_rows(result), ["case", "status", "finding"], label_columns=3, tablefmt="simple"), ""]
    parts.append(
        table(performance_rows(result, markdown=False), performance_headers(result), label_columns=2, tablefmt="simple")
    )
    parts += _unmatched_lines(result)
    return "\n".join(parts)


def not_compared_rows(result: Result) -> list[list[str]]:
    """What was not judged and why, the items that block a pass first."""
    ordered = sorted(result.not_compared, key=lambda n: not n.blocking)
    return [[case_label(n.key), n.path, "BLOCKS A PASS" if n.blocking else "listed", n.why] for n in ordered]


NOT_COMPARED_HEADERS = ["case", "path", "effect", "why not compared"]


def _unmatched_lines(result: Result, *, tablefmt: str = "simple") -> list[str]:
    if not result.not_compared:
        return []
    return [
        "",
        "Not compared:",
        "",
        table(not_compared_rows(result), NOT_COMPARED_HEADERS, label_columns=4, tablefmt=tablefmt),
    ]


def render_markdown(result: Result, *, command: str, refresh: str) -> str:
    """The markdown report: verdict, environments, correctness, per-path table, how to refresh the baseline."""
    thresholds = result.comparison.thresholds
    threshold = ", ".join(f"{path} {fmt(value, 'x')}" for path, value in thresholds.items()) if thresholds else "none"
    lines = [
        "# mnist-ref regression check",
        "",
        f"**{summary_line(result)}**",
        "",
        f"Generated by `{command}`. Comparison: {result.comparison.label} ({result.comparison.why}); "
        f"performance policy `{result.perf_policy}`, thresholds on the ratio of medians ({threshold}), and a "
        f"one-sided Mann-Whitney U test at alpha {ALPHA} on the round times (on per-process medians from "
        f"{MIN_RUNS_FOR_RUN_LEVEL} processes a side). A path is slower only when "
        "both agree; beyond the threshold without a consistent shift it is 'noisy'.",
        "",
        "## Environments",
        "",
        table(environment_rows(result), ["field", "baseline", "new", ""], label_columns=4),
        "",
        "## Correctness",
        "",
        table(findings_rows(result), ["case", "status", "finding"], label_columns=3)
        if result.findings
        else "Every compared case is inside its band, converged, predicts the same class and has the same weights.",
        "",
        "## Performance",
        "",
        table(performance_rows(result, markdown=True), performance_headers(result), label_columns=2),
        *_unmatched_lines(result, tablefmt="pipe"),
        "",
        "## Refresh the baseline",
        "",
        "When a change is intended (a new TensorFlow, a new machine), make this run the baseline:",
        "",
        f"```sh\n{refresh}\n```",
        "",
    ]
    return "\n".join(lines)


def gate_summary(gate: Gate) -> str:
    """One line for an `ab` session: the verdict, and which measure decided it."""
    slower = [v for v in gate.deciding if v.verdict is Verdict.SLOWER]
    decided = ", ".join(f"{case_label(v.key)} {v.path} in {v.quantity} ({v.ratio:.3f}x)" for v in slower)
    judged = sorted({str(v.quantity) for v in gate.deciding})
    head = f"SLOWER: {decided}" if slower else "no path slower"
    return f"{head}; judged on {', '.join(judged) or 'nothing'}; exit {int(gate.exit_code)}"


def render_gate_terminal(gate: Gate) -> str:
    """Every part's terminal report under its heading, the session's line first and last."""
    parts = [gate_summary(gate), ""]
    for what, result in gate.parts:
        parts += [f"== {what}", render_terminal(result), ""]
    return "\n".join([*parts, gate_summary(gate)])


def render_gate_markdown(gate: Gate, *, command: str, refresh: str) -> str:
    """Every part's markdown report, one level down, under the session's verdict."""
    lines = [
        "# mnist-ref A/B check",
        "",
        f"**{gate_summary(gate)}**",
        "",
        "Each verdict says its measure: instructions (work, counted under callgrind), wall/CPU (the timed guard: "
        "a step that waits), seconds (the clock). Within one stack the counts and wall/CPU decide and the clock is "
        "shown; across stacks the clock decides and the others are shown. The NumPy floor's clock is a control of the "
        "machine: shown, never deciding.",
        "",
    ]
    for what, result in gate.parts:
        body = render_markdown(result, command=command, refresh=refresh).replace(
            "\n# mnist-ref regression check\n", "\n"
        )
        body = body.removeprefix("# mnist-ref regression check\n").replace("\n## ", "\n### ")
        lines += [f"## {what}", body]
    return "\n".join(lines)
