"""Same-machine A/B runs: the bench suite of two environments, one process each, repeated.

By default the bench counts instructions (--bench-measure instructions): a count does not move with the
machine's load, so A and B of each repeat run at once, one on each core; one process a side suffices
(results/steady-validation.md). A count sees work, not waiting, so a timed guard follows: short processes
(--bench-measure steps) interleaved one at a time, whose wall over CPU seconds shows a step that waits, and whose
clock judges two different stacks (results/waiting-validation.md). With --measure time the runs are the full
workload, interleaved A B A B ..., one at a time: drift on a shared machine (other tenants, thermal state, page
cache) moves whole processes by up to 1.5x here, and interleaving makes it hit both sides alike.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.store import files

SESSION_ENV = "MNIST_REF_AB_SESSION"  # recorded by bench/conftest.py in the JSON's mnist_ref block
# The default selection: the book's batch-32 fit (one warm-up and the timed epochs per process) and the NumPy
# floor, which no Keras change should move (a control).
DEFAULT_BENCH_ARGS = ("--bench-smoke", "--bench-modes", "book", "--bench-devices", "cpu", "-k", "fit")
MEASURES = ("instructions", "time")
# Processes per side by default, per measure. Counting: 1 (the count repeats to a fraction of a percent between
# processes: one a side called every A/A and every level right in results/steady-validation.md; 2-4 minutes a process
# under callgrind, both sides at once). Timing: the comparator tests per-process medians from 4 a side (about 40 s a
# process here, one at a time, so 5-6 minutes on 2 cores). results/gate-validation.md measures both.
DEFAULT_REPEATS = {"instructions": 1, "time": 4}
# Timed-guard processes per side after the counts (--bench-measure steps, about 15 s each, one at a time): 4 a side is
# the fewest with which the one-sided test on per-process medians can reach p < 0.05.
GUARD_REPEATS = 4
GUARD_FOLDER = "guard"
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


def resolve_python(spec: str) -> str:
    """A Python interpreter from a path: the interpreter itself, a virtualenv or tox env folder, or a
    checkout holding .venv; ConfigError naming what was looked for."""
    path = Path(spec).expanduser()
    candidates = [path] if path.is_file() else [path / "bin" / "python", path / ".venv" / "bin" / "python"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ConfigError(f"{spec}: not a Python interpreter, a virtualenv (bin/python) or a checkout with .venv; "
                      "pass e.g. .tox/tf220 or ../other-checkout")


def project_root(python: str) -> Path:
    """The checkout an interpreter's mnist_ref is installed from (editable install), whose bench/ it runs."""
    probe = "import mnist_ref, pathlib; print(pathlib.Path(mnist_ref.__file__).resolve().parent.parent)"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        raise ConfigError(f"{python}: cannot import mnist_ref; install the project there with `pip install -e .`") from None
    root = Path(out.stdout.strip())
    if not (root / "bench" / "conftest.py").is_file():
        raise ConfigError(f"{python}: mnist_ref comes from {root}, which has no bench/; use an editable install (`pip install -e .`)")
    return root


def arm(name: str, spec: str, *, bench_args: tuple[str, ...] = DEFAULT_BENCH_ARGS) -> Arm:
    """An Arm from a user's interpreter, virtualenv or checkout."""
    python = resolve_python(spec)
    return Arm(name, python, project_root(python), tuple(bench_args))


def check_repeats(repeats: int, *, guard: int = GUARD_REPEATS) -> None:
    """ConfigError unless there is at least one process a side, and a guard of none or of at least 4 a side (fewer
    could never call a step slower)."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    if guard != 0 and guard < GUARD_REPEATS:
        raise ConfigError(f"--guard-repeats takes 0 (no timed guard: waiting goes unseen) or at least {GUARD_REPEATS}, got {guard}")


def guard_arm(a: Arm) -> Arm:
    """The timed guard's arm for a counting one: the same selection and extras, measured in steps."""
    args = list(a.bench_args)
    if "--bench-measure" in args:
        i = args.index("--bench-measure")
        del args[i:i + 2]
    return dataclasses.replace(a, bench_args=(*args, "--bench-measure", "steps"))


