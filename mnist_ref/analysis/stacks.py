"""A study across stacks read back into numbers (python -m mnist_ref.validation.stacks collects it): each arm's
per-process medians and counts, ratios between arms with exact 95% intervals, whether an instruction count agrees with
the clock per question, and the steps between TensorFlow releases. reporting/stacks.py renders them (validity.md,
anatomy.md) and reporting/versions.py puts the versions' speed in tf-versions.md.

A ratio between two arms is gate.ratio.between(): the Hodges-Lehmann estimate on log process medians (each process'
median round over its steps) with its exact 95% interval, paired by cycle where both arms ran enough cycles, else
two-sample.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from mnist_ref.gate.ratio import SAME_WITHIN, Ratio, between
from mnist_ref.plumbing.errors import MnistRefError
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


@dataclasses.dataclass(frozen=True)
class StackStudy:
    folder: Path
    arms: dict[str, Arm]
    cycles: int  # the cycles every arm ran (its collection); an arm may have run more (added())
    left_out: tuple[str, ...] = ()  # "arm run N (why)": timed processes the contention check flagged
    last_cycle: dict[str, int] = dataclasses.field(default_factory=dict)  # arm -> its last cycle, where past cycles

    def added(self) -> dict[str, int]:
        """arm -> its last cycle, for the arms that ran cycles past the study's (`stacks add`)."""
        return {name: last for name, last in self.last_cycle.items() if last > self.cycles}

    def added_clause(self) -> str:
        """' (40 for tf215 and tf216: cycles 21-40 added, those arms alone)', or '' where no arm ran more."""
        added = self.added()
        if not added:
            return ""
        last = max(added.values())
        names = " and ".join(added)
        return f" ({last} for {names}: cycles {self.cycles + 1}-{last} added, those arms alone)"


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
    last = {name: max(int(f.path.stem.split("-")[1]) for f in files) for name, files in timed.items()}
    return StackStudy(folder, arms, min(last.values()), left_out, last)


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


def rounds_a_process(result: StackStudy, path: str) -> int | None:
    """The most rounds of one path a process of the study timed (None where none did)."""
    counts = {
        total // len(arm.per_step[path]) for arm in result.arms.values() if (total := arm.stalls.get(path, (0, 0))[1])
    }
    return max(counts) if counts else None


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
