"""The pages of a study across stacks (analysis/stacks.py reads it back): whether an instruction count agrees with the
clock per question (validity.md), where a step's time and work go per stack (anatomy.md), and the rows and headline of
the TensorFlow versions' speed for tf-versions.md."""

from __future__ import annotations

import statistics
from pathlib import Path

from mnist_ref.analysis.stacks import (
    AGREES,
    NEWEST,
    OPPOSITE,
    PATHS,
    SAME_DIRECTION,
    UNDECIDED,
    VERSION_ENVS,
    Arm,
    StackStudy,
    Validity,
    against_newest,
    analyse,
    consecutive_changes,
    counted_arm,
    timed_ratio,
    validity,
)
from mnist_ref.gate.ratio import SAME_WITHIN, Ratio
from mnist_ref.plumbing import atomic
from mnist_ref.reporting import index
from mnist_ref.reporting.tables import provenance, table


def interval_cell(r: Ratio) -> str:
    """'1.031x [1.012, 1.050]', with '~' in front where the interval spans 1."""
    return f"{'~' if r.low <= 1 <= r.high else ''}{r.cell()}"


def left_out_line(result: StackStudy) -> str:
    """The sentence naming the processes left out, or that none was."""
    return (
        "Left out, flagged as contended: " + "; ".join(result.left_out) + "."
        if result.left_out
        else "No process was flagged as contended."
    )


def validity_rows(answers: list[Validity]) -> list[list[str]]:
    return [
        [
            v.question.text,
            f"{v.question.b} / {v.question.a}",
            v.question.unit,
            "" if v.counted is None else f"{v.counted:.2f}x",
            interval_cell(v.timed),
            v.agreement,
            "" if v.waits is None else f"{v.waits:.2f}x",
            f"{len(v.a.medians(per_sample=v.question.per_sample)['fit'])} / "
            f"{len(v.b.medians(per_sample=v.question.per_sample)['fit'])}",
        ]
        for v in answers
    ]


def why_they_part(a: Arm, b: Arm, counted: float, timed: float) -> str | None:
    """The clock's ratio taken apart: CPU a step (all threads) times wall over CPU, and the CPU an instruction costs."""
    if not (
        a.anatomy.get("cpu_per_step_s")
        and b.anatomy.get("cpu_per_step_s")
        and a.anatomy.get("wall_over_cpu")
        and b.anatomy.get("wall_over_cpu")
    ):
        return None
    cpu = b.anatomy["cpu_per_step_s"] / a.anatomy["cpu_per_step_s"]
    waits = b.anatomy["wall_over_cpu"] / a.anatomy["wall_over_cpu"]
    return (
        f"{b.name} / {a.name}: the clock's {timed:.2f}x is about CPU a step {cpu:.2f}x times wall over CPU "
        f"{waits:.2f}x ({'more' if waits < 1 else 'fewer'} cores busy, or {'less' if waits < 1 else 'more'} waiting); "
        f"the count's {counted:.2f}x leaves each instruction costing {cpu / counted:.2f}x the CPU time"
    )


VALIDITY_HEADERS = [
    "question",
    "B / A",
    "per",
    "instructions B/A",
    "seconds B/A [95%]",
    "count vs clock",
    "wall/CPU B/A",
    "processes A / B",
]


def anatomy_rows(result: StackStudy) -> tuple[list[list[str]], list[list[str]]]:
    """Per arm, two tables: the fit step's time (wall, CPU over all threads, wall over CPU, the main thread's off-CPU
    share, context switches) and its work (instructions a step, and where they ran)."""
    time_rows, work_rows = [], []
    for name, arm in result.arms.items():
        step = statistics.median(arm.per_step["fit"]) if arm.per_step.get("fit") else None
        an = arm.anatomy
        time_rows.append(
            [
                name,
                "" if step is None else f"{step * 1e3:.3f}",
                _num(an.get("cpu_per_step_s"), 1e3, 3),
                _num(an.get("wall_over_cpu"), 1, 2),
                _num(an.get("main_thread_off_cpu_share"), 100, 0, "%"),
                _num(an.get("voluntary_switches_per_step"), 1, 1),
                _num(an.get("involuntary_switches_per_step"), 1, 2),
            ]
        )
        if arm.instructions_per_step:
            parts = arm.parts or {}
            work_rows.append(
                [
                    name,
                    f"{arm.env.backend} {arm.env.backend_version}, Keras {arm.env.keras}",
                    _num(arm.instructions_per_step, 1e-6, 2),
                    *(f"{100 * parts.get(p, 0):.0f}%" for p in PART_ORDER),
                ]
            )
    return time_rows, work_rows


