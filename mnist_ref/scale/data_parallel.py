"""Data-parallel training of the book's model on the frameworks' own distributed runtimes.

--replicas N trains one model on N devices of one process; --workers M runs M processes (on this host, or
one per host on a cluster), each with its replicas. The global batch stays the configured one (the book's 32):
each of the N x M replicas gets 1/(N x M) of it, the gradients are averaged by the framework, and one SGD
step at the same learning rate follows, which is the book's step in exact arithmetic.

Support (backend x strategy), checked against the frameworks' sources and issue trackers:
- jax, replicas: keras.distribution.DataParallel over N devices; N CPU devices come from JAX_NUM_CPU_DEVICES,
  set before JAX starts (jax >= 0.5.1; Keras' own CI runs its multi-device tests this way).
- jax, workers: keras.distribution.initialize (jax.distributed, CPU collectives over gloo) and DataParallel over
  every process's devices; each process feeds its own shard of the training set, 1/M of each global batch.
- tensorflow, replicas: tf.distribute.MirroredStrategy; N CPU devices are logical devices of the one CPU
  (tf.config.set_logical_device_configuration, as Keras' tests do). Keras 3 needs >= 3.8 for it.
- tensorflow, workers: MultiWorkerMirroredStrategy does not work with Keras 3 (keras-team/keras#20585,
  tensorflow/tensorflow#72388); not supported here.
- torch: released Keras (up to 3.15) does not run fit under DistributedDataParallel; not supported.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from mnist_ref.plumbing.errors import BackendError, ConfigError

# Where a worker process learns its place in a multi-worker run (set by `--workers` on one host, or by the user
# on each host of a cluster; --coordinator and --process-id override them).
COORDINATOR_ENV = "MNIST_REF_COORDINATOR"
PROCESS_ID_ENV = "MNIST_REF_PROCESS_ID"
# XLA:CPU's limit on waiting in a collective, raised for CPU replicas (prepare()).
JAX_CPU_COLLECTIVE_TIMEOUT_FLAG = "xla_cpu_collective_call_terminate_timeout_seconds"
JAX_CPU_COLLECTIVE_TIMEOUT_S = 120
# The first jaxlib whose XLA knows the flag (an unknown flag in XLA_FLAGS is fatal, so older ones keep 40 s).
JAX_CPU_COLLECTIVE_TIMEOUT_SINCE = (0, 8, 1)
JAX_CPU_DEVICES_ENV = "JAX_NUM_CPU_DEVICES"
MIN_KERAS_FOR_MIRRORED = (3, 8)

UNSUPPORTED = {
    ("torch", "replicas"): "the torch backend has no data-parallel fit in released Keras (up to 3.15): "
    "Keras 3 runs fit under DistributedDataParallel only from its unreleased sources",
    ("torch", "workers"): "the torch backend has no multi-process fit in released Keras (up to 3.15)",
    ("tensorflow", "workers"): "MultiWorkerMirroredStrategy does not work with Keras 3 "
    "(keras-team/keras#20585, tensorflow/tensorflow#72388); use --replicas, or the jax backend for --workers",
}


def layout(cfg, *, process_id: int | None = None, coordinator: str | None = None) -> Layout:
    """cfg's replicas and workers, with this process's index and the coordinator (default: the environment)."""
    if process_id is None:
        process_id = int(os.environ.get(PROCESS_ID_ENV, "0"))
    return Layout(cfg.replicas, cfg.workers, process_id, coordinator or os.environ.get(COORDINATOR_ENV))


# Measured here (TensorFlow 2.21, Keras 3.15): fit under MirroredStrategy fails with steps_per_execution > 1 and with
# jit_compile alike ("You must feed a value for placeholder tensor"), the error of keras-team/keras#19246.
TUNED_UNDER_MIRRORED = (
    "tuned mode (steps_per_execution, XLA) under MirroredStrategy fails in Keras 3 "
    "(keras-team/keras#19246); use --mode book with --replicas on tensorflow, or the jax backend"
)


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one run is spread: replicas (devices) per worker process, workers, this process's index."""

    replicas: int = 1
    workers: int = 1
    process_id: int = 0
    coordinator: str | None = None

    @classmethod
    def of(cls, cfg) -> Layout:
        """cfg's replicas and workers, without a process's place among them (for checks and names)."""
        return cls(cfg.replicas, cfg.workers)

    @property
    def total(self) -> int:
        """Replicas over all workers."""
        return self.replicas * self.workers

    @property
    def distributed(self) -> bool:
        return self.total > 1

    @property
    def chief(self) -> bool:
        """Whether this process writes the run's outputs."""
        return self.process_id == 0


