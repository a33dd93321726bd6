"""fit / evaluate / predict of the book's model, timed with pytest-benchmark, and the accuracy gate."""

from __future__ import annotations

import numpy as np
import pytest
from timing import TimedCall, record, round_times

from mnist_ref import book, framework, interrupts
from mnist_ref.model import build_model, compile_model, weight_fingerprint
from mnist_ref.record import diverged, finite
from mnist_ref.speed_of_light import forward_flops, train_flops
from mnist_ref.walkthrough import fit_epoch

TEST_IMAGES = 10_000
# Rounds per hot path, in smoke mode too (the regression gate needs them). A fit round is one epoch:
# the book's 5 epochs give one warm-up epoch and 4 timed ones. evaluate and predict over the 10,000 test
# images take about a second each on 2 cores; a one-image predict takes milliseconds, so it gets more rounds.
ROUNDS = {"evaluate": 5, "predict": 5, "predict_one": 30}


def test_fit(benchmark, case, mnist, matmul_flops, trained, slowdown, extra_work, oracle_verdict):
    """One epoch a round over the book's 5-epoch schedule; the first epoch is the warm-up."""
    cfg = case.config()
    framework.set_seed(cfg.seed)
    with case.scope():
        model = build_model(extra_work=extra_work)
        compile_model(model, cfg)
        epoch = iter(range(cfg.epochs))
        call = TimedCall(lambda: fit_epoch(model, mnist, cfg, epoch=next(epoch)), slowdown)
        interrupts.stage(f"fit-{case.mode}")
        history = [call()]  # warm-up: tracing and compilation
        benchmark.pedantic(lambda: history.append(call()), rounds=cfg.epochs - 1, warmup_rounds=0, iterations=1)
        loss, accuracy = model.evaluate(mnist.x_test, mnist.y_test, batch_size=cfg.batch_size, verbose=0)
    trained[case] = model
    data = round_times(benchmark)
    band = book.band_for(cfg)
    history = {key: [h[key][0] for h in history] for key in history[0]}
    steps = -(-len(mnist.x_train) // cfg.batch_size)
    record(
        benchmark, case, path="fit", call=call, samples=len(mnist.x_train), steps=steps,
        flops=train_flops(len(mnist.x_train)), throughput=matmul_flops(case.device),
        warmup_s=call.inside[0], compile_s=call.inside[0] - float(np.median(data)) if data else None,
        test_accuracy=finite(float(accuracy)), test_loss=finite(float(loss)),
        diverged=diverged(history, float(loss)),
        band=None if band is None else [band.low, band.high],
        in_band=None if band is None else band.contains(float(accuracy)),
        history=finite(history),
        fingerprint=weight_fingerprint(model),
    )
    failure = book.gate_failure(cfg, float(accuracy))
    if failure:
        pytest.fail(f"{failure} ({case.id})")


def _model_for(case, trained):
    if case not in trained:
        pytest.skip(f"no model trained for {case.id}: test_fit for this case did not run or failed")
    return trained[case]


def _time_test_set(benchmark, case, *, path: str, keras_call, matmul_flops, slowdown: float) -> None:
    """Time a Keras call over the 10,000 test images at the case's batch size."""
    call = TimedCall(keras_call, slowdown)
    with case.scope():
        benchmark.pedantic(call, rounds=ROUNDS[path], warmup_rounds=1, iterations=1)
    record(benchmark, case, path=path, call=call, samples=TEST_IMAGES, steps=-(-TEST_IMAGES // case.batch_size),
            flops=forward_flops(TEST_IMAGES), throughput=matmul_flops(case.device))


def test_evaluate(benchmark, case, mnist, matmul_flops, trained, slowdown):
    """model.evaluate over the 10,000 test images."""
    model = _model_for(case, trained)
    _time_test_set(benchmark, case, path="evaluate", matmul_flops=matmul_flops, slowdown=slowdown,
                   keras_call=lambda: model.evaluate(mnist.x_test, mnist.y_test, batch_size=case.batch_size, verbose=0))


def test_predict(benchmark, case, mnist, matmul_flops, trained, slowdown):
    """model.predict over the 10,000 test images."""
    model = _model_for(case, trained)
    _time_test_set(benchmark, case, path="predict", matmul_flops=matmul_flops, slowdown=slowdown,
                   keras_call=lambda: model.predict(mnist.x_test, batch_size=case.batch_size, verbose=0))


def test_predict_one(benchmark, case, mnist, matmul_flops, trained, slowdown):
    """The book's step 7: model.predict on the first test image; its latency."""
    model = _model_for(case, trained)
    first = mnist.x_test[0:1]
    call = TimedCall(lambda: model.predict(first, verbose=0), slowdown)
    with case.scope():
        prediction = benchmark.pedantic(call, rounds=ROUNDS["predict_one"], warmup_rounds=2, iterations=1)
    record(benchmark, case, path="predict_one", call=call, samples=1, steps=1, flops=forward_flops(1),
            throughput=matmul_flops(case.device), predicted_class=int(np.argmax(prediction[0])))