def _num(value: float | None, scale: float, digits: int, suffix: str = "") -> str:
    return "" if value is None else f"{value * scale:.{digits}f}{suffix}"


PART_ORDER = (
    "Python interpreter",
    "framework runtime and other libraries",
    "math kernels",
    "C/C++ runtime",
    "compiled at run time",
)
TIME_HEADERS = [
    "arm",
    "ms a step",
    "CPU ms a step (all threads)",
    "wall/CPU",
    "main thread off CPU",
    "voluntary switches a step",
    "involuntary switches a step",
]
WORK_HEADERS = [
    "arm",
    "stack",
    "M instructions a step",
    "Python",
    "framework and libraries",
    "math kernels",
    "C/C++ runtime",
    "compiled at run time",
]


STALL_PATHS = ("fit", "evaluate", "predict")


def stall_rows(result: StackStudy) -> list[list[str]]:
    """Per tox env: of each path's rounds, how many stalled (store.rounds.stalled), with the share."""
    rows = []
    for env in VERSION_ENVS:
        arm = result.arms.get(env)
        if arm is None:
            continue
        cells = [env]
        for path in STALL_PATHS:
            stalled, total = arm.stalls.get(path, (0, 0))
            cells.append(f"{stalled} / {total} ({100 * stalled / total:.0f}%)" if total else "")
        rows.append(cells)
    return rows


def versions_rows(result: StackStudy) -> list[list[str]]:
    """Per tox env: each path's median ms a step and its ratio to the newest release, with the interval."""
    newest = result.arms.get(NEWEST)
    rows = []
    for env in VERSION_ENVS:
        arm = result.arms.get(env)
        if arm is None:
            continue
        cells = [env, arm.env.backend_version, arm.env.keras]
        for path in PATHS:
            values = arm.per_step.get(path)
            if not values:
                cells.append("")
                continue
            ms = f"{statistics.median(values) * 1e3:.3f} ms"
            if newest is None or env == NEWEST or not newest.per_step.get(path):
                cells.append(ms)
            else:
                cells.append(f"{ms}, {interval_cell(timed_ratio(newest, arm, path))}")
        rows.append([*cells, _count_cell(arm, result)])
    return rows


def _count_cell(arm: Arm, result: StackStudy) -> str:
    """The arm's counted M instructions a fit step; where it was not counted, another arm's of the very same stack,
    named."""
    twin = counted_arm(arm, [result])
    if twin is None:
        return ""
    return f"{twin.instructions_per_step / 1e6:.2f}" + ("" if twin is arm else f" ({twin.name}, same stack)")


VERSIONS_HEADERS = [
    "env",
    "TensorFlow",
    "Keras",
    *(f"{p} (a step; vs {NEWEST} [95%])" for p in PATHS),
    "M instructions a fit step",
]


