"""Same-machine A/B runs: the bench suite of two environments, one process each, repeated.

By default the bench counts instructions (--bench-measure instructions): a count does not move with the machine's load,
so A and B of each repeat run at once, one on each core; one process a side suffices (results/steady-validation.md). A
count sees work, not waiting, so a timed guard follows: short processes (--bench-measure steps) interleaved one at a
time, whose wall over CPU seconds shows a step that waits, and whose clock judges two different stacks
(results/waiting-validation.md). With --measure time the runs are timed 300-step rounds of every path (--bench-measure
steps), interleaved A B B A ..., one at a time: drift on a shared machine (other tenants, thermal state, page cache)
moves whole processes by up to 1.5x here, and interleaving makes it hit both sides alike; the clock is judged by
gate/ratio.py's estimator (results/clock-validation.md), with processes added where it cannot tell.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mnist_ref.gate import compare
from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.store import files
from mnist_ref.store.measures import Measure

SESSION_ENV = "MNIST_REF_AB_SESSION"  # recorded by bench/conftest.py in the JSON's mnist_ref block


def bench_args(
    *, mode: str | None = "book", select: str | None = "fit", measure: Measure | None = None
) -> tuple[str, ...]:
    """The bench options of one process of `ab` or of a study: the smoke data set on the CPU, in one mode (None: the
    arm adds its own), one `-k` selection (None: every path), one measure (None: the bench's default, or ab's choice).
    """
    return (
        "--bench-smoke",
        *(("--bench-modes", mode) if mode else ()),
        "--bench-devices",
        "cpu",
        *(("-k", select) if select else ()),
        *(("--bench-measure", measure.value) if measure else ()),
    )


# The default selection: the book's batch-32 fit (one warm-up and the timed epochs per process) and the NumPy
# floor, which no Keras change should move (a control).
DEFAULT_BENCH_ARGS = bench_args()
# ab's --measure, and what each side's bench measures for it (store.measures): counts, or the clock of 300-step rounds
# of every path (about 20 s a process, most of it start-up, so the budget goes to more processes than longer ones).
BENCH_MEASURE = {"instructions": Measure.INSTRUCTIONS, "time": Measure.STEPS}
MEASURES = tuple(BENCH_MEASURE)
# Processes per side by default, per measure. Counting: 1 (the count repeats to a fraction of a percent between
# processes: one a side called every A/A and every level right in results/steady-validation.md; 2-4 minutes a process
# under callgrind, both sides at once). Timing: 8 a side, paired by repeat (the estimator's paired interval needs 6;
# results/clock-validation.md measures its width and coverage at 8, 16 and 20), one process at a time; where the
# clock still cannot tell, TIME_STEP more a side, up to TIME_BUDGET.
DEFAULT_REPEATS = {"instructions": 1, "time": 8}
TIME_STEP = 4
TIME_BUDGET = 16
# Timed-guard processes per side after the counts (--bench-measure steps, about 15 s each, one at a time): 4 a side is
# the fewest with which the one-sided test on per-process medians can reach p < 0.05.
GUARD_REPEATS = 4
GUARD_FOLDER = "guard"
# The most processes a side (or cycles of a study) one command plans: 200 timed processes of about 15 s are most of a
# day of this machine; more is a typo, refused before the plan is built.
MAX_REPEATS = 200
# One bench process may not take longer than this; a hung one is stopped and the run fails.
PROCESS_TIMEOUT_S = 900


@dataclasses.dataclass(frozen=True)
class Arm:
    """One side of an interleaved run: an interpreter with mnist-ref installed, and how to call it."""

    name: str
    python: str
    root: Path  # the checkout whose bench/ this interpreter runs
    bench_args: tuple[str, ...] = DEFAULT_BENCH_ARGS
    prefix: tuple[str, ...] = ()  # e.g. ("taskset", "-c", "0")
    script: str | None = None  # a script of root run instead of the bench: `python SCRIPT --json PATH BENCH_ARGS...`


def resolve_python(spec: str) -> str:
    """A Python interpreter from a path: the interpreter itself, a virtualenv or tox env folder, or a
    checkout holding .venv; ConfigError naming what was looked for."""
    path = Path(spec).expanduser()
    candidates = [path] if path.is_file() else [path / "bin" / "python", path / ".venv" / "bin" / "python"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ConfigError(
        f"{spec}: not a Python interpreter, a virtualenv (bin/python) or a checkout with .venv; "
        "pass e.g. .tox/tf220 or ../other-checkout"
    )


PROBE_MARK = "mnist-ref-root:"


def project_root(python: str) -> Path:
    """The checkout an interpreter's mnist_ref is installed from (editable install), whose bench/ it runs."""
    probe = (
        f"import mnist_ref, pathlib; print({PROBE_MARK!r}, pathlib.Path(mnist_ref.__file__).resolve().parent.parent)"
    )
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        raise ConfigError(
            f"{python}: cannot import mnist_ref; install the project there with `pip install -e .`"
        ) from None
    said = out.stdout.strip()
    if not said.startswith(PROBE_MARK + " "):
        # Anything that exits 0 without running the probe (/bin/true, a shell script) is not an interpreter.
        raise ConfigError(
            f"{python}: not a Python interpreter (it did not run `python -c`); pass a virtualenv, a tox env "
            "folder or its bin/python"
        )
    root = Path(said.removeprefix(PROBE_MARK + " "))
    if not (root / "bench" / "conftest.py").is_file():
        raise ConfigError(
            f"{python}: mnist_ref comes from {root}, which has no bench/; use an editable install (`pip install -e .`)"
        )
    return root


