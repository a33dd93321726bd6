"""What many tests share: the repository root, one way to start processes (the CLI among them), and tiny IDX files."""

from __future__ import annotations

import gzip
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

from mnist_ref.core.dataset import IdxFile, IdxSpec

ROOT = Path(__file__).resolve().parent.parent
TINY_TRAIN, TINY_TEST = 64, 16


def process_env(extra: dict | None = None) -> dict[str, str]:
    """This process's environment, TensorFlow's C++ logging quiet and Python's output unbuffered, plus extra."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(extra or {})}


def cli_command(*args: str) -> list[str]:
    """`python -m mnist_ref ARGS` with this interpreter."""
    return [sys.executable, "-m", "mnist_ref", *args]


def run(
    command: list[str], *, env: dict | None = None, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run command in a fresh process to the end, output captured as text, with Ctrl-C (SIGINT) at its default
    whatever this process inherited."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=process_env(env),
        cwd=cwd,
        timeout=timeout,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    # A suite started in the background of a non-interactive shell inherits SIGINT ignored, and a Python started so
    # keeps ignoring it; the process under test gets Ctrl-C as a user at a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """Start command in a fresh process and return at once (for signals and workers), output piped as text, with
    Ctrl-C (SIGINT) at its default whatever this process inherited."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m mnist_ref ARGS` in a fresh process to the end, as a user would."""
    return run(cli_command(*args), env=env, cwd=cwd, timeout=timeout)


def start_cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.Popen:
    """Start `python -m mnist_ref ARGS` in a fresh process and return at once."""
    return start(cli_command(*args), env=env, cwd=cwd)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An IDX file's bytes for a uint8 array."""
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, *, gz: bool) -> Path:
    """Write an IDX file (gzipped when gz) and return its path."""
    data = idx_bytes(array, magic)
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """64 training and 16 test images of 28x28 with labels 0..9."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (TINY_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, TINY_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (TINY_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, TINY_TEST, dtype=np.uint8),
    }


def tiny_spec() -> IdxSpec:
    """An IdxSpec for the tiny files: their shapes, no published checksum."""
    return IdxSpec(
        train_images=IdxFile("train-images-idx3-ubyte", (TINY_TRAIN, 28, 28), None),
        train_labels=IdxFile("train-labels-idx1-ubyte", (TINY_TRAIN,), None),
        test_images=IdxFile("t10k-images-idx3-ubyte", (TINY_TEST, 28, 28), None),
        test_labels=IdxFile("t10k-labels-idx1-ubyte", (TINY_TEST,), None),
    )
