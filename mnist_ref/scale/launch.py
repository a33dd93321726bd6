"""Start the worker processes of a multi-worker run on this host and supervise them.

Each worker is `mnist-ref train ...` again, told its index and the coordinator's address (a free local port)
through the environment. Their output goes to log files; the run ends when all have exited 0, or as soon as one
fails or the time limit passes: then every other worker is stopped (its whole process group), each failed
worker's last lines are shown, and the run fails with one line. The chief (worker 0) writes the run record.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import WorkerError
from mnist_ref.scale import data_parallel

DEFAULT_TIMEOUT_S = 3600.0
POLL_S = 0.2
TAIL_LINES = 40


def free_port() -> int:
    """A TCP port nothing listens on now, for the coordinator."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(f"    {line}" for line in lines[-TAIL_LINES:])


def _describe_exit(code: int) -> str:
    return f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"


def starts_workers(workers: int, coordinator: str | None) -> bool:
    """Whether this command starts every worker on this host: several workers and no coordinator given (by option or
    environment); with a coordinator, this process is one of the workers."""
    return workers > 1 and not (coordinator or os.environ.get(data_parallel.COORDINATOR_ENV))


def start_here(
    argv: list[str],
    *,
    backend: str | None,
    replicas: int,
    workers: int,
    batch_size: int,
    mode: str,
    timeout_s: float | None = None,
) -> str:
    """Refuse what cannot run, once, here rather than in every worker; then run the workers (run_workers) and
    return the chief's output."""
    from mnist_ref.core import framework

    data_parallel.check(
        framework.check_backend(backend),
        data_parallel.Layout(replicas, workers),
        batch_size,
        mode,
        needs_coordinator=False,
    )
    return run_workers(argv, workers, timeout_s=timeout_s or DEFAULT_TIMEOUT_S)


def run_workers(argv: list[str], workers: int, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """Run `python -m mnist_ref ARGV` as workers 0..workers-1 on this host; the chief's output, or WorkerError."""
    coordinator = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="mnist-ref-workers-") as folder:
        logs = [Path(folder) / f"worker-{i}.log" for i in range(workers)]
        processes = []
        try:
            for i, log in enumerate(logs):
                env = {**os.environ, data_parallel.COORDINATOR_ENV: coordinator, data_parallel.PROCESS_ID_ENV: str(i)}
                with open(log, "w") as handle:
                    processes.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "mnist_ref", *argv],
                            env=env,
                            stdout=handle,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            _supervise(processes, logs, timeout_s)
        finally:
            for process in processes:
                interrupts.stop(process, grace_s=5.0)
        return logs[0].read_text(errors="replace")


def _supervise(processes: list[subprocess.Popen], logs: list[Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        codes = [p.poll() for p in processes]
        failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            details = "\n".join(
                f"  worker {i} {_describe_exit(c)}; its last lines:\n{_tail(logs[i])}" for i, c in failed
            )
            print(details, file=sys.stderr)
            names = ", ".join(f"worker {i} {_describe_exit(c)}" for i, c in failed)
            raise WorkerError(f"{names}; the other workers were stopped (output above)")
        if all(c == 0 for c in codes):
            return
        if time.monotonic() > deadline:
            hung = ", ".join(str(i) for i, c in enumerate(codes) if c is None)
            raise WorkerError(
                f"worker(s) {hung} still running after {timeout_s:.0f} s; all were stopped "
                "(raise --worker-timeout for longer runs)"
            )
        time.sleep(POLL_S)
