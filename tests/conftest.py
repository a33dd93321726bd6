"""Shared fixtures: tiny IDX files written by the tests, and the real MNIST data where present."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_ref.dataset import DATA_ENV, IMAGE_MAGIC, LABEL_MAGIC, IdxFile, IdxSpec, load_raw
from mnist_ref.errors import DownloadError

TINY_TRAIN, TINY_TEST = 64, 16


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m mnist_ref ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mnist_ref", *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300
    )


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


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A directory with the four tiny IDX files, gzipped."""
    for name, array in tiny_arrays().items():
        write_idx(tmp_path / name, array, IMAGE_MAGIC if "images" in name else LABEL_MAGIC, gz=True)
    return tmp_path


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """$MNIST_REF_DATA, the real MNIST files; tests that need them skip where it is unset."""
    value = os.environ.get(DATA_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{DATA_ENV} does not point at the MNIST files")
    return Path(value)


@pytest.fixture(scope="session")
def real_raw():
    """The real MNIST arrays ($MNIST_REF_DATA, else Keras' download), loaded and verified once per session."""
    try:
        return load_raw()
    except DownloadError as exc:
        pytest.skip(str(exc))
