"""The book's seven steps as one function: dataset, model, compile, fit, history, evaluate, predict.

The steps run on one device unless a Placement says otherwise: scale.data_parallel builds the one that spreads
them over replicas or worker processes (a strategy's scope, this worker's shard, its share of each batch, a
predict this process can read), so the steps themselves know nothing of distribution.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from mnist_ref.core import framework
from mnist_ref.core.config import Config
from mnist_ref.core.dataset import Dataset, RawMnist, prepare
from mnist_ref.core.model import build_model, compile_model, weight_fingerprint
from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import ConfigError


def _whole(x, y):
    return x, y


def _predict_on_device(model, x, *, device: str, verbose: int | str):
    with framework.device_scope(device):
        return model.predict(x, verbose=verbose)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the seven steps run. The default is the book's: one device, the whole training set, the whole batch."""

    scope: Callable = (
        framework.device_scope
    )  # (device) -> the context the model is built, compiled, fit and evaluated in
    shard: Callable = _whole  # (x, y) -> this process's share of the training set
    batch_share: int = 1  # this process's share of every global batch is batch_size // batch_share
    predict: Callable = _predict_on_device  # (model, x, *, device, verbose) -> model's predictions for x
    description: dict = dataclasses.field(
        default_factory=lambda: {"strategy": "single device", "replicas": 1, "workers": 1, "devices_per_worker": 1}
    )
    spread: bool = False  # whether it spreads the steps over several devices or processes

    def batch(self, global_batch: int) -> int:
        """This process's batch for the configured global batch."""
        return global_batch // self.batch_share


ONE_DEVICE = Placement()


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


def fit(model, data: Dataset, cfg: Config, *, verbose: int | str = 0, placement: Placement = ONE_DEVICE):
    """Step 4: model.fit with the book's schedule; returns the History and per-epoch seconds."""
    x_train, y_train = placement.shard(data.x_train, data.y_train)
    timer = _epoch_timer()
    history = model.fit(
        x_train,
        y_train,
        epochs=cfg.epochs,
        batch_size=placement.batch(cfg.batch_size),
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


def _timed(call, *args, **kwargs):
    """call's result and the seconds it took. Keras' fit, evaluate and predict return host values, so device work
    has finished when each returns and the clock is read."""
    start = time.perf_counter()
    out = call(*args, **kwargs)
    return out, time.perf_counter() - start


def run(cfg: Config, raw: RawMnist, *, verbose: int | str = 0, placement: Placement = ONE_DEVICE) -> RunResult:
    """Walk the book's seven steps under cfg's seed on cfg's device (or placement's), timing fit, evaluate and
    predict."""
    if (cfg.replicas > 1 or cfg.workers > 1) and not placement.spread:
        raise ConfigError(
            "a data-parallel configuration needs its placement: scale.data_parallel.placement(backend, layout)"
        )
    framework.set_seed(cfg.seed, deterministic=cfg.deterministic)
    device = framework.resolve_device(cfg.device)
    data = prepare(raw, validation_split=cfg.validation_split, seed=cfg.seed)  # step 1: dataset
    with placement.scope(device):
        model = build_model()  # step 2: model
        compile_model(model, cfg)  # step 3: compile
        interrupts.stage("fit")
        (history, epoch_seconds), fit_s = _timed(
            fit, model, data, cfg, verbose=verbose, placement=placement
        )  # step 4: fit
        (loss, accuracy), evaluate_s = _timed(
            model.evaluate, data.x_test, data.y_test, batch_size=placement.batch(cfg.batch_size), verbose=verbose
        )  # step 6: evaluate
    yhat, predict_s = _timed(
        placement.predict, model, data.x_test[0:1], device=device, verbose=verbose
    )  # step 7: predict
    return RunResult(
        config=cfg,
        device=device,
        history=framework.history_dict(history),  # step 5: history
        evaluate={"loss": float(loss), "accuracy": float(accuracy)},
        first_prediction=[float(p) for p in yhat[0]],
        first_predicted_class=int(np.argmax(yhat[0])),
        first_label=int(data.test_labels[0]),
        timings_s={"fit": fit_s, "epochs": epoch_seconds, "evaluate": evaluate_s, "predict": predict_s},
        fingerprint=weight_fingerprint(model),
        distribution=placement.description,
    )