def unsupported(backend: str, layout: Layout, mode: str = "book") -> str | None:
    """Why this backend cannot train this layout in this mode (an upstream limitation), or None."""
    for kind, count in (("replicas", layout.replicas), ("workers", layout.workers)):
        if count > 1 and (backend, kind) in UNSUPPORTED:
            return f"--{kind} {count} on the {backend} backend: {UNSUPPORTED[backend, kind]}"
    if backend == "tensorflow" and layout.distributed and mode == "tuned":
        return TUNED_UNDER_MIRRORED
    return None


def check(backend: str, layout: Layout, batch_size: int, mode: str = "book", *, needs_coordinator: bool = True) -> None:
    """One clear error for a combination that cannot run; before anything starts. A worker needs the coordinator's
    address; the command that starts every worker itself (launch.start_here) makes one."""
    if layout.replicas < 1 or layout.workers < 1:
        raise ConfigError(f"--replicas and --workers must be 1 or more, got {layout.replicas} and {layout.workers}")
    reason = unsupported(backend, layout, mode)
    if reason:
        raise BackendError(reason)
    if batch_size % layout.total:
        raise ConfigError(
            f"the global batch of {batch_size} does not split evenly over {layout.total} replicas; "
            f"choose a batch size divisible by {layout.total}"
        )
    if not 0 <= layout.process_id < layout.workers:
        raise ConfigError(
            f"process id {layout.process_id} is outside 0..{layout.workers - 1} for --workers {layout.workers}"
        )
    if needs_coordinator and layout.workers > 1 and not layout.coordinator:
        raise ConfigError(
            f"a worker of a {layout.workers}-worker run needs the coordinator's address: "
            f"--coordinator HOST:PORT or ${COORDINATOR_ENV}"
        )


def prepare(backend: str, layout: Layout, device: str) -> None:
    """What must happen before the backend starts: N CPU devices for JAX (environment) or TensorFlow (logical)."""
    if layout.replicas == 1 or not device.startswith("cpu"):
        return
    if backend == "jax":
        os.environ[JAX_CPU_DEVICES_ENV] = str(layout.replicas)
        # On few cores the replicas' all-reduce occasionally deadlocked: every participant waiting, load 0, until
        # XLA:CPU's collective timeout aborted the process (seen twice on 2 cores in the long tests, tuned mode).
        # Each device's computation then runs in its own launcher thread instead of a shared Eigen pool, which
        # a third-party report (PyAutoLabs/PyAutoFit#1530) found to avoid XLA:CPU pool wedges; the book's model
        # is far too small to miss the pool. A hang that still happens aborts after the timeout below.
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            flags = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
        if JAX_CPU_COLLECTIVE_TIMEOUT_FLAG not in flags and _jaxlib_at_least(JAX_CPU_COLLECTIVE_TIMEOUT_SINCE):
            flags = f"{flags} --{JAX_CPU_COLLECTIVE_TIMEOUT_FLAG}={JAX_CPU_COLLECTIVE_TIMEOUT_S}"
        os.environ["XLA_FLAGS"] = flags
    elif backend == "tensorflow":
        import tensorflow as tf

        cpus = tf.config.list_physical_devices("CPU")
        if len(tf.config.get_logical_device_configuration(cpus[0]) or []) == layout.replicas:
            return  # made by an earlier run in this process
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * layout.replicas
            )
        except RuntimeError as exc:  # TensorFlow had already started its devices in this process
            raise BackendError(
                f"cannot make {layout.replicas} CPU devices: {exc}; run --replicas in a fresh process"
            ) from None


def _jaxlib_at_least(version: tuple[int, ...]) -> bool:
    """Whether the installed jaxlib is this version or newer (read from its metadata, without importing it)."""
    from importlib import metadata

    try:
        installed = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return False
    parts = [int(p) for p in installed.split(".")[:3] if p.isdigit()]
    return tuple(parts) >= version