def schedule(arms: list[Arm], repeats: int, *, alternate: bool = True, rotate: bool = False) -> list[tuple[int, Arm]]:
    """(repeat index, arm), every arm once per repeat; with alternate, the order reversed every other repeat
    (A B B A A B ...): the second process of a pair ran slower than the first on average here, so each side
    takes each place equally often. With rotate, repeat i starts at arm i (A B C, B C A, C A B, ...): with many
    arms, each takes each place."""
    check_repeats(repeats)
    if rotate:
        return [(i, a) for i in range(1, repeats + 1) for a in arms[(i - 1) % len(arms):] + arms[:(i - 1) % len(arms)]]
    return [(i, a) for i in range(1, repeats + 1) for a in (arms[::-1] if alternate and i % 2 == 0 else arms)]


def _command(a: Arm, json_path: Path) -> list[str]:
    return [*a.prefix, a.python, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider", "-q",
            f"--benchmark-json={json_path}", *a.bench_args]


def run_interleaved(arms: list[Arm], *, repeats: int, out_dir: Path, session: str | None = None, alternate: bool = True,
                    rotate: bool = False, together: int = 1, progress: Callable[[str], None] = print) -> dict[str, list[Path]]:
    """Run every arm's bench `repeats` times, interleaved, `together` processes at once (more than one only
    for instruction counts, which another process does not move); JSON to out_dir/<arm>/run-<i>.json and
    each process's output to run-<i>.log. A failed process stops the run (ConfigError naming its log)."""
    session = session or files.stamp()
    env = {**os.environ, SESSION_ENV: session}
    written: dict[str, list[Path]] = {a.name: [] for a in arms}
    plan = schedule(arms, repeats, alternate=alternate, rotate=rotate)
    groups = [plan[i:i + together] for i in range(0, len(plan), together)]
    start, done = time.perf_counter(), 0
    for group in groups:
        paths = []
        for index, a in group:
            folder = out_dir / a.name
            folder.mkdir(parents=True, exist_ok=True)
            paths.append((folder / f"run-{index}.json", folder / f"run-{index}.log"))
        logs = [open(log_path, "wb") for _, log_path in paths]
        try:
            codes = interrupts.run_children([(_command(a, json_path), log, a.root) for (_, a), (json_path, _), log in zip(group, paths, logs, strict=True)],
                                            env=env, timeout_s=PROCESS_TIMEOUT_S)
        finally:
            for log in logs:
                log.close()
        for (index, a), (json_path, log_path), code in zip(group, paths, codes, strict=True):
            if code != 0:
                raise ConfigError(f"{a.name} run {index} failed (exit {code}): {cause(log_path)}; full output in {log_path}")
            if not json_path.is_file():
                raise ConfigError(f"{a.name} run {index} ended (exit 0) without writing {json_path}: do --bench-args or --b-extra "
                                  f"set their own --benchmark-json? full output in {log_path}")
            written[a.name].append(json_path)
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
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    said = [line for line in lines if line.startswith(("ERROR:", "E ")) or "Error:" in line or "Exit:" in line]
    line = re.sub(r"^!?\s*_pytest\.outcomes\.Exit:\s*", "", (said or lines or ["no output"])[-1]).rstrip(" !")
    return line if len(line) <= 240 else line[:237] + "..."


def check_out_dir(out_dir: Path) -> None:
    """ConfigError unless out_dir is new or an empty folder: runs already there would be taken for this session's."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out-dir {out_dir} is a file; name a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        held = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
        listed = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise ConfigError(f"--out-dir {out_dir} already holds {listed or 'folders'} from an earlier session; "
                          "name a new or empty folder (the default is results/ab/<time>/)")


def check_measure(measure: str) -> None:
    """ConfigError when the measure cannot be taken here (instruction counts need valgrind)."""
    if measure == "instructions" and shutil.which("valgrind") is None:
        raise ConfigError("mnist-ref ab counts instructions under valgrind, which is not installed "
                          "(Debian/Ubuntu: apt-get install valgrind); or pass --measure time")


def default_out_dir() -> Path:
    """results/ab/<UTC time>/ (git-ignored)."""
    return Path("results") / "ab" / files.stamp()


def this_python() -> str:
    """The interpreter running mnist-ref now: the default A side."""
    return sys.executable
