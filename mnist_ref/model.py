"""The book's steps 2-3: the model and its compile settings, plus the weight fingerprint."""

from __future__ import annotations

import hashlib

import numpy as np

from mnist_ref import framework
from mnist_ref.config import Config
from mnist_ref.dataset import IMAGE_SIDE, NUM_CLASSES

HIDDEN_UNITS = 64  # the book: Dense(units=64, input_dim=28*28, activation='relu')
# 784*64 + 64 weights and biases in the hidden layer, 64*10 + 10 in the output layer.
PARAMETER_COUNT = 50_890


def build_model():
    """Step 2: Dense(64, relu) on 784 inputs, then Dense(10, softmax)."""
    keras = framework.keras()
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_SIDE * IMAGE_SIDE,)),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


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
    """sha256 over every weight array's shape and float32 bytes, in layer order."""
    return arrays_fingerprint(model.get_weights())


def arrays_fingerprint(arrays) -> str:
    """sha256 over each array's shape and float32 bytes, in order (weight_fingerprint of plain arrays)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
