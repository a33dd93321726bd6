"""Same-machine A/B runs: the bench suite of two environments, interleaved A B A B ..., one process each.

Drift on a shared machine (other tenants, thermal state, page cache) moves whole processes by up to 25%
here; interleaving makes it hit both sides alike, so the comparator can use a tight threshold.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mnist_ref import interrupts
from mnist_ref.errors import ConfigError

SESSION_ENV = "MNIST_REF_AB_SESSION"  # recorded by bench/conftest.py in the JSON's mnist_ref block
# The default selection: the book's batch-32 fit (one warm-up and 4 timed epochs per process) and the NumPy
# floor, which no Keras change should move (a control).
DEFAULT_BENCH_ARGS = ("--bench-smoke", "--bench-modes", "book", "--bench-devices", "cpu", "-k", "fit")
# Processes per side by default: the comparator tests per-process medians from 4 a side (about 40 s a
# process here, so a default run takes 5-6 minutes on 2 cores); results/gate-validation.md measures it.
DEFAULT_REPEATS = 4
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


def schedule(arms: list[Arm], repeats: int, *, alternate: bool = True) -> list[tuple[int, Arm]]:
    """(repeat index, arm), every arm once per repeat; with alternate, the order reversed every other repeat
    (A B B A A B ...): the second process of a pair ran slower than the first on average here, so each side
    takes each place equally often."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}")
    return [(i, a) for i in range(1, repeats + 1) for a in (arms[::-1] if alternate and i % 2 == 0 else arms)]


def _command(a: Arm, json_path: Path) -> list[str]:
    return [*a.prefix, a.python, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider", "-q",
            f"--benchmark-json={json_path}", *a.bench_args]


def run_interleaved(arms: list[Arm], *, repeats: int, out_dir: Path, session: str | None = None, alternate: bool = True,
                    progress: Callable[[str], None] = print) -> dict[str, list[Path]]:
    """Run every arm's bench `repeats` times, interleaved; JSON to out_dir/<arm>/run-<i>.json and each
    process's output to run-<i>.log. A failed process stops the run (ConfigError naming its log)."""
    session = session or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    env = {**os.environ, SESSION_ENV: session}
    written: dict[str, list[Path]] = {a.name: [] for a in arms}
    plan = schedule(arms, repeats, alternate=alternate)
    start = time.perf_counter()
    for done, (index, a) in enumerate(plan):
        folder = out_dir / a.name
        folder.mkdir(parents=True, exist_ok=True)
        json_path, log_path = folder / f"run-{index}.json", folder / f"run-{index}.log"
        with open(log_path, "wb") as log:
            code = interrupts.run_child(_command(a, json_path), env=env, cwd=a.root, timeout_s=PROCESS_TIMEOUT_S, log=log)
        if code != 0 or not json_path.is_file():
            raise ConfigError(f"{a.name} run {index} failed (exit {code}); see {log_path}")
        written[a.name].append(json_path)
        elapsed = time.perf_counter() - start
        left = elapsed / (done + 1) * (len(plan) - done - 1)
        progress(f"[{done + 1}/{len(plan)}] {a.name} run {index} done; {elapsed:.0f} s elapsed, about {left:.0f} s left")
    return written


def default_out_dir() -> Path:
    """results/ab/<UTC time>/ (git-ignored)."""
    return Path("results") / "ab" / datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def this_python() -> str:
    """The interpreter running mnist-ref now: the default A side."""
    return sys.executable
