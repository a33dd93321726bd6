"""Does this framework compute the book's math? Keras' training steps against the hand-written reference.

From Keras' own initial weights and the same batch, one `train_on_batch` of the book's compiled model must
give the reference's loss, gradients and updated weights (float64 reference, float32 framework) within the
tolerances below; a short run of consecutive steps shows how far the two trajectories drift (reported).
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from mnist_ref.core.config import KERAS_SGD_DEFAULT_LEARNING_RATE
from mnist_ref.reference import numpy_model
from mnist_ref.store.schema import ORACLE_SCHEMA

# Tolerances, float32 framework against the float64 reference, one step at batch 32. Measured on CPU with
# seed 42 (TF 2.20 and 2.21, JAX, torch; README, "The book's math by hand"): loss 1e-9 to 6e-8 relative,
# gradients up to 1.6e-5, updated weights up to 1.5e-8. A wrong learning rate, reduction or derivative
# differs by order 1.
# - the batch loss (about 2.3 at the start), relative;
LOSS_RTOL = 1e-5
# - each gradient, as max |difference| / max |reference gradient| of that tensor. The gradient is implied
#   by the weight change, (before - after) / lr, so float32 rounding of weights near 0.3 (3e-8) divided by
#   lr = 0.01 alone gives up to about 2e-5 of dW2's largest entry;
GRADIENT_RTOL = 1e-4
# - the updated weights, absolute (weights are of order 0.1; float32 resolves about 1e-8 there);
WEIGHT_ATOL = 1e-6
# - the learning rate, relative: float32's nearest value to 0.01 is 2.2e-8 below it, relatively.
LEARNING_RATE_RTOL = 1e-6
# - a data-parallel step against the one-device step from the same weights and batch, absolute: the replicas'
#   averaged gradients may round differently in float32 (measured: TensorFlow's MirroredStrategy bit-identical,
#   JAX's DataParallel up to 7.5e-9 on 2 replicas), a few units in the last place of weights near 0.3.
REPLICA_ATOL = 1e-7
# Glorot-uniform bounds are checked exactly; its standard deviation (limit / sqrt(3)) within this fraction.
INIT_STD_RTOL = 0.05
NAMES = ("W1", "b1", "W2", "b2")


@dataclasses.dataclass(frozen=True)
class Check:
    """One compared quantity: its largest difference, the tolerance, and whether it holds."""

    quantity: str
    difference: float
    tolerance: float

    @property
    def ok(self) -> bool:
        """Whether the difference is within the tolerance."""
        return bool(self.difference <= self.tolerance)


def initializer_checks(weights: list[np.ndarray]) -> list[Check]:
    """Kernels Glorot-uniform (inside the bounds, the right spread), biases zero."""
    checks = []
    for name, w in zip(NAMES, weights, strict=True):
        if w.ndim == 1:
            checks.append(Check(f"initial {name} (zeros)", float(np.max(np.abs(w))), 0.0))
            continue
        limit = np.sqrt(6.0 / sum(w.shape))
        checks.append(Check(f"initial {name} inside the Glorot bound", max(0.0, float(np.max(np.abs(w)) - limit)), 0.0))
        checks.append(
            Check(
                f"initial {name} spread (std / expected - 1)",
                abs(float(np.std(w)) / (limit / np.sqrt(3)) - 1),
                INIT_STD_RTOL,
            )
        )
    return checks


def step_checks(
    before: list[np.ndarray],
    after: list[np.ndarray],
    keras_loss: float,
    x: np.ndarray,
    y: np.ndarray,
    *,
    learning_rate: float,
) -> list[Check]:
    """One Keras SGD step (weights before and after, its reported loss) against the reference in float64."""
    w = numpy_model.Weights.from_keras(before)
    loss, grads = numpy_model.gradients(x.astype(np.float64), y.astype(np.float64), w)
    checks = [Check("batch loss (relative)", abs(keras_loss - loss) / abs(loss), LOSS_RTOL)]
    for name, b, a, g in zip(NAMES, before, after, grads, strict=True):
        implied = (np.asarray(b, np.float64) - np.asarray(a, np.float64)) / learning_rate
        checks.append(
            Check(
                f"gradient d{name} (relative to its largest)",
                float(np.max(np.abs(implied - g)) / np.max(np.abs(g))),
                GRADIENT_RTOL,
            )
        )
    for name, a, ref in zip(NAMES, after, _updated(w, grads, learning_rate), strict=True):
        checks.append(Check(f"updated {name}", float(np.max(np.abs(np.asarray(a, np.float64) - ref))), WEIGHT_ATOL))
    return checks


def _updated(w: numpy_model.Weights, grads, learning_rate: float) -> list[np.ndarray]:
    new = w.copy()
    numpy_model.sgd_update(new, grads, learning_rate)
    return new.as_list()


def keras_learning_rate(model) -> float:
    """The SGD learning rate the compiled model really uses."""
    return float(np.asarray(model.optimizer.learning_rate))


def run_checks(model, x: np.ndarray, y: np.ndarray) -> list[Check]:
    """Initializer, optimizer default and one train_on_batch of a freshly compiled book model."""
    before = [np.array(w) for w in model.get_weights()]
    checks = initializer_checks(before)
    lr_error = abs(keras_learning_rate(model) - KERAS_SGD_DEFAULT_LEARNING_RATE) / KERAS_SGD_DEFAULT_LEARNING_RATE
    checks.append(Check("SGD learning rate vs Keras' default 0.01 (relative)", lr_error, LEARNING_RATE_RTOL))
    keras_loss = float(np.ravel(model.train_on_batch(x, y))[0])
    after = [np.array(w) for w in model.get_weights()]
    return checks + step_checks(before, after, keras_loss, x, y, learning_rate=KERAS_SGD_DEFAULT_LEARNING_RATE)


def trajectory(model, x: np.ndarray, y: np.ndarray, *, steps: int, batch_size: int, every: int = 10) -> list[dict]:
    """Consecutive train_on_batch steps over x in stored order beside the float64 reference from the same
    start; the largest weight difference and both losses at step 1 and every `every` steps."""
    w = numpy_model.Weights.from_keras(model.get_weights())
    ws = numpy_model.Workspace(batch_size, np.float64)
    points = []
    with numpy_model.single_threaded_blas():
        for step in range(1, steps + 1):
            xb, yb = x[(step - 1) * batch_size : step * batch_size], y[(step - 1) * batch_size : step * batch_size]
            keras_loss = float(np.ravel(model.train_on_batch(xb, yb))[0])
            ref_loss = numpy_model.train_step(
                xb.astype(np.float64), yb.astype(np.float64), w, ws, learning_rate=KERAS_SGD_DEFAULT_LEARNING_RATE
            )
            if step == 1 or step % every == 0:
                points.append(
                    {
                        "step": step,
                        "max_weight_difference": _largest_difference(model.get_weights(), w.as_list()),
                        "keras_loss": keras_loss,
                        "reference_loss": ref_loss,
                    }
                )
    return points


def _largest_difference(keras_weights: list[np.ndarray], reference_weights: list[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(np.asarray(k, np.float64) - r)))
        for k, r in zip(keras_weights, reference_weights, strict=True)
    )


def fresh_model(cfg, scope=contextlib.nullcontext):
    """The book's model, compiled, with cfg's seed: the same initial weights every time; built inside scope()
    (a device or a data-parallel strategy), which is entered after the seeding's fresh Keras session."""
    from mnist_ref.core import framework
    from mnist_ref.core.model import build_model, compile_model

    framework.set_seed(cfg.seed, deterministic=cfg.deterministic)
    with scope():
        model = build_model()
        compile_model(model, cfg)
    return model


