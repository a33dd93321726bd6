"""Seed sweeps as Dask tasks: a local cluster of worker processes (--jobs K) or a running scheduler (--scheduler).

Each task trains one seed in a worker process, with the backend selected there (Keras loads one backend per
process); a grid over several backends runs them one after another and restarts the workers in between. The
MNIST arrays are verified here once and broadcast to the workers, so workers need no copy of the data. A
worker that dies mid-task is replaced by its nanny and the task rescheduled (Dask's
`distributed.scheduler.allowed-failures`); a task that raises is recorded as a failed seed, never retried.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import uuid
from collections.abc import Callable, Iterator

from mnist_ref.core import environment, framework
from mnist_ref.core.config import Config
from mnist_ref.core.dataset import RawMnist
from mnist_ref.plumbing.errors import ConfigError, MnistRefError
from mnist_ref.scale import data_parallel, sweep

INSTALL_HINT = "pip install 'mnist-ref[cluster]'"
CONNECT_TIMEOUT_S = 30
# Times a task may lose its worker (killed, out of memory) and be rescheduled before it is recorded as failed.
# Applies to the local cluster; a running scheduler uses its own setting (Dask's default is 3).
ALLOWED_FAILURES = 2
# Dask's nanny sets OMP/MKL/OpenBLAS threads to 1 in every worker; mnist-ref keeps each framework's own thread
# defaults instead, so that a seed trains the same way (and to the same weights) serially and on a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError(f"--jobs and --scheduler run seeds on Dask, which is not installed: {INSTALL_HINT}") from None
    return distributed


def dashboard_available() -> bool:
    """Whether Dask can serve its dashboard here (it needs bokeh)."""
    return importlib.util.find_spec("bokeh") is not None


def train_task(cfg: Config, backend: str, raw: RawMnist, seed: int) -> dict:
    """Runs in a worker process: select the backend there, train one seed, return its record."""
    data_parallel.select(backend, cfg)
    return sweep.train_seed(cfg, raw, seed)


def environment_task(backend: str) -> dict:
    """Runs in a worker process: the environment capture there, with backend loaded."""
    framework.select_backend(backend)
    return environment.capture()


def loaded_backend() -> str | None:
    """The Keras backend this process has loaded, or None (asked of every worker before a backend's seeds)."""
    return framework.backend() if "keras" in sys.modules else None


@contextlib.contextmanager
def connect(*, jobs: int | None = None, scheduler: str | None = None, emit: Callable[[str], None] = print):
    """A Dask client: on a local cluster of `jobs` worker processes, or on the scheduler at `scheduler`."""
    distributed = _distributed()
    import dask

    if not scheduler and jobs < 1:
        raise ConfigError(f"--jobs must be 1 or more worker processes, got {jobs}")
    environ = {
        k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items() if k not in THREAD_VARIABLES
    }
    # For the whole connection: workers restarted between backends are spawned with the same settings.
    with dask.config.set(
        {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES, "distributed.nanny.pre-spawn-environ": environ}
    ):
        cluster = None
        if scheduler:
            try:
                client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    f"cannot reach a Dask scheduler at {scheduler} ({exc}); start one with `dask scheduler` "
                    "and workers with `dask worker ADDRESS`, or use --jobs K for a local cluster"
                ) from None
            emit(f"Dask scheduler {scheduler}: {len(client.scheduler_info()['workers'])} workers")
        else:
            cluster = distributed.LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0" if dashboard_available() else None,
                silence_logs=logging.CRITICAL,
            )
            client = distributed.Client(cluster)
            emit(f"Dask local cluster: {jobs} worker processes, 1 seed at a time each")
        if dashboard_available() and client.dashboard_link:
            emit(f"Dask dashboard: {client.dashboard_link}")
        try:
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


class DaskExecutor:
    """Run jobs as Dask tasks, one backend at a time, yielding each seed's record as it finishes."""

    def __init__(self, client, raw: RawMnist, *, emit: Callable[[str], None] = print):
        self.client, self.raw, self.emit = client, raw, emit
        self.environments: dict[str, dict] = {}

    def check(self, cells: list[sweep.Cell]) -> None:
        """Every grid runs on workers: nothing to refuse in advance."""

    def _use(self, backend: str) -> None:
        """Restart workers that have another backend loaded (Keras loads one per process)."""
        if any(b not in (None, backend) for b in self.client.run(loaded_backend).values()):
            self.emit(f"restarting the Dask workers for the {backend} backend (Keras loads one backend per process)")
            self.client.restart()

    def __call__(self, jobs: list[sweep.Job]) -> Iterator[tuple[sweep.Cell, int, dict]]:
        distributed = _distributed()
        for backend in dict.fromkeys(cell.backend for cell, _ in jobs):
            self._use(backend)
            data = self.client.scatter(self.raw, broadcast=True)
            token = uuid.uuid4().hex[:8]  # task names unique to this sweep, readable on the dashboard
            futures = {
                self.client.submit(
                    train_task,
                    cell.cfg,
                    backend,
                    data,
                    seed,
                    pure=False,
                    retries=0,
                    key=f"seed-{seed}-{backend}-bs{cell.cfg.batch_size}-{cell.cfg.mode}-{token}",
                ): (cell, seed)
                for cell, seed in jobs
                if cell.backend == backend
            }
            try:
                for future in distributed.as_completed(futures):
                    cell, seed = futures[future]
                    yield cell, seed, _result(future, seed, distributed)
            finally:
                self.client.cancel(list(futures))
            self.environment(backend)

    def environment(self, backend: str) -> dict:
        """The environment capture of a worker with backend loaded."""
        if backend not in self.environments:
            self._use(backend)
            self.environments[backend] = self.client.submit(environment_task, backend, pure=False).result()
        return self.environments[backend]


def _result(future, seed: int, distributed) -> dict:
    try:
        return future.result()
    except MnistRefError:
        raise
    except distributed.KilledWorker:
        return sweep.failed(seed, f"lost its worker process {ALLOWED_FAILURES + 1} times (out of memory?)")
    except Exception as exc:
        return sweep.failed(seed, exc)
