"""The regression gate: a new bench run against a baseline, case by case, with verdicts a CI job can act on.

Three questions, in order of severity:
- correctness (hard): accuracy outside the case's band, a diverged run, another predicted class for the
  first test image, or other final weights where the environments are identical;
- performance: slower only when the ratio of medians passes a threshold *and* a one-sided Mann-Whitney U
  test on the per-round times says the new rounds are consistently slower (exact for the few rounds we have);
- machines: which comparison it was (same machine kind, interleaved or not; another machine; incomparable),
  which decides the threshold and whether a slowdown may fail the run.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import statistics
from pathlib import Path

from mnist_ref.gate import ratio
from mnist_ref.gate.ratio import Ratio
from mnist_ref.plumbing.errors import ExitCode, ReportError, most_severe
from mnist_ref.store import rounds
from mnist_ref.store.files import PATHS, BenchFile, CaseKey, case_label, case_order, cells, load_bench
from mnist_ref.store.measured import Info, Measured, Runs
from mnist_ref.store.measures import Measure

# Exit codes of `mnist-ref compare` (errors.ExitCode; the most severe outcome wins, errors.most_severe).
EXIT_OK, EXIT_PERFORMANCE, EXIT_USAGE, EXIT_CORRECTNESS = (
    ExitCode.OK,
    ExitCode.SLOWER,
    ExitCode.BAD_INPUT,
    ExitCode.INCORRECT,
)
EXIT_NOT_JUDGED = ExitCode.NOT_JUDGED

# Thresholds on the time ratio new/base, per kind of comparison and hot path. They come from the A/A runs
# in results/gate-validation.md (2-core VM, TF 2.21, book mode, batch 32), with a margin over the largest
# ratio two runs of unchanged code showed there.
# Interleaved A/B runs (`mnist-ref ab`, 4 processes a side): drift hits both sides alike; unchanged code
# differed by at most 1.11x (fit) and 1.29x (evaluate, predict, one image) in medians of 4 processes.
INTERLEAVED_THRESHOLDS = {"fit": 1.2, "evaluate": 1.4, "predict": 1.4, "predict_one": 1.4}
# Two separate runs on the same machine kind, one process each: the same work moved by up to 1.22x (fit),
# 1.75x (evaluate), 1.91x (predict) and 1.41x (one image) between two processes.
SAME_MACHINE_THRESHOLDS = {"fit": 1.5, "evaluate": 2.2, "predict": 2.2, "predict_one": 1.6}
# Another machine: nothing normalises per-step dispatch reliably (one core against two: raw fit ratios
# 0.83-1.27x, "normalised" by the matmul calibration 0.53-1.51x), so only gross changes are flagged.
CROSS_MACHINE_THRESHOLDS = {"fit": 2.0, "evaluate": 3.0, "predict": 3.0, "predict_one": 2.5}
# Instruction counts (--bench-measure instructions), any kind of same-machine comparison: the machine's load
# does not move a count. Pilot on 2026-11-30 (2-core Intel Xeon VM, TF 2.21, book batch-32 fit, 39 counted
# steps a round): two processes' median rounds 0.24% apart (floor 0.12%), rounds within a process within
# 0.9%. The fit threshold keeps 6x that margin; the other paths (not piloted) 8x. Fixed before
# results/steady-validation.md was collected.
INSTRUCTION_THRESHOLDS = {"fit": 1.015, "evaluate": 1.02, "predict": 1.02, "predict_one": 1.02}
# Wall over CPU seconds of a round (--bench-measure steps, the timed guard of `mnist-ref ab`): a step that waits (a
# sleep, a lock, a hand-off between threads) adds wall and no CPU; more CPU work adds both and leaves the ratio. Pilot
# on 2026-12-03 (2-core AMD EPYC VM, TF 2.21, book batch-32 fit, 1,500 steps a process, 10 processes interleaved):
# four unchanged processes 0.817-0.841 (1.029x apart), steps sleeping 0.2x and 0.5x their duration 1.21x and 1.45x
# the unchanged, 5% more work 1.00x. The fit threshold keeps over 3x the unchanged margin; the other paths (not
# piloted) more. Fixed before results/waiting-validation.md was collected.
WAITING_THRESHOLDS = {"fit": 1.10, "evaluate": 1.15, "predict": 1.15, "predict_one": 1.15}
# One-sided significance level of the Mann-Whitney U test. With 4 values a side the exact test reaches it
# only when at most one pair is out of order.
ALPHA = 0.05
# With this many bench processes a side or more, the test compares per-process medians: the same work moves
# by up to 1.5x between processes here, so rounds of one process are not independent samples of the next.
# With fewer, it compares rounds, and only the threshold guards against the difference between processes.
MIN_RUNS_FOR_RUN_LEVEL = 4
# The clock of one interleaved session (`mnist-ref ab --measure time`, and the guard's clock across stacks) is judged by
# the one estimator of a timed ratio (gate/ratio.py: Hodges-Lehmann on log process medians, exact 95% interval, paired
# by repeat from 6 a side): slower where the interval lies above 1 and the estimate is at least CLOCK_MIN_EFFECT, no
# change where the interval lies within +-CLOCK_SAME_WITHIN (or excludes 1 by less than the minimum effect), and
# "cannot tell" otherwise (not judged: more processes would tell; ab adds them, up to its budget).
CLOCK_MIN_EFFECT = 1.02
CLOCK_SAME_WITHIN = ratio.SAME_WITHIN
# Machines whose usable cores differ by more than this factor are not compared for speed at all.
MAX_CORE_RATIO = 4.0

POLICIES = ("fail", "warn", "off")

# What must be equal for "identical environments" (a changed fingerprint is then a correctness failure): fields of
# Environment below.
ENVIRONMENT_FIELDS = ("python", "numpy", "keras", "backend", "backend_version", "cpu", "gpus", "injected_steps")
MACHINE_FIELDS = ("cpu", "arch", "usable_cores", "gpus")
# What makes two environments different stacks, for instruction counts (which are judged only within one stack).
STACK_FIELDS = ("python", "numpy", "keras", "backend", "backend_version")
# How a side whose file has no environment block (machine_info.mnist_ref) reads: never identical to anything,
# and its speed cannot be compared.
UNKNOWN = "unknown (no environment block)"


@dataclasses.dataclass(frozen=True)
class Environment:
    """What decides whether two runs are comparable, typed, from one file's environment (store.provenance) and
    session (store.session) blocks; a side of several files is a tuple of them (Side). Its strings are made only
    where they are shown (shown())."""

    known: bool
    python: str
    numpy: str
    keras: str
    backend: str
    backend_version: str
    cpu: str
    arch: str
    usable_cores: int | None
    gpus: tuple[str, ...]
    cuda: str
    git_commit: str
    injected_slowdown: float
    injected_wait: float
    injected_work: float
    injected_steps: float
    measure: Measure | None
    interleaved_run: str | None  # the `mnist-ref ab` session

    @classmethod
    def of(cls, bench_file: BenchFile) -> Environment:
        env, session = bench_file.provenance, bench_file.session
        return cls(
            known=env.known,
            python=env.python,
            numpy=env.numpy,
            keras=env.keras,
            backend=env.backend,
            backend_version=env.backend_version,
            cpu=env.cpu,
            arch=env.arch,
            usable_cores=int(env.usable_cores) if env.usable_cores.isdigit() else None,
            gpus=env.gpus,
            cuda=env.accelerator.get("cuda", "none"),
            git_commit=env.git_commit,
            injected_slowdown=session.injections.slowdown,
            injected_wait=session.injections.wait,
            injected_work=session.injections.work,
            injected_steps=session.injections.steps,
            measure=bench_file.measure,
            interleaved_run=session.ab_session,
        )


Side = tuple[Environment, ...]
# Every field of Environment in the order a page shows it, with its name there.
LABELS = {
    "python": "python",
    "numpy": "numpy",
    "keras": "keras",
    "backend": "backend",
    "backend_version": "backend version",
    "cpu": "cpu",
    "arch": "arch",
    "usable_cores": "usable cores",
    "gpus": "gpus",
    "cuda": "cuda",
    "git_commit": "git commit",
    "injected_slowdown": "injected slowdown",
    "injected_wait": "injected wait",
    "injected_work": "injected work",
    "injected_steps": "injected steps",
    "measure": "measure",
    "interleaved_run": "interleaved run",
}


def side(files: list[BenchFile]) -> Side:
    return tuple(Environment.of(f) for f in files)


def differing(base: Side, new: Side, fields) -> list[str]:
    """The fields whose values differ between two sides (every one where a file has no environment block)."""
    if not all(e.known for e in base + new):
        return list(fields)
    return [f for f in fields if {getattr(e, f) for e in base} != {getattr(e, f) for e in new}]


def _display(field: str, value) -> str:
    if field == "gpus":
        return ", ".join(value) or "none"
    if field == "interleaved_run":
        return str(value or "no")
    if value is None:
        return "unknown"
    return value.value if isinstance(value, enum.Enum) else str(value)


def shown(environments: Side, field: str) -> str:
    """A side's value of one field as a page shows it: a field that varies reads 'a | b'; UNKNOWN without an
    environment block (for the fields that decide identity and machine)."""
    if not all(e.known for e in environments) and field in (*ENVIRONMENT_FIELDS, *MACHINE_FIELDS):
        return UNKNOWN
    return " | ".join(dict.fromkeys(_display(field, getattr(e, field)) for e in environments))


def summary(environments: Side) -> dict[str, str]:
    """Every field of a side as a page shows it, by its name there (an environment table, a history's changes)."""
    return {label: shown(environments, field) for field, label in LABELS.items()}


def _named(base: Side, new: Side, fields) -> str:
    """'backend version 2.20.0 vs 2.21.0, ...': the fields that differ, named as a page names them."""
    return ", ".join(f"{LABELS[f]} {shown(base, f)} vs {shown(new, f)}" for f in fields)


class Machines(enum.Enum):
    """Where the two sides were measured, as far as speed is concerned; the value is only the label shown."""

    INTERLEAVED = "interleaved"  # one `mnist-ref ab` session
    SAME = "same machine"  # same CPU model, cores and GPUs; separate runs
    DIFFERENT = "different machine"
    INCOMPARABLE = "incomparable"  # another architecture or GPUs, or cores too different: speed is not compared
    UNKNOWN = "unknown environment"  # a file without its environment block


class Quantity(str, enum.Enum):
    """What a verdict was judged on; the value is the word shown."""

    SECONDS = "seconds"  # the clock: wall seconds of a round
    INSTRUCTIONS = "instructions"  # work, counted by callgrind
    WAITING = "wall/CPU"  # wall over CPU seconds of a round (the timed guard): waiting

    def __str__(self) -> str:
        return self.value


class Verdict(str, enum.Enum):
    """One path's speed verdict; the value is the word shown."""

    SLOWER = "slower"
    FASTER = "faster"
    NOISY = "noisy"  # past the threshold, but the test does not say it is consistent
    NO_CHANGE = "no change"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What kind of comparison this is, and the performance rule that follows: the policy reads the fields, the
    label is only shown."""

    machines: Machines
    thresholds: dict[str, float] | None  # per hot path; None: speed is not judged
    why: str
    counted: bool = False  # instruction counts rather than seconds
    contended: bool = False  # a side was measured on a busy machine
    stacks_differ: bool = False  # measured on different stacks (Python, NumPy, Keras, backend or its version)
    guard: bool = (
        False  # the timed guard (--bench-measure steps): wall over CPU judged within a stack, the clock across
    )

    @property
    def across_machines(self) -> bool:
        """Whether --perf-across-machines (rather than --perf) decides what a speed result does to the exit code."""
        return self.machines in (Machines.DIFFERENT, Machines.INCOMPARABLE)

    @property
    def label(self) -> str:
        """The comparison in words, e.g. 'instruction counts, interleaved' or 'same machine, contended'."""
        return ", ".join(
            ["instruction counts"] * self.counted
            + ["timed guard"] * self.guard
            + [self.machines.value]
            + ["contended"] * self.contended
            + ["different stacks"] * self.stacks_differ
        )


def check_threshold(value: float) -> float:
    """A --threshold: a finite ratio above 1 (1.2 = 20% slower), else ReportError."""
    if not math.isfinite(value) or value <= 1:
        raise ReportError(f"--threshold takes a finite time ratio above 1 (1.2 = 20% slower), got {value}")
    return value


def _thresholds(defaults: dict[str, float], override: float | None) -> dict[str, float]:
    return dict(defaults) if override is None else {path: check_threshold(override) for path in defaults}


def classify(base: list[BenchFile], new: list[BenchFile], *, threshold: float | None = None) -> Comparison:
    """interleaved (one `mnist-ref ab` session), same machine kind, different machine, incomparable, or unknown
    environment (a file without its environment block); threshold, when given, replaces every path's threshold."""
    counted = all(f.measure.counted for f in base + new)
    unknown = [f.path.name for f in base + new if not f.provenance.known]
    if unknown:
        return Comparison(
            Machines.UNKNOWN,
            None,
            f"no environment block (machine_info.mnist_ref) in {', '.join(unknown)}; "
            "speed cannot be compared and weights are not judged identical",
            counted=counted,
        )
    comparison = _classify_machines(base, new, threshold=threshold)
    if counted and comparison.thresholds is None:
        return dataclasses.replace(comparison, counted=True)
    b, n = side(base), side(new)
    stacks = differing(b, n, STACK_FIELDS)
    if counted:
        return _counted(comparison, _named(b, n, stacks) if stacks else None, threshold=threshold)
    guard = all(f.measure is Measure.STEPS for f in base + new)
    comparison = dataclasses.replace(comparison, guard=guard, stacks_differ=bool(stacks))
    contended = [f for f in base + new if f.session.contention.contended]
    if contended:
        return dataclasses.replace(
            comparison,
            thresholds=None,
            contended=True,
            why=f"the machine was busy with other work while measuring {_runs_named(contended, among=base + new)}; "
            "speed is not judged from a contended run: rerun the bench on a quiet machine",
        )
    if guard and stacks:
        return dataclasses.replace(
            comparison,
            why=f"{comparison.why}; different stacks ({_named(b, n, stacks)}): the clock decides, wall over CPU is "
            "shown (a stack that spreads its step over more threads has a lower ratio without being faster)",
        )
    return comparison


def _counted(comparison: Comparison, stacks: str | None, *, threshold: float | None) -> Comparison:
    """Counts of one stack, judged on the count thresholds; of different stacks (named), not judged."""
    if stacks:
        # An instruction count sees work, not waiting, and has not been shown to track time between stacks (from the
        # project's own data: tuned against book, JAX against TensorFlow, counts and the clock disagree).
        return dataclasses.replace(
            comparison,
            thresholds=None,
            counted=True,
            stacks_differ=True,
            why=(
                f"instructions counted on different stacks ({stacks}): a count sees work, not waiting, and is not a "
                "validated proxy for time across stacks; compare their speed timed (`mnist-ref ab --measure time`, "
                "or bench files measured with --bench-measure time)"
            ),
        )
    # Counts do not move with the machine's load, so neither interleaving nor a quiet machine matters.
    return dataclasses.replace(
        comparison,
        thresholds=_thresholds(INSTRUCTION_THRESHOLDS, threshold),
        counted=True,
        why=f"instructions counted by callgrind ({comparison.why}); the machine's load does not move them",
    )


def _classify_machines(base: list[BenchFile], new: list[BenchFile], *, threshold: float | None) -> Comparison:
    b, n = side(base), side(new)
    machine_diff = differing(b, n, MACHINE_FIELDS)
    if not machine_diff:
        sessions = {f.session.ab_session for f in base + new}
        if len(sessions) == 1 and None not in sessions:
            return Comparison(
                Machines.INTERLEAVED,
                _thresholds(INTERLEAVED_THRESHOLDS, threshold),
                "both sides interleaved in one `mnist-ref ab` session",
            )
        return Comparison(
            Machines.SAME,
            _thresholds(SAME_MACHINE_THRESHOLDS, threshold),
            "same CPU model, cores and GPUs; separate runs",
        )
    why = "differs in " + ", ".join(f"{LABELS[f]} ({shown(b, f)} vs {shown(n, f)})" for f in machine_diff)
    cores = {e.usable_cores for e in b} | {e.usable_cores for e in n}
    # One count a side, both known and above 0; else (a side that varies, or unknown) too different to compare.
    counts = sorted(c for c in cores if c)
    one_a_side = len({e.usable_cores for e in b}) == len({e.usable_cores for e in n}) == 1
    core_ratio = counts[-1] / counts[0] if one_a_side and len(counts) == len(cores) else float("inf")
    if "arch" in machine_diff or "gpus" in machine_diff or core_ratio > MAX_CORE_RATIO:
        return Comparison(Machines.INCOMPARABLE, None, why + "; speed is not compared")
    return Comparison(Machines.DIFFERENT, _thresholds(CROSS_MACHINE_THRESHOLDS, threshold), why)


def mann_whitney_greater(new: list[float], base: list[float]) -> float | None:
    """One-sided p-value that new rounds take longer than base rounds (exact for small samples), or None
    when either side has fewer than 2 rounds."""
    if len(new) < 2 or len(base) < 2:
        return None
    from scipy.stats import mannwhitneyu

    method = "exact" if len(new) * len(base) <= 400 else "asymptotic"
    return float(mannwhitneyu(new, base, alternative="greater", method=method).pvalue)


def smallest_p(n_new: int, n_base: int) -> float:
    """The smallest one-sided p-value the exact Mann-Whitney test can give with these sample sizes (every new value
    above every base value): 1 / C(n_new + n_base, n_new); 1 when a side has fewer than 2 values (no test)."""
    if min(n_new, n_base) < 2:
        return 1.0
    return 1 / math.comb(n_new + n_base, n_new)


def fewest_a_side(alpha: float = ALPHA) -> int:
    """The fewest values a side with which the test can reach p < alpha at all (4 at 0.05: 1/70)."""
    n = 2
    while smallest_p(n, n) >= alpha:
        n += 1
    return n


@dataclasses.dataclass(frozen=True)
class PathVerdict:
    """One hot path of one case: medians, ratio, test and verdict."""

    key: CaseKey
    path: str
    base_median: float
    new_median: float
    base_rounds: int
    new_rounds: int
    base_spread: float | None
    new_spread: float | None
    p_slower: float | None
    p_faster: float | None
    threshold: float | None
    verdict: Verdict
    unit: str = "rounds"  # what the test compared: rounds, or per-process medians ("runs")
    quantity: Quantity = Quantity.SECONDS
    decides: bool = True  # False: shown beside the verdicts that decide (the clock within one stack's timed guard)
    interval: Ratio | None = None  # the clock of one interleaved session: the estimator's ratio and 95% interval

    @classmethod
    def of(cls, key: CaseKey, path: str, base: list[float], new: list[float], **judged) -> PathVerdict:
        """The verdict on two sides' values (rounds, or per-process medians): their medians, counts and spreads from
        the values, the rest (p values, threshold, verdict, ...) as judged."""
        return cls(
            key,
            path,
            statistics.median(base),
            statistics.median(new),
            len(base),
            len(new),
            rounds.spread(base),
            rounds.spread(new),
            **judged,
        )

    @property
    def ratio(self) -> float:
        """new median / base median: above 1 is slower."""
        return self.new_median / self.base_median


def judge_path(
    key: CaseKey,
    path: str,
    base: list[float],
    new: list[float],
    *,
    threshold: float,
    alpha: float = ALPHA,
    unit: str = "rounds",
    quantity: Quantity = Quantity.SECONDS,
    decides: bool = True,
) -> PathVerdict:
    """The performance verdict for one hot path: magnitude and consistency must agree. The times are positive
    and finite (the reader refuses anything else)."""
    ratio = statistics.median(new) / statistics.median(base)
    p_slower, p_faster = mann_whitney_greater(new, base), mann_whitney_greater(base, new)
    if ratio >= threshold:
        verdict = Verdict.SLOWER if p_slower is not None and p_slower < alpha else Verdict.NOISY
    elif ratio <= 1 / threshold:
        verdict = Verdict.FASTER if p_faster is not None and p_faster < alpha else Verdict.NOISY
    else:
        verdict = Verdict.NO_CHANGE
    return PathVerdict.of(
        key,
        path,
        base,
        new,
        p_slower=p_slower,
        p_faster=p_faster,
        threshold=threshold,
        verdict=verdict,
        unit=unit,
        quantity=quantity,
        decides=decides,
    )


def judge_clock(
    key: CaseKey, path: str, base: list[float], new: list[float], *, decides: bool = True
) -> PathVerdict | NotCompared:
    """The clock of one interleaved session on one path, per-process medians in repeat order: the estimator's ratio
    and interval decide (CLOCK_MIN_EFFECT, CLOCK_SAME_WITHIN); "cannot tell" is not judged (rerun with more
    processes)."""
    r = ratio.ratio(base, new, paired=len(base) == len(new) >= ratio.fewest_processes(paired=True))
    answer = r.answer(CLOCK_SAME_WITHIN)
    if answer is ratio.Answer.SLOWER and r.estimate >= CLOCK_MIN_EFFECT:
        verdict = Verdict.SLOWER
    elif answer is ratio.Answer.FASTER and r.estimate <= 1 / CLOCK_MIN_EFFECT:
        verdict = Verdict.FASTER
    elif answer is not ratio.Answer.CANNOT_TELL:
        verdict = Verdict.NO_CHANGE
    else:
        return NotCompared(
            key,
            path,
            f"cannot tell with {len(base)} and {len(new)} processes: {r.cell()} (Hodges-Lehmann, "
            f"exact 95%) spans 1 and reaches past +-{100 * CLOCK_SAME_WITHIN:.0f}%; rerun with more "
            "processes (--repeats)",
            decides,
            rerun=True,
        )
    return PathVerdict.of(
        key,
        path,
        base,
        new,
        p_slower=None,
        p_faster=None,
        threshold=CLOCK_MIN_EFFECT,
        verdict=verdict,
        unit="runs",
        quantity=Quantity.SECONDS,
        decides=decides,
        interval=r,
    )


def per_run_times(runs: Runs, path: str, quantity: Quantity = Quantity.SECONDS) -> list[list[float]]:
    """The round values of one path, per run (bench file) that measured it: times or counts, or wall over CPU."""
    if quantity is Quantity.WAITING:
        return [list(run[path].waiting) for run in runs if path in run and run[path].waiting]
    return [list(run[path].rounds) for run in runs if path in run and run[path].rounds]


def samples(base: list[list[float]], new: list[list[float]]) -> tuple[list[float], list[float], str]:
    """What the test compares: per-run medians when both sides have enough runs, else every round pooled."""
    if min(len(base), len(new)) >= MIN_RUNS_FOR_RUN_LEVEL:
        return [statistics.median(t) for t in base], [statistics.median(t) for t in new], "runs"
    return [x for t in base for x in t], [x for t in new for x in t], "rounds"


@dataclasses.dataclass(frozen=True)
class Finding:
    """A correctness observation: failed (hard) or shown (informational)."""

    key: CaseKey | str  # a case, or a description of what it concerns
    what: str
    failed: bool


@dataclasses.dataclass(frozen=True)
class NotCompared:
    """A case or path that was not judged, and why; blocking when it keeps the gate from passing."""

    key: CaseKey
    path: str  # a hot path, or "every path"
    why: str
    blocking: bool
    rerun: bool = False  # a rerun could judge it: a contended machine, too few processes (exit 5 rather than 2)


def _fit_info(runs: Runs) -> list[Info]:
    return [p["fit"].info for p in runs if "fit" in p]


def own_findings(key: CaseKey, new: Runs) -> list[Finding]:
    """What a new run shows about itself: divergence and the accuracy band (the floor has neither)."""
    findings = []
    if key.floor:
        return findings
    for info in _fit_info(new):
        # A counted or timed-guard run trains a bounded number of steps: no accuracy to judge.
        if info.diverged or (info.test_accuracy is None and not info.bounded):
            findings.append(Finding(key, "diverged: the loss became NaN or infinite", True))
        elif info.band and not (info.band[0] <= info.test_accuracy <= info.band[1]):
            findings.append(
                Finding(
                    key,
                    f"test accuracy {info.test_accuracy:.4f} outside the band [{info.band[0]:.3f}, {info.band[1]:.3f}]",
                    True,
                )
            )
    return findings


def correctness(key: CaseKey, base: Runs, new: Runs, *, identical_env: bool, env_diff: list[str]) -> list[Finding]:
    """Correctness findings for one case: band, divergence, first prediction, fingerprint."""
    findings = own_findings(key, new)
    base_classes = {p["predict_one"].info.predicted_class for p in base if "predict_one" in p}
    new_classes = {p["predict_one"].info.predicted_class for p in new if "predict_one" in p}
    if base_classes and new_classes and new_classes != base_classes:
        findings.append(
            Finding(
                key,
                f"first test image predicted {sorted(new_classes, key=str)}, baseline {sorted(base_classes, key=str)}",
                True,
            )
        )
    base_prints = {i.fingerprint for i in _fit_info(base)} - {None}
    new_prints = {i.fingerprint for i in _fit_info(new)} - {None}
    if base_prints and new_prints and new_prints != base_prints:
        short = ", ".join(sorted(p[:12] for p in new_prints))
        if identical_env:
            findings.append(Finding(key, f"weights changed ({short}) in an identical environment", True))
        else:
            findings.append(
                Finding(key, f"weights changed ({short}); environments differ in {', '.join(env_diff)}", False)
            )
    return findings


def oracle_findings(new: list[BenchFile]) -> list[Finding]:
    """A new run whose stack failed the oracle (one SGD step against the NumPy reference) is incorrect."""
    return [
        Finding(
            f"every case of {f.path.name}",
            "one SGD step DIFFERS from the NumPy reference in " + ", ".join(f.session.oracle.differs or ["?"]),
            True,
        )
        for f in new
        if f.session.oracle_failed
    ]


# How many contended runs the comparison line names with their reasons; the rest are counted.
CONTENDED_NAMED = 3


def _runs_named(files: list[BenchFile], *, among: list[BenchFile]) -> str:
    """'run-1.json (contended: ...)' for one file; for several, how many of those compared (among) and the first
    CONTENDED_NAMED with their reasons; each named with its folder where two compared files share a name (A/run-1.json,
    B/run-1.json)."""
    names = [f.path.name for f in among]
    shown = [
        f"{f.path.parent.name + '/' if names.count(f.path.name) > 1 else ''}{f.path.name} "
        f"({f.session.contention.describe()})"
        for f in files[:CONTENDED_NAMED]
    ]
    if len(files) == 1:
        return shown[0]
    more = f" and {len(files) - CONTENDED_NAMED} more" if len(files) > CONTENDED_NAMED else ""
    return f"{len(files)} of {len(among)} runs: " + ", ".join(shown) + more


@dataclasses.dataclass(frozen=True)
class Result:
    """Everything `mnist-ref compare` found."""

    comparison: Comparison
    base_env: Side
    new_env: Side
    paths: list[PathVerdict]
    findings: list[Finding]
    not_compared: list[NotCompared]
    perf_policy: str

    @property
    def correctness_failed(self) -> bool:
        """Whether any hard correctness finding was made."""
        return any(f.failed for f in self.findings)

    @property
    def slower(self) -> list[PathVerdict]:
        """Paths judged consistently slower beyond the threshold, by a verdict that decides."""
        return [p for p in self.paths if p.verdict is Verdict.SLOWER and p.decides]

    @property
    def unchecked(self) -> list[NotCompared]:
        """What the gate was asked to check and could not: the run cannot pass on it."""
        return [n for n in self.not_compared if n.blocking]

    @property
    def rerun_would_tell(self) -> bool:
        """Whether what blocks a pass is only what more processes could judge (not correctness, not a missing path)."""
        return bool(self.unchecked) and all(n.rerun for n in self.unchecked) and not self.correctness_failed

    @property
    def more_processes_would_tell(self) -> bool:
        """Whether adding processes to these could judge it: a rerun would, and no run already in it was contended
        (a contended run stays in the comparison, so only a rerun on a quiet machine can judge)."""
        return self.rerun_would_tell and not self.comparison.contended

    @property
    def exit_code(self) -> ExitCode:
        """The most severe outcome: 3 correctness, 1 slower (when the policy fails on it), 2 something that
        should have been checked was not, else 0."""
        return most_severe(
            EXIT_CORRECTNESS if self.correctness_failed else EXIT_OK,
            EXIT_PERFORMANCE if self.slower and self.perf_policy == "fail" else EXIT_OK,
            EXIT_USAGE if any(not n.rerun for n in self.unchecked) else EXIT_OK,
            EXIT_NOT_JUDGED if self.unchecked else EXIT_OK,
        )


def _per_file_cells(files: list[BenchFile]) -> list[dict[CaseKey, dict[str, Measured]]]:
    return [cells([f]) for f in files]


def _speed(
    key: CaseKey,
    path: str,
    base_runs,
    new_runs,
    *,
    thresholds,
    perf: str,
    why_not: str,
    alpha: float,
    quantity: Quantity = Quantity.SECONDS,
    decides: bool = True,
    contended: bool = False,
    clock: bool = False,
):
    """The verdict on one path's speed in one quantity, or why it was not compared (blocking when --perf would
    fail on it and the verdict would decide)."""
    blocks = perf == "fail" and decides
    in_base, in_new = any(path in r for r in base_runs), any(path in r for r in new_runs)
    label = "" if quantity in (Quantity.SECONDS, Quantity.INSTRUCTIONS) else f" ({quantity})"
    if not in_base:
        return NotCompared(key, path + label, "not in the baseline", False)
    if not in_new:
        return NotCompared(key, path + label, "measured in the baseline, missing from the new run", decides)
    b, n, unit = samples(per_run_times(base_runs, path, quantity), per_run_times(new_runs, path, quantity))
    if not b or not n:
        what = "CPU seconds a round (round_cpu_s)" if quantity is Quantity.WAITING else "round times (stats.data)"
        return NotCompared(key, path + label, f"no {what} to test", blocks)
    if perf == "off":
        return NotCompared(key, path + label, "speed not compared (policy off)", False)
    if not thresholds:
        return NotCompared(key, path + label, f"speed cannot be compared: {why_not}", blocks, rerun=contended)
    if smallest_p(len(n), len(b)) >= alpha:
        # Any verdict would be a guess: "no change" or "noisy" could hide a slowdown of any size.
        return NotCompared(
            key,
            path + label,
            f"cannot judge: {len(b)} baseline and {len(n)} new {unit}; the one-sided test "
            f"cannot reach p < {alpha:g} with fewer than {fewest_a_side(alpha)} a side",
            blocks,
            rerun=True,
        )
    if clock and quantity is Quantity.SECONDS and unit == "runs":
        return judge_clock(key, path, b, n, decides=decides)
    return judge_path(
        key, path, b, n, threshold=thresholds[path], alpha=alpha, unit=unit, quantity=quantity, decides=decides
    )


def _outcomes(
    key: CaseKey,
    path: str,
    base_runs,
    new_runs,
    comparison: Comparison,
    *,
    perf: str,
    alpha: float,
    clock_elsewhere: bool,
    clock_estimator: bool = True,
    clock_decides: bool = False,
) -> list:
    """One path's verdicts (or why not): one in counts or seconds; two for the timed guard, waiting and the clock."""
    clock = clock_estimator and comparison.machines is Machines.INTERLEAVED and not comparison.counted
    speed = functools.partial(
        _speed,
        key,
        path,
        base_runs,
        new_runs,
        thresholds=comparison.thresholds,
        perf=perf,
        alpha=alpha,
        contended=comparison.contended,
        clock=clock,
    )
    if comparison.counted:
        if clock_elsewhere and comparison.stacks_differ:
            why = "different stacks: their counts are shown, and the timed guard's clock decides"
            return [speed(why_not=why, quantity=Quantity.INSTRUCTIONS, decides=False)]
        return [speed(why_not=comparison.why, quantity=Quantity.INSTRUCTIONS)]
    # The NumPy floor is a control of the machine, timed in rounds too short for the clock to judge at the processes a
    # side that judge the fit: its clock is shown and never decides (a moved floor with a Keras change is a machine
    # that drifted, or another NumPy).
    control = key.floor and clock
    if not comparison.guard:
        return [speed(why_not=comparison.why, decides=not control)]
    within = not (comparison.stacks_differ or clock_decides)  # waiting decides; else the clock
    waiting = WAITING_THRESHOLDS if comparison.thresholds is not None else None
    return [
        speed(why_not=comparison.why, quantity=Quantity.WAITING, decides=within, thresholds=waiting),
        speed(why_not=comparison.why, quantity=Quantity.SECONDS, decides=not within and not control),
    ]


def _nothing_in_common(base, new, base_keys, new_keys) -> ReportError:
    """Nothing to compare, and nothing wrong with the new run on its own: a selection mistake (exit 2). A new run that
    is wrong on its own (a band missed, a divergence) goes on to its verdict instead: correctness before usage."""

    def listed(files, keys):
        cases = "; ".join(map(case_label, sorted(keys, key=case_order))) or "none"
        return f"{', '.join(f.path.name for f in files)}: {cases}"

    return ReportError(
        f"no case in common between the baseline ({listed(base, base_keys)}) and the new run "
        f"({listed(new, new_keys)}); run the same bench selection on both sides"
    )


@dataclasses.dataclass(frozen=True)
class Policy:
    """How a comparison judges, and what its verdicts do to the exit code.

    perf / perf_across_machines: what a slower path does (fail, warn, ignore) on one machine / across machines.
    threshold: one threshold for every path (--threshold), in place of the table the kind of comparison chooses;
    table: a whole threshold table in its place (the gate's validation judges one set of runs both ways).
    only_common: a baseline case missing from the new run does not block a pass. clock_elsewhere: counts of two stacks
    are shown and do not block a pass, because the clock judges them in the timed guard beside (`mnist-ref ab`).
    clock_estimator: the clock of one interleaved session is judged by the estimator (judge_clock); False for the
    validation studies made before it, whose pages stay as measured. clock_decides: timed-guard files are judged on
    the clock within one stack too (`mnist-ref ab --measure time`), wall over CPU shown beside; else wall over CPU
    decides within a stack and the clock across stacks."""

    perf: str = "fail"
    perf_across_machines: str = "warn"
    threshold: float | None = None
    table: dict[str, float] | None = None
    alpha: float = ALPHA
    only_common: bool = False
    clock_elsewhere: bool = False
    clock_estimator: bool = True
    clock_decides: bool = False


WARN_ONLY = Policy(
    perf="warn", perf_across_machines="warn", only_common=True
)  # history and `report`: shown, never failed


def _check_one_measure(base: list[BenchFile], new: list[BenchFile]) -> None:
    """ReportError when the two sides' files do not all hold one measure."""
    measures = {side: sorted({f.measure for f in files}) for side, files in (("baseline", base), ("new run", new))}
    if len(set(measures["baseline"] + measures["new run"])) > 1:
        raise ReportError(
            "the two sides measured different things (baseline: "
            + ", ".join(measures["baseline"])
            + "; new run: "
            + ", ".join(measures["new run"])
            + "): seconds and instruction counts are not "
            "compared; run both sides with the same --bench-measure"
        )


def compare(base: list[BenchFile], new: list[BenchFile], policy: Policy = Policy()) -> Result:  # noqa: B008 (frozen)
    """Match cases of the two sides and judge each under the policy; nothing is dropped: what is not judged is listed
    as not compared, and blocks a pass where the gate was asked to check it (a baseline case missing from the new run,
    unless only_common; a path whose speed could not be tested under a failing policy). Timed-guard files
    (--bench-measure steps) get two verdicts a path: wall over CPU (waiting), which decides within one stack, and the
    clock, which decides across stacks; the other is shown."""
    _check_one_measure(base, new)
    comparison = classify(base, new, threshold=policy.threshold)
    if policy.table is not None and comparison.thresholds is not None:
        comparison = dataclasses.replace(comparison, thresholds=dict(policy.table))
    base_env, new_env = side(base), side(new)
    env_diff = [LABELS[f] for f in differing(base_env, new_env, ENVIRONMENT_FIELDS)]
    base_cells, new_cells = _per_file_cells(base), _per_file_cells(new)
    base_keys = {k for c in base_cells for k in c}
    new_keys = {k for c in new_cells for k in c}
    own = [f for key in new_keys for f in own_findings(key, [c[key] for c in new_cells if key in c])]
    if not base_keys & new_keys and not any(f.failed for f in own):
        raise _nothing_in_common(base, new, base_keys, new_keys)
    perf = policy.perf_across_machines if comparison.across_machines else policy.perf
    verdicts, findings, not_compared = [], oracle_findings(new), []
    for key in sorted(base_keys | new_keys, key=case_order):
        base_runs = [c[key] for c in base_cells if key in c]
        new_runs = [c[key] for c in new_cells if key in c]
        if not new_runs:
            not_compared.append(
                NotCompared(key, "every path", "in the baseline, not measured by the new run", not policy.only_common)
            )
            continue
        if not base_runs:
            findings += own_findings(key, new_runs)
            not_compared.append(
                NotCompared(
                    key, "every path", "no baseline for this case (its band and divergence were checked)", False
                )
            )
            continue
        findings += correctness(key, base_runs, new_runs, identical_env=not env_diff, env_diff=env_diff)
        for outcome in _case_outcomes(key, base_runs, new_runs, comparison, perf=perf, policy=policy):
            (verdicts if isinstance(outcome, PathVerdict) else not_compared).append(outcome)
    return Result(comparison, base_env, new_env, verdicts, findings, not_compared, perf)


def _case_outcomes(key: CaseKey, base_runs, new_runs, comparison: Comparison, *, perf: str, policy: Policy) -> list:
    """Every path's verdicts (or why not) of one case both sides measured."""
    return [
        outcome
        for path in PATHS
        if any(path in r for r in base_runs + new_runs)
        for outcome in _outcomes(
            key,
            path,
            base_runs,
            new_runs,
            comparison,
            perf=perf,
            alpha=policy.alpha,
            clock_elsewhere=policy.clock_elsewhere,
            clock_estimator=policy.clock_estimator,
            clock_decides=policy.clock_decides,
        )
    ]


def counted(result: Result) -> bool:
    """Whether the comparison is of instruction counts rather than seconds."""
    return result.comparison.counted


@dataclasses.dataclass(frozen=True)
class Gate:
    """What `mnist-ref ab` decided, from its parts: the instruction counts (work) and the timed guard (waiting
    within one stack, the clock across stacks), each a Result; the most severe exit code wins."""

    parts: tuple[tuple[str, Result], ...]  # (what the part measured, its result)

    @property
    def exit_code(self) -> ExitCode:
        return most_severe(*(result.exit_code for _, result in self.parts))

    @property
    def rerun_would_tell(self) -> bool:
        return any(result.rerun_would_tell for _, result in self.parts)

    @property
    def more_processes_would_tell(self) -> bool:
        return any(result.more_processes_would_tell for _, result in self.parts)

    @property
    def deciding(self) -> list[PathVerdict]:
        """The verdicts that decide, every part's."""
        return [v for _, result in self.parts for v in result.paths if v.decides]


def judge_ab(written: list[dict[str, list[Path]]], *, guard: bool, counting: bool, policy: Policy) -> Result | Gate:
    """`mnist-ref ab`'s verdict on exactly the runs its session wrote (phase by phase, A and B): the counts or seconds,
    and with a timed guard a Gate of both parts."""
    sides = [[[load_bench(p) for p in phase[name]] for name in ("A", "B")] for phase in written]
    result = compare(*sides[0], dataclasses.replace(policy, clock_elsewhere=guard, clock_decides=not counting))
    if not guard:
        return result
    what = "instruction counts (work)" if counting else "seconds"
    return Gate(((what, result), ("timed guard (waiting; the clock across stacks)", compare(*sides[1], policy))))