def speed_headline(result: StackStudy) -> str:
    """What the interleaved study says about versions: the changes between consecutive releases whose interval excludes
    1, how many do not, the envs and paths that differ from the newest release, and how wide an interval is."""
    from mnist_ref.gate.ratio import Answer

    changes = consecutive_changes(result)
    if not changes:
        return "No two consecutive TensorFlow releases were measured in the interleaved study."
    widths = ", ".join(
        f"{path} +-{100 * statistics.median(c.ratio.half_width for c in changes if c.path == path):.1f}%"
        for path in PATHS
        if any(c.path == path for c in changes)
    )
    real = [c.sentence() for c in changes if c.answer in (Answer.SLOWER, Answer.FASTER)]
    same = [f"{c.path} {c.before} -> {c.after}" for c in changes if c.answer is Answer.SAME]
    untold = sum(c.answer is Answer.CANNOT_TELL for c in changes)
    differ = [f"{env} {path} {interval_cell(r)}" for env, path, r in against_newest(result) if not r.low <= 1 <= r.high]
    return (
        f"Interleaved, {result.cycles} processes a version{result.added_clause()}, exact 95% intervals (median "
        f"half-width between consecutive releases: {widths}): between consecutive releases, real changes: "
        f"{'; '.join(real) or 'none'}; the same "
        f"within +-{100 * SAME_WITHIN:.0f}%: {', '.join(same) or 'none'}; {untold} of {len(changes)} steps cannot be "
        f"told with {result.cycles} processes; against {NEWEST}, outside the interval: {'; '.join(differ) or 'none'}."
    )


def render_validity(result: StackStudy, *, command: str, versions: StackStudy | None = None) -> str:
    answers = validity(result, versions)
    rows = validity_rows(answers)
    said = {
        kind: [v.question.text for v in answers if v.agreement == kind]
        for kind in (AGREES, SAME_DIRECTION, UNDECIDED, OPPOSITE)
    }
    parted = []
    for v in answers:
        if v.agreement in (SAME_DIRECTION, OPPOSITE) and not v.question.per_sample:
            a, b = v.a, v.b
            timed = statistics.median(b.per_step["fit"]) / statistics.median(a.per_step["fit"])
            line = why_they_part(a, b, b.instructions_per_step / a.instructions_per_step, timed)
            if line:
                parted.append(f"- {v.question.text}: {line}.")
    env = next(iter(result.arms.values())).env
    lines = [
        "# Is an instruction count a proxy for time? Question by question",
        "",
        f"**The counted ratio lies inside the clock's 95% interval for: {', '.join(said[AGREES]) or 'none'}; on the "
        f"same side of 1 but another size for: {', '.join(said[SAME_DIRECTION]) or 'none'}; they point opposite ways "
        f"for: {', '.join(said[OPPOSITE]) or 'none'}; the clock's interval spans 1 for: "
        f"{', '.join(said[UNDECIDED]) or 'none'}.** Only inside the interval is a count a proxy for time; elsewhere "
        "compare timed (`mnist-ref ab` does: across stacks its timed guard's clock decides).",
        "",
        f"Timed: {result.cycles} interleaved processes an arm (`--bench-measure steps`: 300 steps a round, all cores, "
        "one process at a time, the order rotated every cycle), the Hodges-Lehmann ratio of the arms' process medians "
        "with its exact 95% interval (`gate/ratio.py`: paired by cycle from 6 cycles, else two-sample; '~' where it "
        "spans 1). Counted: one process an arm under callgrind, single-threaded, the fit from its second execution to "
        "its last (the tuned mode, 100 steps an execution, from batch 100 of 200). 'count vs clock' says whether the "
        "counted ratio falls inside the timed interval. 'wall/CPU' compares how much of the wall each stack waits "
        "(all threads' CPU seconds over wall).",
        "",
        *(
            [
                "The questions between two TensorFlow envs are timed in the versions study "
                f"(`{versions.folder.name}/`: {versions.cycles} interleaved processes a version, the same bench), the "
                f"others in `{result.folder.name}/`.",
                "",
            ]
            if versions is not None
            else []
        ),
        table(rows, VALIDITY_HEADERS, label_columns=3),
        "",
        left_out_line(result),
        "",
        "A count sums every thread's instructions, counted single-threaded under Valgrind (whose CPU has no AVX-512), "
        "and sees neither waiting nor how many cores share the work; it weighs an interpreted instruction like a "
        "vector one. Where the two part, [anatomy.md](anatomy.md) shows where the time and the instructions go:",
        "",
        *(parted or ["- no question here has the count and the clock apart."]),
        "",
    ]
    sources = [result] if versions is None else [result, versions]
    machines = ", ".join(sorted({next(iter(s.arms.values())).env.machine for s in sources}))
    lines += provenance(
        f"Generated by `{command}` from the bench JSON under "
        f"{' and '.join(f'`{s.folder.name}/timed/` and `{s.folder.name}/counted/`' for s in sources)}. "
        f"Machine: {machines}; Python {env.python}."
    )
    return "\n".join(lines)


