"""Every framework-specific call in one place: Keras 2 vs 3, backends, seeds, determinism, devices.

Keras 3 chooses its backend when it is first imported, so a process runs one backend: callers pick
it with select_backend() before anything imports keras. Nothing here runs at import time.

Keras 2 (TensorFlow 2.15 and older) and Keras 3 differ, for this model, in:
- imports: `import keras` is Keras 2.15 under TF 2.15 and Keras 3 from TF 2.16; from TF 2.16 on, Keras 2
  is the separate `tf-keras` package (module tf_keras), chosen with TF_USE_LEGACY_KERAS=1 as TensorFlow
  itself does for tf.keras; each exposes Sequential, Input, layers.Dense, optimizers.SGD,
  callbacks.Callback, utils.set_random_seed;
- device placement: Keras 3 has keras.device(), Keras 2 needs tf.device() (device_scope);
- tensor operations: Keras 3 has keras.ops, Keras 2 uses TensorFlow's (tensor_ops);
- history keys: old Keras wrote 'acc' / 'val_acc' (history_dict renames them);
- determinism: TensorFlow's op determinism applies to both; JAX and PyTorch have their own (set_seed);
- steps_per_execution and jit_compile: accepted by Keras 2 and by Keras 3's TensorFlow and JAX
  backends; Keras 3's torch backend rejects steps_per_execution > 1 (compile_options).
One-hot labels are made with NumPy (dataset.to_categorical), identical to keras.utils.to_categorical
on both, and nothing is saved to disk in Keras' formats, so saving differences do not arise.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
import sys

from mnist_ref.plumbing.errors import BackendError, DeviceError

BACKEND_ENV = "KERAS_BACKEND"
# TensorFlow 2.16+ reads this to make tf.keras the tf-keras package (Keras 2); so does keras() here.
LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
INSTALL_HINTS = {
    "tensorflow": "pip install 'mnist-ref[cpu]' (or 'mnist-ref[gpu]')",
    "jax": "pip install 'mnist-ref[jax]'",
    "torch": "pip install 'mnist-ref[torch]'",
}


def backend_installed(name: str) -> bool:
    """Whether the Python package behind a Keras backend can be imported."""
    return importlib.util.find_spec(name) is not None


def check_backend(name: str | None) -> str:
    """The backend name (None: $KERAS_BACKEND, else tensorflow); BackendError if it is unknown or not installed."""
    name = name or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if not backend_installed(name):
        raise BackendError(f"the {name} backend is not installed; install it with: {INSTALL_HINTS[name]}")
    return name


def select_backend(name: str | None, *, deterministic: bool = False) -> str:
    """Choose the Keras backend for this process; must run before keras is imported.

    With deterministic, JAX is told to use deterministic GPU kernels: XLA reads XLA_FLAGS when its GPU
    client starts, which is before any seed can be set.
    """
    name = check_backend(name)
    if "keras" in sys.modules and backend() != name:
        raise BackendError(
            f"keras is already loaded with the {backend()} backend in this process; "
            f"run the {name} backend in a separate process (KERAS_BACKEND={name})"
        )
    os.environ[BACKEND_ENV] = name
    if deterministic and name == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    return name


def legacy_keras_requested() -> bool:
    """Whether TF_USE_LEGACY_KERAS asks for Keras 2 through the tf-keras package."""
    return os.environ.get(LEGACY_KERAS_ENV, "").strip().lower() in ("1", "true", "yes")


@functools.cache
def keras():
    """The keras module: Keras 3; Keras 2 under TensorFlow 2.15 and older; tf_keras (Keras 2) when
    TF_USE_LEGACY_KERAS=1 on TensorFlow 2.16 and newer."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    name = "keras"
    if legacy_keras_requested():
        if importlib.util.find_spec("tf_keras") is None:
            raise BackendError(
                f"{LEGACY_KERAS_ENV}=1 asks for Keras 2 through the tf-keras package, which is not installed; "
                "pip install tf-keras==<your TensorFlow's major.minor>, or unset the variable"
            )
        name = "tf_keras"
    module = importlib.import_module(name)
    if module.__version__.startswith("2.") and os.environ.get(BACKEND_ENV, DEFAULT_BACKEND) != DEFAULT_BACKEND:
        raise BackendError(
            f"Keras {module.__version__} runs only on TensorFlow; the {os.environ[BACKEND_ENV]} backend needs Keras 3"
        )
    return module


def is_keras2() -> bool:
    """True under Keras 2 (TensorFlow 2.15 and older)."""
    return keras().__version__.startswith("2.")


def backend() -> str:
    """The active Keras backend's name."""
    return keras().backend.backend()


def keras_package() -> str:
    """The distribution that provided the keras module: keras, keras-nightly, tf-keras or tf-keras-nightly."""
    import re
    from importlib import metadata

    top = keras().__name__.split(".")[0]
    names = metadata.packages_distributions().get(top) or [top]
    return re.sub(r"[-_.]+", "-", sorted(names)[0]).lower()


def versions() -> dict:
    """Versions of Keras (and the package it came from), the active backend's library and its compiler stack
    where known."""
    out = {"keras": keras().__version__, "keras_package": keras_package(), "backend": backend()}
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
        build = dict(tf.sysconfig.get_build_info())
        out["cuda"] = build.get("cuda_version")
        out["cudnn"] = build.get("cudnn_version")
    elif name == "jax":
        import jax
        import jaxlib

        out["jax"] = jax.__version__
        out["jaxlib"] = jaxlib.__version__
    elif name == "torch":
        import torch

        out["torch"] = torch.__version__
        out["cuda"] = torch.version.cuda
        out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def single_thread_environment() -> dict[str, str]:
    """Environment variables that keep each backend's CPU kernels on one thread (TensorFlow's op pools, XLA's
    Eigen pool, OpenMP and BLAS); read when the backend starts, so they are set for a new process."""
    xla, single = os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "XLA_FLAGS": xla if single in xla else f"{xla} {single}".strip(),
    }


