"""The model: the book's layers, its parameter count, and the weight fingerprint."""

from __future__ import annotations

import numpy as np

from mnist_ref.core import framework, model
from mnist_ref.core.config import Config


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


def _trained_fingerprint(extra_work: int) -> tuple[str, object]:
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    framework.set_seed(3)
    m = model.build_model(extra_work=extra_work)
    model.compile_model(m, Config())
    m.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model.weight_fingerprint(m), m


def test_extra_work_trains_to_the_same_weights():
    plain, _ = _trained_fingerprint(0)
    loaded, m = _trained_fingerprint(3)
    assert loaded == plain
    assert m.count_params() == model.PARAMETER_COUNT + 3 * 784 * 64 + 1  # the work is really in the graph
    extra = next(layer for layer in m.layers if not getattr(layer, "book_layer", True))
    assert all(not np.any(w) for w in extra.get_weights())  # its kernels got zero gradients: still zero
