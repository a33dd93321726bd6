"""Speed across stacks from an interleaved study (python -m mnist_ref.validation.stacks collects it): each arm's
per-process medians, ratios between arms with exact 95% intervals, and three pages: whether an instruction count agrees
with the clock per question (validity.md), where a step's time and work go per stack (anatomy.md), and the TensorFlow
versions' speed for tf-versions.md.

A ratio between two arms is gate.ratio.between(): the Hodges-Lehmann estimate on log process medians (each process'
median round over its steps) with its exact 95% interval, paired by cycle where both arms ran enough cycles, else
two-sample.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from mnist_ref.gate.ratio import SAME_WITHIN, Ratio, between
from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.reporting import index
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.store import rounds
from mnist_ref.store.files import BenchFile, runs_by_arm
from mnist_ref.store.provenance import Provenance

PATHS = ("fit", "evaluate", "predict", "predict_one")
# The tox envs, in table order (tox.ini), and the newest release every version is divided by.
VERSION_ENVS = ("tf215", "tf216", "tf217", "tf218", "tf219", "tf220", "tf221", "tfkeras221", "tfnightly")
NEWEST = "tf221"


# The questions users ask, each a pair of arms (A, B) and whether it is judged per step or per sample (batch sizes).
@dataclasses.dataclass(frozen=True)
class Question:
    """One question validity.md asks: arm b against arm a, per step or (across batch sizes) per sample."""

    text: str
    a: str
    b: str
    per_sample: bool = False

    @property
    def unit(self) -> str:
        return "sample" if self.per_sample else "step"

    def count(self, arm: Arm) -> float | None:
        return arm.instructions_per_sample if self.per_sample else arm.instructions_per_step

    @property
    def across_versions(self) -> bool:
        return self.a in VERSION_ENVS and self.b in VERSION_ENVS


QUESTIONS = (
    Question("more CPU work in the step (same stack)", "book", "work0.125"),
    Question("tuned mode against the book's", "book", "tuned"),
    Question("JAX against TensorFlow", "book", "jax"),
    Question("torch against TensorFlow", "book", "torch"),
    Question("TensorFlow 2.20 -> 2.21", "tf220", "tf221"),
    Question("Keras 2 (tf-keras) -> Keras 3 on TF 2.21", "tfkeras221", "tf221"),
    Question("batch 128 against 32", "book", "bs128", per_sample=True),
)


@dataclasses.dataclass(frozen=True)
class Arm:
    """What one arm's processes measured: per path, each process' median seconds a step (and a sample); the fit's
    anatomy medians; the counted fit's instructions a step and a sample, and where they ran."""

    name: str
    env: Provenance
    per_step: dict[str, list[float]]  # path -> per-process median seconds a step
    per_sample: dict[str, list[float]]
    anatomy: dict[str, float]  # fit: cpu_per_step_s, main_thread_off_cpu_share, switches, wall_over_cpu
    instructions_per_step: float | None
    instructions_per_sample: float | None
    parts: dict[str, float] | None
    cycles: tuple[int, ...] = ()  # the cycle of each timed process, in the order of per_step's lists
    case: tuple = ()  # what the bench ran: the fit's case (backend, device, batch size, mode) and the injections
    stalls: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # path -> (stalled, rounds)

    def medians(self, *, per_sample: bool = False) -> dict[str, list[float]]:
        """path -> per-process medians, seconds a step or a sample."""
        return self.per_sample if per_sample else self.per_step

    def by_cycle(self, path: str, *, per_sample: bool = False) -> dict[int, float]:
        """One path's per-process medians keyed by the cycle the process ran in."""
        values = self.medians(per_sample=per_sample)[path]
        return (
            dict(zip(self.cycles, values, strict=True)) if len(self.cycles) == len(values) else dict(enumerate(values))
        )


def _keras_fit(f: BenchFile):
    return [m for m in f.measured if not m.key.floor]


