"""The book's steps 2-3: the model and its compile settings, plus the weight fingerprint."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from mnist_ref.core import framework
from mnist_ref.core.config import Config
from mnist_ref.core.dataset import IMAGE_SIDE, NUM_CLASSES
from mnist_ref.plumbing.errors import ConfigError

HIDDEN_UNITS = 64  # the book: Dense(units=64, input_dim=28*28, activation='relu')
# 784*64 + 64 weights and biases in the hidden layer, 64*10 + 10 in the output layer.
PARAMETER_COUNT = 50_890


def build_model(*, extra_work: float = 0):
    """Step 2: Dense(64, relu) on 784 inputs, then Dense(10, softmax). extra_work > 0 puts that many extra
    products in front of the first layer (extra_work_layer): real work in every step, the same weights."""
    keras = framework.keras()
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_SIDE * IMAGE_SIDE,)),
            *([extra_work_layer(extra_work)] if extra_widths(extra_work) else []),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def extra_work_layer(products: float):
    """A layer that does `products` extra (batch x 784) @ (784 x 64) products forward, and as many for their
    gradients backward, and adds their sum times a zero variable to its input: the graph cannot drop the work
    (the zero is a variable, not a constant), and the book's layers see exactly their input, so training ends
    on bit-identical weights. A fraction is one product of that share of the 64 columns (0.5: 32 columns).
    For measuring whether a timing responds to a known amount of real extra work."""
    widths = extra_widths(products)
    keras = framework.keras()
    if framework.is_keras2():
        import tensorflow as tf

        matmul, total = tf.matmul, tf.reduce_sum
    else:
        matmul, total = keras.ops.matmul, keras.ops.sum

    class ExtraWork(keras.layers.Layer):
        book_layer = False  # left out of the weight fingerprint

        def build(self, input_shape):
            self.kernels = [
                self.add_weight(name=f"extra_kernel_{i}", shape=(int(input_shape[-1]), width), initializer="zeros")
                for i, width in enumerate(widths)
            ]
            self.zero = self.add_weight(name="zero", shape=(), initializer="zeros", trainable=False)

        def call(self, x):
            extra = total(matmul(x, self.kernels[0]))
            for kernel in self.kernels[1:]:
                extra = extra + total(matmul(x, kernel))
            return x + self.zero * extra

    return ExtraWork(name=f"extra_work_x{products:g}")


# The most extra products a step may carry (each costs about as much as the book's first layer): enough to calibrate a
# measure many times over, far below what would exhaust memory.
MAX_EXTRA_WORK = 16


def check_extra_work(products: float) -> float:
    """products if extra_work_layer builds exactly that much work: a finite number from 0 to MAX_EXTRA_WORK in steps of
    1/64 (one of the 64 columns); ConfigError otherwise (a smaller fraction would be recorded and never built)."""
    columns = products * HIDDEN_UNITS if math.isfinite(products) else -1
    if not 0 <= products <= MAX_EXTRA_WORK or abs(columns - round(columns)) > 1e-9:
        raise ConfigError(
            f"extra work takes a number of products from 0 to {MAX_EXTRA_WORK} in steps of 1/{HIDDEN_UNITS} "
            f"({1 / HIDDEN_UNITS:g}: one of the {HIDDEN_UNITS} columns), got {products:g}"
        )
    return products


def extra_widths(products: float) -> list[int]:
    """Column counts of the extra products: 64 for each whole one, the fraction's share of 64 for the rest."""
    whole = int(products)
    part = round((products - whole) * HIDDEN_UNITS)
    return [HIDDEN_UNITS] * whole + ([part] if part else [])


def compile_model(model, cfg: Config) -> None:
    """Step 3: categorical cross-entropy, plain SGD at cfg.learning_rate, accuracy."""
    keras = framework.keras()
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=cfg.learning_rate),
        metrics=["accuracy"],
        **framework.compile_options(cfg.mode),
    )


def weight_fingerprint(model) -> str:
    """sha256 over every weight array's shape and float32 bytes of the book's layers, in layer order."""
    return arrays_fingerprint(
        [w for layer in model.layers if getattr(layer, "book_layer", True) for w in layer.get_weights()]
    )


def arrays_fingerprint(arrays) -> str:
    """sha256 over each array's shape and float32 bytes, in order (weight_fingerprint of plain arrays)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