def arm(name: str, spec: str, *, bench_args: tuple[str, ...] = DEFAULT_BENCH_ARGS) -> Arm:
    """An Arm from a user's interpreter, virtualenv or checkout."""
    python = resolve_python(spec)
    return Arm(name, python, project_root(python), tuple(bench_args))


def check_repeats(repeats: int, *, guard: int = GUARD_REPEATS, option: str = "--repeats") -> None:
    """ConfigError unless there is at least one process a side and at most MAX_REPEATS (option names the flag the user
    typed), and a guard of none or of 4 to MAX_REPEATS a side (fewer could never call a step slower)."""
    if not 1 <= repeats <= MAX_REPEATS:
        raise ConfigError(f"{option} takes 1 to {MAX_REPEATS} processes a side, got {repeats}")
    if guard != 0 and not GUARD_REPEATS <= guard <= MAX_REPEATS:
        raise ConfigError(
            f"--guard-repeats takes 0 (no timed guard: waiting goes unseen) or {GUARD_REPEATS} to {MAX_REPEATS}, "
            f"got {guard}"
        )


def guard_arm(a: Arm) -> Arm:
    """The timed guard's arm for a counting one: the same selection and extras, measured in steps."""
    args = list(a.bench_args)
    if "--bench-measure" in args:
        i = args.index("--bench-measure")
        del args[i : i + 2]
    return dataclasses.replace(a, bench_args=(*args, "--bench-measure", Measure.STEPS.value))


def schedule(
    arms: list[Arm],
    repeats: int,
    *,
    alternate: bool = True,
    rotate: bool = False,
    shuffle: int | None = None,
    first: int = 1,
) -> list[tuple[int, Arm]]:
    """(repeat index, arm), every arm once per repeat; with alternate, the order reversed every other repeat
    (A B B A A B ...): the second process of a pair ran slower than the first on average here, so each side
    takes each place equally often. With rotate, repeat i starts at arm i (A B C, B C A, C A B, ...): with many
    arms, each takes each place. With shuffle (a seed), every repeat is a round in a fresh random order (randomized
    multiple interleaved trials: drift within a round falls on no arm in particular)."""
    check_repeats(repeats, guard=0)
    indices = range(first, first + repeats)
    if shuffle is not None:
        import random

        rng = random.Random(shuffle)
        return [(i, a) for i in indices for a in rng.sample(arms, len(arms))]
    if rotate:
        return [(i, a) for i in indices for a in arms[(i - 1) % len(arms) :] + arms[: (i - 1) % len(arms)]]
    return [(i, a) for i in indices for a in (arms[::-1] if alternate and i % 2 == 0 else arms)]