def set_seed(seed: int, *, deterministic: bool = False) -> None:
    """Start a fresh Keras session seeded from one seed; optionally force deterministic kernels.

    Clearing the session first makes a run in a long-lived process (a sweep, a benchmark) start
    from the same state as a run in a new process.
    """
    keras().backend.clear_session()
    keras().utils.set_random_seed(seed)
    _private_python_random(seed)
    if not deterministic:
        return
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif name == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
    # JAX: deterministic GPU kernels are chosen in select_backend(); its CPU kernels already are.


def _private_python_random(seed: int) -> None:
    """Give Keras 3 its own Python random generator, seeded as set_random_seed seeds the process-wide one.

    Keras 3 draws the seed of every unseeded initializer and of its global SeedGenerator from Python's
    process-wide `random` (keras/src/random/seed_generator.py, make_default_seed). Any other thread that draws
    from it while the model is built (a Dask worker's event loop does) shifts those draws and so the initial
    weights. A private random.Random(seed) yields exactly the draws of a single-threaded process, whatever
    other threads do. Keras 2 seeds through TensorFlow's global seed instead, which no other thread moves.
    """
    if keras().__version__.startswith("2."):
        return
    import random

    module = importlib.import_module("keras.src.random.seed_generator")
    if hasattr(module, "python_random"):
        module.python_random = random.Random(seed)


@functools.cache
def list_devices() -> tuple[str, ...]:
    """Devices the active backend sees, as 'cpu:0', 'gpu:0', ..."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        found = []
        for kind in ("CPU", "GPU"):
            found += [f"{kind.lower()}:{i}" for i, _ in enumerate(tf.config.list_physical_devices(kind))]
        return tuple(found)
    if name == "jax":
        import jax

        found = ["cpu:0"]
        with contextlib.suppress(RuntimeError):
            found += [f"gpu:{i}" for i, _ in enumerate(jax.devices("gpu"))]
        return tuple(found)
    import torch

    return ("cpu:0", *(f"gpu:{i}" for i in range(torch.cuda.device_count())))


def normalize_device(device: str) -> str:
    """'cpu' -> 'cpu:0', 'gpu' -> 'gpu:0'."""
    return device if ":" in device else f"{device}:0"


def resolve_device(device: str) -> str:
    """The normalized device name, or DeviceError if the active backend does not see it."""
    wanted = normalize_device(device)
    present = list_devices()
    if wanted not in present:
        raise DeviceError(
            f"device {device!r} is not present for the {backend()} backend; "
            f"available: {', '.join(present)} (use --device cpu, or install a GPU build of the backend)"
        )
    return wanted


def device_scope(device: str):
    """A context manager placing Keras work on device ('cpu:0', 'gpu:0')."""
    if is_keras2():
        import tensorflow as tf

        kind, index = device.split(":")
        return tf.device(f"/{kind.upper()}:{index}")
    if backend() == "torch" and device == "cpu:0":
        # torch names its one CPU device "cpu"; under "cpu:0" Keras' torch backend copies each new
        # variable to that device, leaving a non-leaf tensor that receives no gradients.
        device = "cpu"
    return keras().device(device)


def gpu_details() -> list[dict]:
    """Name (and compute capability where known) of each GPU the active backend sees."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        return [dict(tf.config.experimental.get_device_details(d)) for d in tf.config.list_physical_devices("GPU")]
    if name == "jax":
        import jax

        with contextlib.suppress(RuntimeError):
            return [{"device_name": d.device_kind} for d in jax.devices("gpu")]
        return []
    import torch

    return [{"device_name": torch.cuda.get_device_name(i)} for i in range(torch.cuda.device_count())]


def tensor_ops():
    """(to_tensor, matmul, to_numpy) on the active backend; Keras 2 has no keras.ops, so TensorFlow's."""
    if is_keras2():
        import tensorflow as tf

        return tf.convert_to_tensor, tf.matmul, lambda tensor: tensor.numpy()
    ops = keras().ops
    return ops.convert_to_tensor, ops.matmul, ops.convert_to_numpy


def compile_options(mode: str) -> dict:
    """Extra compile() arguments for a mode; {} for the book's Keras defaults."""
    from mnist_ref.core.config import TUNED_STEPS_PER_EXECUTION

    if mode == "book":
        return {}
    if not tuned_supported():
        raise BackendError(f"the tuned mode is not applicable on the {backend()} backend: {tuned_unsupported_reason()}")
    return {"steps_per_execution": TUNED_STEPS_PER_EXECUTION, "jit_compile": True}


def steps_per_execution(model) -> int:
    """How many steps a compiled model runs per call into the backend (1 unless compiled with more)."""
    return int(getattr(model, "steps_per_execution", 1) or 1)


def tuned_unsupported_reason() -> str | None:
    """Why the tuned mode cannot run on the active backend, or None if it can."""
    if backend() == "torch":
        return "Keras' torch backend rejects steps_per_execution > 1"
    return None


def tuned_supported() -> bool:
    """Whether the active backend accepts steps_per_execution > 1 and XLA compilation."""
    return tuned_unsupported_reason() is None


def history_dict(history) -> dict[str, list[float]]:
    """History as plain floats, with Keras 2's legacy 'acc' keys named 'accuracy'."""
    out = {}
    for key, values in history.history.items():
        key = {"acc": "accuracy", "val_acc": "val_accuracy"}.get(key, key)
        out[key] = [float(v) for v in values]
    return out
