"""Ctrl-C and SIGTERM as one exception, and child processes that never outlive their parent's run."""

from __future__ import annotations

import _thread
import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time

# Shell convention: 128 + the signal's number.
EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
# How long a child gets to finish after SIGTERM before it is killed.
CHILD_GRACE_S = 20.0
# Tests name a stage here to hold the process there until a signal arrives (or HOLD_MAX_S passes), so that
# they can interrupt it at a known point: data, fit, write, seed-N.
HOLD_ENV = "MNIST_REF_HOLD_AT"
HOLD_MAX_S = 120.0
# With this set to a file path, only the first process to reach the stage holds there, and writes its pid into
# that file (a test kills that process, and the rescheduled work must then pass the stage).
HOLD_ONCE_ENV = "MNIST_REF_HOLD_ONCE"
# How soon an interrupt that Python dropped is delivered again (long enough for the callback that dropped it to end).
REDELIVER_AFTER_S = 0.005


class Interrupted(KeyboardInterrupt):
    """Raised by the SIGTERM handler; a KeyboardInterrupt, so every cleanup path treats both alike."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def _raise(signum, frame):
    raise Interrupted(signum)


def _redeliver(unraisable, *, previous) -> None:
    """sys.unraisablehook: an interrupt that Python dropped (it was raised inside a gc callback, a __del__ or a weakref
    callback, where Python prints and forgets exceptions; JAX registers such a gc callback) is delivered again to the
    main thread, whose handler raises it at the next point where it can propagate. Anything else goes to previous."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        # From another thread, a moment later: delivered now, it would be raised inside this hook and dropped again.
        signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
        threading.Timer(REDELIVER_AFTER_S, _thread.interrupt_main, args=(signum,)).start()
        return
    previous(unraisable)


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises Interrupted in the main thread, as Ctrl-C raises KeyboardInterrupt, and neither can
    be swallowed: one raised where Python ignores exceptions is delivered again (_redeliver)."""
    signal.signal(signal.SIGTERM, _raise)
    hook = sys.unraisablehook
    if getattr(hook, "func", None) is not _redeliver:
        sys.unraisablehook = functools.partial(_redeliver, previous=hook)


def stage(name: str) -> None:
    """A point where tests may interrupt a run: when $MNIST_REF_HOLD_AT names it, say so on stderr and wait."""
    if os.environ.get(HOLD_ENV) != name:
        return
    once = os.environ.get(HOLD_ONCE_ENV)
    if once:
        try:
            fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
    sys.stderr.write(f"holding at {name}\n")
    sys.stderr.flush()
    time.sleep(HOLD_MAX_S)


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return EXIT_SIGTERM if getattr(exc, "signum", signal.SIGINT) == signal.SIGTERM else EXIT_SIGINT


def signal_name(exc: KeyboardInterrupt) -> str:
    """'SIGTERM' or 'Ctrl-C', for the one line the user sees."""
    return "SIGTERM" if exit_code(exc) == EXIT_SIGTERM else "Ctrl-C"


def stop(process: subprocess.Popen, *, grace_s: float = CHILD_GRACE_S) -> None:
    """End a child started with start_new_session=True and everything in its process group: SIGTERM,
    then SIGKILL after grace_s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_child(
    command: list[str], *, env: dict | None = None, cwd=None, timeout_s: float | None = None, log=None
) -> int:
    """Run a child in its own process group; on an interrupt (or past timeout_s) stop it and its group
    before the exception goes on. Returns its exit code (124 on timeout)."""
    return run_children([(command, log, cwd)], env=env, timeout_s=timeout_s)[0]


def run_children(
    jobs: list[tuple[list[str], object, object]], *, env: dict | None = None, timeout_s: float | None = None
) -> list[int]:
    """Run (command, log, cwd) children at once, each in its own process group, and wait for all of them; on an
    interrupt stop every one before the exception goes on; one still running past timeout_s is stopped and
    gets 124. Returns their exit codes in order."""
    import time

    processes = []
    try:
        for command, log, cwd in jobs:
            processes.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT if log else None,
                    start_new_session=True,
                )
            )
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        codes = []
        for process in processes:
            try:
                codes.append(process.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                stop(process)
                codes.append(124)
        return codes
    except BaseException:
        for process in processes:
            stop(process)
        raise


def guarded(prog: str, body, *, kept=lambda: "completed runs kept") -> int:
    """The one mapping from what can go wrong to what the user sees: body() runs with SIGTERM as an interrupt and its
    exit code (None: 0) is returned; a MnistRefError becomes one line and its own code, an OSError the library did not
    expect one line and 2, an interrupt one line saying what was kept (kept()) and 130 or 143. No traceback."""
    from mnist_ref.plumbing.errors import ExitCode, MnistRefError

    raise_on_sigterm()
    try:
        return int(body() or 0)
    except MnistRefError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except OSError as exc:
        print(f"{prog}: error: {exc.filename or 'a file'}: {exc.strerror or exc}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except KeyboardInterrupt as exc:
        print(f"{prog}: interrupted ({signal_name(exc)}); {kept()}", file=sys.stderr)
        return exit_code(exc)


def script_main(name: str, body) -> int:
    """A script's body() under guarded(): completed runs are kept on an interrupt."""
    return guarded(name, body)