def _command(a: Arm, json_path: Path) -> list[str]:
    if a.script:
        return [*a.prefix, a.python, a.script, "--json", str(json_path), *a.bench_args]
    return [
        *a.prefix,
        a.python,
        "-m",
        "pytest",
        "bench",
        "--benchmark-only",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--benchmark-json={json_path}",
        *a.bench_args,
    ]


def _run_group(group: list[tuple[int, Arm]], out_dir: Path, env: dict[str, str]) -> list[tuple[str, Path]]:
    """One group of processes at once, each writing out_dir/<arm>/run-<i>.json and .log: (arm, JSON) of each; a
    failed process, or one that wrote no JSON, is a ConfigError naming its log."""
    paths = []
    for index, a in group:
        folder = out_dir / a.name
        folder.mkdir(parents=True, exist_ok=True)
        paths.append((folder / f"run-{index}.json", folder / f"run-{index}.log"))
    logs = [open(log_path, "wb") for _, log_path in paths]
    try:
        codes = interrupts.run_children(
            [
                (_command(a, json_path), log, a.root)
                for (_, a), (json_path, _), log in zip(group, paths, logs, strict=True)
            ],
            env=env,
            timeout_s=PROCESS_TIMEOUT_S,
        )
    finally:
        for log in logs:
            log.close()
    for (index, a), (json_path, log_path), code in zip(group, paths, codes, strict=True):
        if code != 0:
            raise ConfigError(
                f"{a.name} run {index} failed (exit {code}): {cause(log_path)}; full output in {log_path}"
            )
        if not json_path.is_file():
            raise ConfigError(
                f"{a.name} run {index} ended (exit 0) without writing {json_path}: do --bench-args or --b-extra "
                f"set their own --benchmark-json? full output in {log_path}"
            )
    return [(a.name, json_path) for (_, a), (json_path, _) in zip(group, paths, strict=True)]


def run_interleaved(
    arms: list[Arm],
    *,
    repeats: int,
    out_dir: Path,
    session: str | None = None,
    alternate: bool = True,
    rotate: bool = False,
    shuffle: int | None = None,
    together: int = 1,
    first: int = 1,
    progress: Callable[[str], None] = print,
) -> dict[str, list[Path]]:
    """Run every arm's bench `repeats` times, interleaved, `together` processes at once (more than one only
    for instruction counts, which another process does not move); JSON to out_dir/<arm>/run-<i>.json and
    each process's output to run-<i>.log. A failed process stops the run (ConfigError naming its log)."""
    session = session or files.stamp()
    env = {**os.environ, SESSION_ENV: session}
    written: dict[str, list[Path]] = {a.name: [] for a in arms}
    plan = schedule(arms, repeats, alternate=alternate, rotate=rotate, shuffle=shuffle, first=first)
    groups = [plan[i : i + together] for i in range(0, len(plan), together)]
    start, done = time.perf_counter(), 0
    for group in groups:
        for name, path in _run_group(group, out_dir, env):
            written[name].append(path)
        done += len(group)
        elapsed = time.perf_counter() - start
        left = elapsed / done * (len(plan) - done)
        names = " and ".join(f"{a.name} run {index}" for index, a in group)
        progress(f"[{done}/{len(plan)}] {names} done; {elapsed:.0f} s elapsed, about {left:.0f} s left")
    return written


