"""The model: the book's layers, its parameter count, and the weight fingerprint."""

from __future__ import annotations

import numpy as np

from mnist_ref import framework, model
from mnist_ref.config import Config


def test_parameter_count_is_the_books():
    framework.set_seed(0)
    m = model.build_model()
    assert m.count_params() == model.PARAMETER_COUNT == 50_890
    assert [layer.units for layer in m.layers] == [64, 10]


def test_compile_uses_sgd_at_the_configured_rate():
    m = model.build_model()
    model.compile_model(m, Config(learning_rate=0.05))
    assert type(m.optimizer).__name__ == "SGD"
    assert float(np.asarray(m.optimizer.learning_rate)) == np.float32(0.05)


def test_fingerprint_follows_the_weights():
    framework.set_seed(1)
    a = model.build_model()
    framework.set_seed(1)
    b = model.build_model()
    assert model.weight_fingerprint(a) == model.weight_fingerprint(b)
    weights = b.get_weights()
    weights[-1] = weights[-1] + 1e-6
    b.set_weights(weights)
    assert model.weight_fingerprint(a) != model.weight_fingerprint(b)