def load_arm(name: str, timed: list[BenchFile], counted: list[BenchFile]) -> Arm:
    per_step: dict[str, list[float]] = {}
    per_sample: dict[str, list[float]] = {}
    anatomy: dict[str, list[float]] = {}
    stalls: dict[str, tuple[int, int]] = {}
    for f in timed:
        for m in _keras_fit(f):
            median = rounds.median(m.rounds)
            stalled, total = stalls.get(m.path, (0, 0))
            stalls[m.path] = (stalled + rounds.stalled(m.rounds), total + len(m.rounds))
            per_step.setdefault(m.path, []).append(median / m.info.steps_per_round)
            per_sample.setdefault(m.path, []).append(median / m.info.samples_per_round)
            if m.path == "fit":
                for field in (
                    "cpu_per_step_s",
                    "main_thread_cpu_per_step_s",
                    "main_thread_off_cpu_share",
                    "voluntary_switches_per_step",
                    "involuntary_switches_per_step",
                ):
                    if getattr(m.info, field) is not None:
                        anatomy.setdefault(field, []).append(getattr(m.info, field))
                if m.waiting:
                    anatomy.setdefault("wall_over_cpu", []).append(rounds.median(m.waiting))
    fits = [m for f in counted for m in _keras_fit(f) if m.path == "fit"]
    env = (timed or counted)[0].provenance
    return Arm(
        name,
        env,
        per_step,
        per_sample,
        {k: statistics.median(v) for k, v in anatomy.items()},
        statistics.median(m.info.instructions_per_step for m in fits) if fits else None,
        statistics.median(m.info.instructions_per_sample for m in fits) if fits else None,
        fits[0].info.instructions_by_part if fits else None,
        tuple(int(f.path.stem.split("-")[1]) for f in timed),
        _case((timed or counted)[0]),
        stalls,
    )


def _case(f: BenchFile) -> tuple:
    return (next((m.key for m in _keras_fit(f) if m.path == "fit"), None), f.session.injections)


def timed_ratio(a: Arm, b: Arm, path: str, *, per_sample: bool = False) -> Ratio:
    """B over A on one path, a step's (or a sample's) seconds, the one estimator (gate.ratio.between)."""
    return between(a.by_cycle(path, per_sample=per_sample), b.by_cycle(path, per_sample=per_sample))


def interval_cell(r: Ratio) -> str:
    """'1.031x [1.012, 1.050]', with '~' in front where the interval spans 1."""
    return f"{'~' if r.low <= 1 <= r.high else ''}{r.cell()}"


@dataclasses.dataclass(frozen=True)
class StackStudy:
    folder: Path
    arms: dict[str, Arm]
    cycles: int
    left_out: tuple[str, ...] = ()  # "arm run N (why)": timed processes the contention check flagged


def analyse(folder: Path) -> StackStudy:
    """Every arm's timed and counted processes; a timed process the contention check flagged is left out (as the gate
    judges none), and named."""
    timed = runs_by_arm(folder / "timed") if (folder / "timed").is_dir() else {}
    counted = runs_by_arm(folder / "counted") if (folder / "counted").is_dir() else {}
    if not timed:
        raise MnistRefError(f"{folder}: no timed runs (timed/ARM/run-N.json); collect them first")
    if len(timed) < 2:
        raise MnistRefError(f"{folder}: one arm ({', '.join(timed)}); a study compares arms: collect at least two")
    sessions = sorted({str(f.session.ab_session) for files in timed.values() for f in files})
    if len(sessions) > 1:
        raise MnistRefError(
            f"{folder}: its timed runs come from {len(sessions)} collections ({', '.join(sessions[:3])}); "
            "processes of different sessions are not interleaved: collect each study into a folder of its own"
        )
    left_out = tuple(
        f"{name} {f.path.stem.replace('-', ' ')} ({f.session.contention.describe()})"
        for name, files in timed.items()
        for f in files
        if f.session.contention.contended
    )
    quiet = {name: [f for f in files if not f.session.contention.contended] for name, files in timed.items()}
    arms = {name: load_arm(name, files, counted.get(name, [])) for name, files in quiet.items() if files}
    return StackStudy(folder, arms, max(len(f) for f in timed.values()), left_out)


def left_out_line(result: StackStudy) -> str:
    """The sentence naming the processes left out, or that none was."""
    return (
        "Left out, flagged as contended: " + "; ".join(result.left_out) + "."
        if result.left_out
        else "No process was flagged as contended."
    )


@dataclasses.dataclass(frozen=True)
class Validity:
    """One question answered: the timed ratio of the fit with its interval, the counted ratio, how they stand."""

    question: Question
    a: Arm
    b: Arm
    timed: Ratio
    counted: float | None  # instructions, b over a
    agreement: str  # AGREES, SAME_DIRECTION, UNDECIDED, OPPOSITE; "" where nothing was counted
    waits: float | None  # wall over CPU, b over a


