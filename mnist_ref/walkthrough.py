"""The book's seven steps as one function: dataset, model, compile, fit, history, evaluate, predict."""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from mnist_ref import data_parallel, framework, interrupts
from mnist_ref.config import Config
from mnist_ref.dataset import Dataset, RawMnist, prepare
from mnist_ref.model import build_model, compile_model, weight_fingerprint


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one walk-through produced."""

    config: Config
    device: str
    history: dict[str, list[float]]
    evaluate: dict[str, float]
    first_prediction: list[float]
    first_predicted_class: int
    first_label: int
    timings_s: dict[str, float | list[float]]
    fingerprint: str
    distribution: dict = dataclasses.field(default_factory=dict)


def _epoch_timer():
    """A Keras callback recording each epoch's wall time with perf_counter."""
    keras = framework.keras()

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _validation(data: Dataset):
    """(x_val, y_val) for model.fit, or None when no validation set was carved."""
    return (data.x_val, data.y_val) if data.x_val is not None else None


def fit(model, data: Dataset, cfg: Config, *, verbose: int | str = 0, layout: data_parallel.Layout | None = None):
    """Step 4: model.fit with the book's schedule; returns the History and per-epoch seconds.

    With several worker processes each fits its own shard of the training set at its share of the global batch.
    """
    layout = layout or data_parallel.Layout()
    x_train, y_train = data_parallel.local_shard(data.x_train, data.y_train, layout)
    timer = _epoch_timer()
    history = model.fit(
        x_train,
        y_train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size // layout.workers,
        validation_data=_validation(data),
        callbacks=[timer],
        verbose=verbose,
    )
    return history, timer.seconds


def fit_epoch(model, data: Dataset, cfg: Config, *, epoch: int, callbacks=None) -> dict[str, list[float]]:
    """One more epoch of model.fit (epoch counts from 0), as Keras resumes with initial_epoch."""
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=epoch + 1,
        initial_epoch=epoch,
        batch_size=cfg.batch_size,
        validation_data=_validation(data),
        verbose=0,
        callbacks=callbacks,
    )
    return framework.history_dict(history)


def _local_copy(model):
    """The book's model on this process's first device, with model's weights."""
    copy = build_model()
    copy.set_weights(model.get_weights())
    return copy


def run(cfg: Config, raw: RawMnist, *, verbose: int | str = 0, layout: data_parallel.Layout | None = None) -> RunResult:
    """Walk the book's seven steps under cfg's seed on cfg's device (or its replicas), timing fit, evaluate and predict.

    Keras' fit, evaluate and predict return host values, so device work has finished when each returns
    and the clock is read.
    """
    layout = layout or data_parallel.layout(cfg)
    framework.set_seed(cfg.seed, deterministic=cfg.deterministic)
    device = framework.resolve_device(cfg.device)
    data = prepare(raw, validation_split=cfg.validation_split, seed=cfg.seed)  # step 1
    with data_parallel.scope(framework.backend(), layout, device):
        model = build_model()  # step 2
        compile_model(model, cfg)  # step 3
        interrupts.stage("fit")
        start = time.perf_counter()
        history, epoch_seconds = fit(model, data, cfg, verbose=verbose, layout=layout)  # step 4
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        loss, accuracy = model.evaluate(data.x_test, data.y_test, batch_size=cfg.batch_size // layout.workers, verbose=verbose)  # step 6
        evaluate_s = time.perf_counter() - start
    if layout.workers == 1:
        predictor, scope = model, data_parallel.scope(framework.backend(), layout, device)
    else:
        # A multi-process predict returns an array spread over every process, which no one process can read
        # (a jax.Array with non-addressable shards); a copy of the trained model on this process's default
        # device (its own first device: a device name would mean worker 0's) predicts instead.
        predictor, scope = _local_copy(model), contextlib.nullcontext()
    with scope:
        start = time.perf_counter()
        yhat = predictor.predict(data_parallel.first_rows(data.x_test, layout), verbose=verbose)  # step 7
        predict_s = time.perf_counter() - start
    return RunResult(
        config=cfg,
        device=device,
        history=framework.history_dict(history),  # step 5
        evaluate={"loss": float(loss), "accuracy": float(accuracy)},
        first_prediction=[float(p) for p in yhat[0]],
        first_predicted_class=int(np.argmax(yhat[0])),
        first_label=int(data.test_labels[0]),
        timings_s={"fit": fit_s, "epochs": epoch_seconds, "evaluate": evaluate_s, "predict": predict_s},
        fingerprint=weight_fingerprint(model),
        distribution=data_parallel.describe(framework.backend(), layout),
    )
