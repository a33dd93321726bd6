"""Keras 3's JAX and PyTorch backends: each in its own process, the book reproduced, seeds honoured."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from mnist_ref.core import book, framework

# Full trainings in fresh processes on JAX and torch (11-31 s each): the long tier.
pytestmark = pytest.mark.long

OTHER_BACKENDS = [b for b in framework.BACKENDS if b != framework.DEFAULT_BACKEND]


def require(backend: str) -> None:
    """Skip, naming the install command, where a backend's package is not installed."""
    if not framework.backend_installed(backend):
        pytest.skip(f"the {backend} backend is not installed: {framework.INSTALL_HINTS[backend]}")


def train(backend: str, out, *args: str):
    proc = run_cli("train", "--backend", backend, "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_reproduces_the_book(backend, real_data_dir, tmp_path):
    require(backend)
    record = train(backend, tmp_path / "run.json", "--seed", "42", "--data-dir", str(real_data_dir))
    assert record["environment"]["framework"]["backend"] == backend
    accuracy = record["evaluate"]["accuracy"]
    assert book.BOOK_BAND.contains(accuracy), f"{backend}: test accuracy {accuracy} outside {book.BOOK_BAND.describe()}"
    assert record["predict"]["predicted_class"] == book.BOOK_FIRST_TEST_PREDICTION


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_same_seed_same_fingerprint(backend, real_data_dir, tmp_path):
    require(backend)
    args = ("--seed", "3", "--epochs", "1", "--batch-size", "128", "--data-dir", str(real_data_dir))
    first = train(backend, tmp_path / "a.json", *args)
    second = train(backend, tmp_path / "b.json", *args)
    assert first["fingerprint"] == second["fingerprint"]
    assert first["history"] == second["history"]
