"""Config: the book's defaults and validation of every overridable field."""

from __future__ import annotations

import dataclasses

import pytest

from mnist_ref.core import book
from mnist_ref.core.config import Config
from mnist_ref.plumbing.errors import ConfigError


def test_defaults_are_the_books_example():
    cfg = Config()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate, cfg.validation_split, cfg.mode) == (5, 32, 0.01, 0.0, "book")


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs must be"),
        ("epochs", -1, "epochs must be"),
        ("batch_size", 0, "batch size must be"),
        ("batch_size", -32, "batch size must be"),
        ("learning_rate", 0.0, "learning rate must be"),
        ("seed", -1, "seed must be"),
        ("validation_split", 1.0, "validation split must be"),
        ("validation_split", -0.1, "validation split must be"),
        ("device", "tpu", "device must be cpu, gpu or gpu:N"),
        ("device", "", "device must be"),
        ("mode", "fast", "mode must be one of book, tuned"),
    ],
)
def test_out_of_range_values_are_rejected(field, value, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(Config(), **{field: value})


def test_band_applies_only_to_the_books_schedule():
    assert book.band_for(Config()) is book.BOOK_BAND
    assert book.band_for(Config(epochs=1)) is None
    assert book.band_for(Config(validation_split=0.1)) is None


def test_books_own_accuracy_falls_inside_its_band():
    assert book.BOOK_BAND.contains(book.BOOK_TEST_ACCURACY)


def test_gate_fails_the_book_configuration_outside_its_band():
    assert book.gate_failure(Config(), 0.9340) is None
    assert book.gate_failure(Config(mode="tuned"), 0.9340) is None
    message = book.gate_failure(Config(), 0.9012)
    assert message == "test accuracy 0.9012 is outside the book's band [0.925, 0.944]"
    assert book.gate_failure(Config(mode="tuned"), 0.95) is not None


def test_gate_never_fails_other_configurations():
    assert book.gate_failure(Config(batch_size=2048), 0.10) is None
    assert book.gate_failure(Config(epochs=1), 0.10) is None
