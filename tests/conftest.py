"""Shared fixtures: tiny IDX files written by the tests, and the real MNIST data where present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import tiny_arrays, write_idx

from mnist_ref.core.dataset import DATA_ENV, IMAGE_MAGIC, LABEL_MAGIC, load_raw
from mnist_ref.plumbing.errors import DownloadError


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
