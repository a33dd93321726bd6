"""Seeds: the same seed gives the same history and fingerprint; another seed does not."""

from __future__ import annotations

import dataclasses

import pytest

from mnist_ref.core import walkthrough
from mnist_ref.core.config import Config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_raw(real_raw):
    """A tenth of MNIST, so the determinism checks stay fast."""
    return dataclasses.replace(real_raw, x_train=real_raw.x_train[:6000], y_train=real_raw.y_train[:6000])


@pytest.mark.parametrize("deterministic", [False, True])
def test_same_seed_same_fingerprint_and_history(small_raw, deterministic):
    cfg = Config(epochs=2, seed=7, deterministic=deterministic)
    first = walkthrough.run(cfg, small_raw)
    second = walkthrough.run(cfg, small_raw)
    assert first.fingerprint == second.fingerprint
    assert first.history == second.history
    assert first.evaluate == second.evaluate


def test_other_seed_other_fingerprint(small_raw):
    a = walkthrough.run(Config(epochs=1, seed=7), small_raw)
    b = walkthrough.run(Config(epochs=1, seed=8), small_raw)
    assert a.fingerprint != b.fingerprint


def test_validation_split_adds_validation_history(small_raw):
    result = walkthrough.run(Config(epochs=1, seed=7, validation_split=0.1), small_raw)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