def validity(result: StackStudy, versions: StackStudy | None = None) -> list[Validity]:
    """Per question both arms measured: the counted ratio, the timed ratio with its interval, and whether the count
    falls inside it. With a versions study, the questions between two tox envs are timed there (more processes a
    version); an arm counted in neither study takes the count of a counted arm of the very same stack."""
    studies = [s for s in (versions, result) if s is not None]
    out = []
    for q in QUESTIONS:
        timed_in = versions if versions is not None and q.across_versions else result
        a, b = timed_in.arms.get(q.a), timed_in.arms.get(q.b)
        if a is None or b is None or "fit" not in a.per_step or "fit" not in b.per_step:
            continue
        timed = timed_ratio(a, b, "fit", per_sample=q.per_sample)
        count_a, count_b = (counted_arm(arm, studies) for arm in (a, b))
        counted = q.count(count_b) / q.count(count_a) if count_a and count_b else None
        agrees = "" if counted is None else agreement(counted, timed.low, timed.high)
        waits = (
            (b.anatomy.get("wall_over_cpu", 0) / a.anatomy["wall_over_cpu"]) if a.anatomy.get("wall_over_cpu") else None
        )
        out.append(Validity(q, a, b, timed, counted, agrees, waits))
    return out


def _stack(arm: Arm) -> tuple:
    return (arm.env.python, arm.env.numpy, arm.env.keras, arm.env.backend, arm.env.backend_version)


def counted_arm(arm: Arm, studies: list[StackStudy]) -> Arm | None:
    """The arm itself where it was counted, else a counted arm of the very same stack (Python, NumPy, Keras, the
    backend and its version) that ran the same case with the same injections and paths, the same name first, in any
    of the studies; None where none was."""
    if arm.instructions_per_step:
        return arm
    candidates = [
        o
        for s in studies
        for o in s.arms.values()
        if o.instructions_per_step
        and o is not arm
        and o.per_step.keys() == arm.per_step.keys()
        and o.case == arm.case
        and _stack(o) == _stack(arm)
    ]
    return next((o for o in candidates if o.name == arm.name), candidates[0] if candidates else None)


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


AGREES, SAME_DIRECTION, UNDECIDED, OPPOSITE = (
    "agrees",
    "same direction, other size",
    "clock cannot tell",
    "opposite directions",
)


def agreement(counted: float, low: float, high: float) -> str:
    """How a counted ratio stands to the timed interval: the interval spans 1 (the clock cannot tell a change, so
    neither agreement nor disagreement is shown); the count inside it; outside but on the same side of 1; or on the
    other side."""
    if low <= 1 <= high:
        return UNDECIDED
    if low <= counted <= high:
        return AGREES
    return SAME_DIRECTION if (counted > 1) == (low > 1) else OPPOSITE


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


def rounds_a_process(result: StackStudy, path: str) -> int | None:
    """The most rounds of one path a process of the study timed (None where none did)."""
    counts = {
        total // len(arm.per_step[path]) for arm in result.arms.values() if (total := arm.stalls.get(path, (0, 0))[1])
    }
    return max(counts) if counts else None


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


@dataclasses.dataclass(frozen=True)
class Change:
    """One step between consecutive releases on one path: B (after) over A (before)."""

    before: str  # TensorFlow versions
    after: str
    path: str
    ratio: Ratio

    @property
    def answer(self):
        return self.ratio.answer(SAME_WITHIN)

    def sentence(self) -> str:
        return f"{self.path} {self.before} -> {self.after} {self.ratio.sentence(SAME_WITHIN)}"


def consecutive_changes(result: StackStudy) -> list[Change]:
    """The step from each released version to the next, per path, with its three-way answer."""
    releases = [e for e in VERSION_ENVS if e.startswith("tf2") and e in result.arms]
    changes = []
    for before, after in zip(releases, releases[1:], strict=False):
        a, b = result.arms[before], result.arms[after]
        for path in PATHS:
            if a.per_step.get(path) and b.per_step.get(path):
                changes.append(Change(a.env.backend_version, b.env.backend_version, path, timed_ratio(a, b, path)))
    return changes


def against_newest(result: StackStudy) -> list[tuple[str, str, Ratio]]:
    """(env, path, ratio) of every env and path against the newest release."""
    newest = result.arms.get(NEWEST)
    out = []
    for env in VERSION_ENVS:
        arm = result.arms.get(env)
        if arm is None or newest is None or env == NEWEST:
            continue
        for path in PATHS:
            if arm.per_step.get(path) and newest.per_step.get(path):
                out.append((env, path, timed_ratio(newest, arm, path)))
    return out


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
        f"Interleaved, {result.cycles} processes a version, exact 95% intervals (median half-width between consecutive "
        f"releases: {widths}): between consecutive releases, real changes: {'; '.join(real) or 'none'}; the same "
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


def write_pages(folder: Path, out: Path, *, command: str, versions: Path | None = None) -> list[Path]:
    """pages(...), all written or none."""
    written = pages(folder, out, command=command, versions=versions)
    atomic.write_many(written)
    return list(written)