def replicas_check(cfg, scope, device: str, x: np.ndarray, y: np.ndarray) -> Check:
    """One SGD step on cfg's replicas against the same step on one device: same initial weights, same batch."""
    from mnist_ref.core import framework

    single = fresh_model(dataclasses.replace(cfg, replicas=1), lambda: framework.device_scope(device))
    with framework.device_scope(device):
        single.train_on_batch(x, y)
    model = fresh_model(cfg, scope)
    with scope():
        model.train_on_batch(x, y)
    difference = max(
        float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), model.get_weights(), strict=True)
    )
    return Check(f"updated weights, {cfg.replicas} replicas vs 1 device", difference, REPLICA_ATOL)


def run(cfg, x: np.ndarray, y: np.ndarray, *, steps: int) -> dict:
    """The oracle's document: every check of one step, and the trajectory of `steps` steps, on x, y in order."""
    from mnist_ref.core import framework
    from mnist_ref.scale import data_parallel

    layout = data_parallel.layout(cfg)
    device = framework.resolve_device(cfg.device)

    def scope():
        return data_parallel.scope(framework.backend(), layout, device)

    model = fresh_model(cfg, scope)
    with scope():
        checks = run_checks(model, x[: cfg.batch_size], y[: cfg.batch_size])
    if layout.distributed and layout.workers == 1:
        checks.append(replicas_check(cfg, scope, device, x[: cfg.batch_size], y[: cfg.batch_size]))
    points = []
    if steps:
        model = fresh_model(cfg, scope)
        with scope():
            points = trajectory(model, x, y, steps=steps, batch_size=cfg.batch_size)
    return {
        "schema": ORACLE_SCHEMA,
        "backend": framework.backend(),
        "config": cfg.to_dict(),
        "distribution": data_parallel.describe(framework.backend(), layout),
        "matches": all(c.ok for c in checks),
        "checks": [{**dataclasses.asdict(c), "ok": c.ok} for c in checks],
        "trajectory": points,
    }
