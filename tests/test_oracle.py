"""The hand-written reference of the book's math, and the oracle that holds every backend to it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli

from mnist_ref.core import framework
from mnist_ref.core.config import Config
from mnist_ref.core.model import build_model
from mnist_ref.reference import numpy_model, oracle

OTHER_BACKENDS = [b for b in framework.BACKENDS if b != framework.DEFAULT_BACKEND]


def batch(n: int = 32, seed: int = 0, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """n synthetic images in [0, 1] and one-hot labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, numpy_model.INPUTS)).astype(dtype)
    y = np.eye(numpy_model.CLASSES, dtype=dtype)[rng.integers(0, numpy_model.CLASSES, n)]
    return x, y


def loss_at(x, y, w: numpy_model.Weights) -> float:
    return numpy_model.cross_entropy(numpy_model.forward(x, w, numpy_model.Workspace(len(x), np.float64)).copy(), y)


# --- the reference itself ---------------------------------------------------------------------------


def test_backward_is_the_derivative_of_the_loss():
    """Central finite differences in float64 agree with the hand-written gradients."""
    x, y = batch(8)
    w = numpy_model.initial_weights(1, np.float64)
    _, grads = numpy_model.gradients(x, y, w)
    rng = np.random.default_rng(2)
    for param, grad in zip(w.as_list(), grads, strict=True):
        for _ in range(5):
            i = tuple(rng.integers(0, s) for s in param.shape)
            old, h = param[i], 1e-6
            param[i] = old + h
            up = loss_at(x, y, w)
            param[i] = old - h
            down = loss_at(x, y, w)
            param[i] = old
            assert (up - down) / (2 * h) == pytest.approx(grad[i], abs=1e-8)


def test_train_step_is_gradient_then_sgd():
    x, y = batch()
    w = numpy_model.initial_weights(3, np.float64)
    loss, grads = numpy_model.gradients(x, y, w)
    expected = [p - 0.01 * g for p, g in zip(w.as_list(), grads, strict=True)]
    assert numpy_model.train_step(x, y, w, numpy_model.Workspace(32, np.float64), learning_rate=0.01) == pytest.approx(
        loss
    )
    for got, want in zip(w.as_list(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_an_epoch_visits_every_image_once_with_a_short_last_batch():
    x, y = batch(70)
    w = numpy_model.initial_weights(4)
    spaces: dict = {}
    numpy_model.fit_epoch(
        x.astype(np.float32),
        y.astype(np.float32),
        w,
        batch_size=32,
        learning_rate=0.01,
        order=np.random.default_rng(0).permutation(70),
        spaces=spaces,
    )
    assert sorted(spaces) == [6, 32]


def test_initial_weights_pass_the_initializer_checks():
    assert all(c.ok for c in oracle.initializer_checks(numpy_model.initial_weights(0).as_list()))


# --- Keras against the reference --------------------------------------------------------------------


# In-process, on this process's backend ($KERAS_BACKEND, else TensorFlow): the other backends get their own
# processes below.


@pytest.fixture
def keras_model():
    framework.select_backend(None)
    return oracle.fresh_model(Config(seed=7))


def test_keras_step_matches_the_reference(keras_model):
    x, y = batch(dtype=np.float32)
    checks = oracle.run_checks(keras_model, x, y)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_another_learning_rate_is_caught():
    framework.select_backend(None)
    keras = framework.keras()
    framework.set_seed(7)
    model = build_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.02), loss="categorical_crossentropy")
    failed = {c.quantity for c in oracle.run_checks(model, *batch(dtype=np.float32)) if not c.ok}
    assert "SGD learning rate vs Keras' default 0.01 (relative)" in failed
    assert any(q.startswith("gradient") for q in failed)  # the implied gradients are twice the reference's


def test_a_summed_loss_is_caught():
    framework.select_backend(None)
    keras = framework.keras()
    framework.set_seed(7)
    model = build_model()
    loss = keras.losses.CategoricalCrossentropy(reduction="sum")
    model.compile(optimizer=keras.optimizers.SGD(), loss=loss)
    failed = {c.quantity for c in oracle.run_checks(model, *batch(dtype=np.float32)) if not c.ok}
    assert "batch loss (relative)" in failed and any(q.startswith("updated") for q in failed)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [framework.DEFAULT_BACKEND, *OTHER_BACKENDS])
def test_oracle_command_per_backend(backend, real_data_dir, tmp_path):
    if not framework.backend_installed(backend):
        pytest.skip(f"the {backend} backend is not installed: {framework.INSTALL_HINTS[backend]}")
    out = tmp_path / "oracle.json"
    proc = run_cli("oracle", "--backend", backend, "--steps", "20", "--out", str(out), "--data-dir", str(real_data_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{backend}: matches the reference of the book's math" in proc.stdout
    document = json.loads(out.read_text())
    assert document["matches"] and document["backend"] == backend
    assert [p["step"] for p in document["trajectory"]] == [1, 10, 20]