def render_anatomy(result: StackStudy, *, command: str) -> str:
    env = next(iter(result.arms.values())).env
    time_rows, work_rows = anatomy_rows(result)
    lines = [
        "# The step's anatomy: where a batch-32 step's time and work go, per stack",
        "",
        "**" + _anatomy_headline(result) + "**",
        "",
        f"Timed columns: medians over {result.cycles} interleaved processes an arm of the fit (`--bench-measure "
        "steps`, 300 steps a round, all cores): wall per step; CPU per step summed over threads; wall over CPU (above "
        "1: the process waited for part of the step; below 1: more than one core busy); the share of the wall the "
        "main thread spent off the CPU (waiting for other threads, or sleeping); context switches per step "
        "(voluntary: the process blocked; involuntary: it was preempted). Counted columns: one process under "
        "callgrind, single-threaded: instructions per step, and the share each part ran (self cost of every function: "
        "the Python interpreter, the framework's runtime and other libraries, the math kernels by function name, the "
        "C/C++ runtime, and code compiled at run time, which has no file).",
        "",
        "## Time",
        "",
        table(time_rows, TIME_HEADERS, label_columns=1),
        "",
        left_out_line(result),
        "",
        "## Work",
        "",
        table(work_rows, WORK_HEADERS, label_columns=2) if work_rows else "No arm was counted.",
        "",
    ]
    lines += provenance(
        f"Generated by `{command}` from the bench JSON under `{result.folder.name}/`. Machine: {env.machine}; "
        f"Python {env.python}."
    )
    return "\n".join(lines)


def _anatomy_headline(result: StackStudy) -> str:
    book, jax = result.arms.get("book"), result.arms.get("jax")
    if not book or not jax or not book.per_step.get("fit") or not jax.per_step.get("fit"):
        return "Per stack, where a step's wall, CPU and instructions go."
    ratio = statistics.median(book.per_step["fit"]) / statistics.median(jax.per_step["fit"])
    parts = []
    if book.anatomy.get("wall_over_cpu") and jax.anatomy.get("wall_over_cpu"):
        parts.append(f"wall over CPU {book.anatomy['wall_over_cpu']:.2f} against {jax.anatomy['wall_over_cpu']:.2f}")
    if book.anatomy.get("cpu_per_step_s") and jax.anatomy.get("cpu_per_step_s"):
        parts.append(
            f"CPU a step {book.anatomy['cpu_per_step_s'] * 1e3:.2f} against {jax.anatomy['cpu_per_step_s'] * 1e3:.2f} "
            "ms"
        )
    if book.instructions_per_step and jax.instructions_per_step:
        parts.append(
            f"{book.instructions_per_step / 1e6:.2f} against {jax.instructions_per_step / 1e6:.2f} M instructions"
        )
    return f"TensorFlow's book step takes {ratio:.1f}x JAX's here: " + ", ".join(parts) + "."


def pages(folder: Path, out: Path, *, command: str, versions: Path | None = None) -> dict[Path, bytes]:
    """validity.md at out, anatomy.md beside it (both naming the one command that makes them), and the index; with a
    versions study (a folder), validity's questions between TensorFlow envs timed there."""
    anatomy_out = out.parent / "anatomy.md"
    index.with_index([(out, b""), (anatomy_out, b"")])  # refused before the study is read: a name it may not have
    result = analyse(folder)
    across = analyse(versions) if versions is not None else None
    return index.with_index(
        [
            (out, atomic.encode(render_validity(result, command=command, versions=across))),
            (anatomy_out, atomic.encode(render_anatomy(result, command=command))),
        ]
    )