def select(backend: str | None, cfg, layout: Layout | None = None) -> str:
    """Choose the backend for this process and ready cfg's replicas on it: the step before anything imports keras."""
    from mnist_ref.core import framework

    layout = layout or Layout.of(cfg)
    name = framework.select_backend(backend, deterministic=cfg.deterministic)
    check(name, layout, cfg.batch_size, cfg.mode)
    prepare(name, layout, cfg.device)
    return name


def start(layout: Layout) -> None:
    """Join the other workers (JAX's distributed runtime); a no-op for one worker."""
    if layout.workers == 1:
        return
    from mnist_ref.core import framework

    framework.keras().distribution.initialize(
        job_addresses=layout.coordinator, num_processes=layout.workers, process_id=layout.process_id
    )


def device_names(device: str, count: int) -> list[str]:
    """'cpu', 3 -> ['cpu:0', 'cpu:1', 'cpu:2']"""
    return [f"{device.split(':')[0]}:{i}" for i in range(count)]


def strategy_name(backend: str, layout: Layout) -> str:
    """The framework mechanism behind a layout, for records and tables."""
    if not layout.distributed:
        return "single device"
    if backend == "jax":
        return "keras DataParallel (jax.distributed)" if layout.workers > 1 else "keras DataParallel"
    return "tf MirroredStrategy"


def scope(backend: str, layout: Layout, device: str):
    """Where the model is built, compiled and trained: one device, or the strategy spanning the replicas (the
    same strategy object for every call in a process: a model must be used under the strategy it was built in)."""
    from mnist_ref.core import framework

    if not layout.distributed:
        return framework.device_scope(framework.resolve_device(device))
    return _strategy(backend, layout.replicas, layout.workers, device.split(":")[0]).scope()


@functools.cache
def _strategy(backend: str, replicas: int, workers: int, kind: str):
    from mnist_ref.core import framework

    keras = framework.keras()
    if backend == "jax":
        if workers == 1:
            return keras.distribution.DataParallel(devices=device_names(kind, replicas))
        # Every process's devices; each process feeds its own shard (local_shard), so Keras must not shard again.
        return keras.distribution.DataParallel(devices=keras.distribution.list_devices(kind), auto_shard_dataset=False)
    if not framework.is_keras2() and tuple(int(p) for p in keras.__version__.split(".")[:2]) < MIN_KERAS_FOR_MIRRORED:
        raise BackendError(f"MirroredStrategy with Keras {keras.__version__} lacks fixes of Keras 3.8; upgrade keras")
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=[f"/{kind.upper()}:{i}" for i in range(replicas)])


def local_shard(x, y, layout: Layout):
    """This worker's share of the training set: every workers-th example from its index (all of it for one worker)."""
    if layout.workers == 1:
        return x, y
    return x[layout.process_id :: layout.workers], y[layout.process_id :: layout.workers]


def describe(backend: str, layout: Layout) -> dict:
    """The record's account of the distribution."""
    return {
        "strategy": strategy_name(backend, layout),
        "replicas": layout.total,
        "workers": layout.workers,
        "devices_per_worker": layout.replicas,
    }


def _predict(model, x, *, device: str, verbose: int | str, backend: str, layout: Layout):
    """Step 7 under a layout: with replicas, x's rows repeated once per device of this process, since a data-parallel
    predict splits its batch evenly over the devices (the first output rows are x's); with several workers, a
    copy of the trained model on this process's default device predicts instead, because a multi-process predict
    returns an array spread over every process that no one process can read (a jax.Array with non-addressable
    shards), and a device name would mean worker 0's."""
    if layout.workers > 1:
        from mnist_ref.core.model import build_model

        local = build_model()
        local.set_weights(model.get_weights())
        return local.predict(x, verbose=verbose)
    with scope(backend, layout, device):
        return model.predict(np.repeat(x, layout.replicas, axis=0), verbose=verbose)[: len(x)]


def placement(backend: str, layout: Layout):
    """The walk-through's Placement for layout: the strategy's scope, this worker's shard and share of each global
    batch, and a predict this process can read; the book's one device when the layout spreads nothing."""
    from mnist_ref.core.walkthrough import ONE_DEVICE, Placement

    if not layout.distributed:
        return ONE_DEVICE
    return Placement(
        scope=functools.partial(scope, backend, layout),
        shard=functools.partial(local_shard, layout=layout),
        batch_share=layout.workers,
        predict=functools.partial(_predict, backend=backend, layout=layout),
        description=describe(backend, layout),
        spread=True,
    )