def cause(log_path: Path) -> str:
    """The line of a failed bench process's output that says why: pytest's ERROR line, the last exception, or the last
    line it printed."""
    try:
        return cause_of(log_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return "no output"


def cause_of(output: str) -> str:
    """cause() of a process's output as text: argparse's "error:" line first (an unknown option), not pytest's usage."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    usage = [line for line in lines if ": error: " in line]
    said = usage or [
        line
        for line in lines
        if (line.startswith(("ERROR:", "E ")) and not line.startswith("ERROR: usage:"))
        or "Error:" in line
        or "Exit:" in line
    ]
    line = re.sub(r"^!?\s*_pytest\.outcomes\.Exit:\s*", "", (said or lines or ["no output"])[-1]).rstrip(" !")
    return line if len(line) <= 240 else line[:237] + "..."


def check_out_dir(out_dir: Path, *, default: str = "results/ab/<time>/") -> None:
    """ConfigError unless out_dir is new or an empty folder: runs already there would be taken for this session's."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir} is a file; name a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        held = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
        listed = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise ConfigError(
            f"--out-dir {out_dir} already holds {listed or 'folders'} from an earlier session; "
            f"name a new or empty folder (the default is {default})"
        )


def check_no_measure(option: str, args: list[str]) -> None:
    """ConfigError when pytest arguments given to ab choose the measure themselves: ab's --measure does, for both
    sides."""
    if any(arg == "--bench-measure" or arg.startswith("--bench-measure=") for arg in args):
        raise ConfigError(
            f"{option} sets --bench-measure; ab chooses the measure of both sides: pass --measure instead"
        )


def check_bench_args(arms: list[Arm]) -> None:
    """ConfigError, before any run, when an arm's pytest arguments cannot run: a pytest option is unknown or a value is
    refused, or they select no case. Each arm's bench is configured and collected once, timed (the last
    --bench-measure wins, so counting does not start Valgrind), without measuring: a few seconds of imports."""
    for a in arms:
        command = [
            *a.prefix,
            a.python,
            "-m",
            "pytest",
            "bench",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *a.bench_args,
            "--bench-measure",
            "time",
        ]
        try:
            proc = subprocess.run(command, cwd=a.root, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"{a.name}: its bench could not start ({exc})") from None
        if proc.returncode == 5:
            raise ConfigError(
                f"{a.name}: its bench arguments select no case ({' '.join(a.bench_args)}); check -k and --bench-*"
            )
        if proc.returncode != 0:
            raise ConfigError(f"{a.name}: its bench arguments are refused: {cause_of(proc.stdout + proc.stderr)}")


def check_measure(measure: str) -> None:
    """ConfigError when the measure cannot be taken here (instruction counts need valgrind)."""
    if BENCH_MEASURE[measure].counted and shutil.which("valgrind") is None:
        raise ConfigError(
            "mnist-ref ab counts instructions under valgrind, which is not installed "
            "(Debian/Ubuntu: apt-get install valgrind); or pass --measure time"
        )


def default_out_dir() -> Path:
    """results/ab/<UTC time>/ (git-ignored)."""
    return Path("results") / "ab" / files.stamp()


def this_python() -> str:
    """The interpreter running mnist-ref now: the default A side."""
    return sys.executable


@dataclasses.dataclass(frozen=True)
class Request:
    """What `mnist-ref ab` was asked: the two sides, the measure and its processes, where the runs and the report go,
    and the pytest arguments of both sides (and of B alone)."""

    b: str
    a: str | None = None
    measure: str = MEASURES[0]
    repeats: int | None = None
    guard_repeats: int | None = None
    out_dir: Path | None = None
    out: Path | None = None
    bench_args: str = " ".join(DEFAULT_BENCH_ARGS)
    b_extra: str = ""


@dataclasses.dataclass(frozen=True)
class Plan:
    """A Request checked and resolved: the arms, processes a side, the timed guard's, and the paths."""

    arms: tuple[Arm, Arm]
    repeats: int
    guard: int
    out_dir: Path
    out: Path
    measure: Measure = Measure.INSTRUCTIONS  # what each side's bench measures
    session: str = ""
    budget: int = 0  # timed: processes a side the clock may grow to where it cannot tell

    @property
    def counting(self) -> bool:
        return self.measure.counted

    @property
    def inputs(self) -> list[Path]:
        """The run folders, which the report may not overwrite."""
        return [self.out_dir / "A", self.out_dir / "B", *([self.out_dir / GUARD_FOLDER] * bool(self.guard))]

    def describe(self) -> str:
        how = "counting instructions, A and B at once" if self.counting else "timing, interleaved"
        then = f", then {self.guard} timed-guard runs per side (interleaved)" if self.guard else ""
        return (
            f"{self.repeats} bench runs per side ({how}){then} into {self.out_dir}: A = {self.arms[0].python}, "
            f"B = {self.arms[1].python}"
        )


def plan(request: Request) -> Plan:
    """Everything that can be refused, refused before the first process starts: counts, the measure, the folder, the
    report's path, both interpreters and both sides' bench arguments."""
    import shlex

    counting = BENCH_MEASURE[request.measure].counted
    if request.guard_repeats is not None and not counting:
        raise ConfigError(
            f"--guard-repeats {request.guard_repeats}: the timed guard follows instruction counts only; "
            "with --measure time every process is timed already (use --repeats)"
        )
    repeats = DEFAULT_REPEATS[request.measure] if request.repeats is None else request.repeats
    guard = (GUARD_REPEATS if request.guard_repeats is None else request.guard_repeats) if counting else 0
    check_repeats(repeats, guard=guard)
    check_measure(request.measure)
    out_dir = Path(request.out_dir or default_out_dir())
    check_out_dir(out_dir)
    out = Path(request.out or out_dir / "compare.md")
    check_report_path(out, out_dir=out_dir)
    shared, extra = shlex.split(request.bench_args), shlex.split(request.b_extra)
    check_no_measure("--bench-args", shared)
    check_no_measure("--b-extra", extra)
    measured = (*shared, "--bench-measure", BENCH_MEASURE[request.measure].value)
    arms = (
        arm("A", request.a or this_python(), bench_args=measured),
        arm("B", request.b, bench_args=(*measured, *extra)),
    )
    check_bench_args(list(arms))
    return Plan(
        arms,
        repeats,
        guard,
        out_dir,
        out,
        BENCH_MEASURE[request.measure],
        files.stamp(),
        0 if counting else max(repeats, TIME_BUDGET),
    )


def check_report_path(out: Path, *, out_dir: Path) -> None:
    """ConfigError when the report path cannot be written: a folder, a run folder of out_dir or below one, or below a
    folder that is not writable (told before minutes of runs, not after)."""
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name a markdown file")
    runs = [Path(out_dir).resolve() / name for name in ("A", "B", GUARD_FOLDER)]
    if any(run == out.resolve() or run in out.resolve().parents for run in runs):
        raise ConfigError(f"--out {out} is a run folder of --out-dir or inside one; name a file beside them")
    existing = next(p for p in [out.parent, *out.parent.parents] if p.exists() or p == Path(p.anchor))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: cannot write below {existing}; choose another path for the markdown report")


def collect(p: Plan, *, progress: Callable[[str], None] = print) -> list[dict[str, list[Path]]]:
    """The runs of a plan, phase by phase (the counts or seconds, then the timed guard), under one session name."""
    phases = [(p.out_dir, list(p.arms), p.repeats, 2 if p.counting else 1)]
    if p.guard:
        phases.append((p.out_dir / GUARD_FOLDER, [guard_arm(a) for a in p.arms], p.guard, 1))
    return [
        run_interleaved(arms, repeats=repeats, out_dir=folder, together=together, session=p.session, progress=progress)
        for folder, arms, repeats, together in phases
    ]


def run(p: Plan, policy: compare.Policy, *, progress: Callable[[str], None] = print):
    """Collect the plan's runs and judge them under the policy (compare.judge_ab); timed, while the clock cannot tell
    and the budget allows, TIME_STEP more processes a side, interleaved as before (Pinpoint's way: attempts are added
    where a comparison is still unknown), unless a run was contended: that run stays in, so no number of added ones
    could judge it. Returns (verdict, every file written)."""
    judge = functools.partial(compare.judge_ab, guard=bool(p.guard), counting=p.counting, policy=policy)
    written = collect(p, progress=progress)
    result = judge(written)
    while not p.counting and result.more_processes_would_tell and len(written[0]["A"]) < p.budget:
        done = len(written[0]["A"])
        more = min(TIME_STEP, p.budget - done)
        progress(f"the clock cannot tell yet with {done} processes a side: {more} more a side (budget {p.budget})")
        extra = run_interleaved(
            list(p.arms), repeats=more, first=done + 1, out_dir=p.out_dir, session=p.session, progress=progress
        )
        written[0] = {name: written[0][name] + extra[name] for name in written[0]}
        result = judge(written)
    if not p.counting and result.rerun_would_tell and not result.more_processes_would_tell:
        progress("a run was contended: more processes cannot judge this comparison; rerun on a quiet machine")
    return result, [path for phase in written for paths in phase.values() for path in paths]
