"""The book's example as its readers type it: plain Keras, nothing of mnist-ref. The harness-cost study
(mnist_ref.validation.harness) runs it beside the bench to measure what the harness costs a fit epoch.

    python bench/book_script.py --json OUT.json [--data MNIST_DIR]

Its seven steps: the dataset (the MNIST IDX files of MNIST_REF_DATA, read here with gzip and NumPy, since Keras'
own download needs the internet; 784 floats in [0, 1], one-hot labels), a Sequential Dense(64, relu) -> Dense(10,
softmax), compile with categorical cross-entropy and plain SGD, fit 5 epochs at batch 32 in one call, the history,
evaluate, predict the first test image. verbose=0, as the bench runs it (a progress bar is the terminal's time, not
the model's). One callback notes the clock at each epoch's start and end: OUT.json holds those seconds and the
results.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def dataset(directory: Path, keras):
    """1. The dataset: 784 floats in [0, 1] an image, one-hot labels."""
    x_train = read_idx(directory / "train-images-idx3-ubyte.gz").reshape(60000, 784).astype("float32") / 255.0
    x_test = read_idx(directory / "t10k-images-idx3-ubyte.gz").reshape(10000, 784).astype("float32") / 255.0
    y_train = keras.utils.to_categorical(read_idx(directory / "train-labels-idx1-ubyte.gz"), 10)
    y_test = keras.utils.to_categorical(read_idx(directory / "t10k-labels-idx1-ubyte.gz"), 10)
    return x_train, y_train, x_test, y_test


def model_of(keras):
    """2. The model, and 3. compile."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


def epoch_clock(keras):
    """A callback that notes each epoch's seconds, start to end."""

    class Epochs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    return Epochs()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="book_script.py")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=os.environ.get("MNIST_REF_DATA"))
    args = parser.parse_args(argv)
    if args.data is None or not (args.data / "train-images-idx3-ubyte.gz").is_file():
        parser.error(f"--data {args.data}: no MNIST IDX files there; set MNIST_REF_DATA or pass --data")

    import keras

    x_train, y_train, x_test, y_test = dataset(args.data, keras)
    model = model_of(keras)
    epochs = epoch_clock(keras)
    hist = model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0, callbacks=[epochs])  # 4. fit
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=32, verbose=0)  # 5. the history, 6. evaluate
    first = int(np.argmax(model.predict(x_test[:1], verbose=0)[0]))  # 7. predict
    out = {
        "script": "bench/book_script.py",
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "epoch_s": epochs.seconds,
        "train_accuracy": [float(a) for a in hist.history["accuracy"]],
        "test": [float(loss), float(accuracy)],
        "first_prediction": first,
    }
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
