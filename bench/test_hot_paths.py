"""fit / evaluate / predict of the book's model, timed with pytest-benchmark, and the accuracy gate."""

from __future__ import annotations

import numpy as np
import pytest
from timing import TimedCall, record, round_times, with_extra_steps

from mnist_ref.core import book, framework
from mnist_ref.core.model import build_model, compile_model, weight_fingerprint
from mnist_ref.core.walkthrough import fit_epoch
from mnist_ref.measure.speed_of_light import forward_flops, train_flops
from mnist_ref.plumbing import interrupts
from mnist_ref.store.record import diverged, finite

# Rounds per hot path, in smoke mode too (the regression gate needs them). A fit round is one epoch:
# the book's 5 epochs give one warm-up epoch and 4 timed ones. evaluate and predict over the 10,000 test
# images take about a second each on 2 cores; a one-image predict takes milliseconds, so it gets more rounds.
ROUNDS = {"evaluate": 5, "predict": 5, "predict_one": 30}


def test_fit(
    benchmark, case, mnist, workload, matmul_flops, trained, slowdown, wait, extra_work, extra_steps, oracle_verdict
):
    """One epoch a round over the book's 5-epoch schedule; the first epoch is the warm-up. Counting
    instructions or timing steps, a round is an epoch of a bounded number of batches, and the accuracy band is not
    judged (the time-measured bench trains the book's schedule and judges it)."""
    cfg = case.config()
    spe = framework.compile_options(cfg.mode).get("steps_per_execution", 1)
    data = with_extra_steps(workload.bounded(mnist, cfg.batch_size, spe), cfg.batch_size, extra_steps)
    rounds = workload.rounds_for("fit", cfg.epochs - 1)
    framework.set_seed(cfg.seed)
    with case.scope():
        model = build_model(extra_work=extra_work)
        compile_model(model, cfg)
        epoch = iter(range(rounds + 1))
        round_call = workload.counted(
            "train",
            framework.steps_per_execution(model),
            lambda callbacks: fit_epoch(model, data, cfg, epoch=next(epoch), callbacks=callbacks),
            wait=wait,
        )
        call = TimedCall(round_call, slowdown)
        interrupts.stage(f"fit-{case.mode}")
        # warm-up: tracing and compilation (counting: not counted, and call.inside holds only the rounds)
        history = [fit_epoch(model, data, cfg, epoch=next(epoch)) if workload.counting else call()]
        benchmark.pedantic(lambda: history.append(call()), rounds=rounds, warmup_rounds=0, iterations=1)
        loss, accuracy = (
            (None, None)
            if workload.bounded_work
            else model.evaluate(mnist.x_test, mnist.y_test, batch_size=cfg.batch_size, verbose=0)
        )
    trained[case] = model
    steps = workload.counted_steps(-(-len(data.x_train) // cfg.batch_size), "fit", framework.steps_per_execution(model))
    samples = min(len(data.x_train), steps * cfg.batch_size)
    record(
        benchmark,
        case,
        path="fit",
        call=call,
        samples=samples,
        steps=steps,
        workload=workload,
        flops=train_flops(samples),
        throughput=matmul_flops(case.device),
        **_fit_outcome(benchmark, cfg, workload, call, model, history, loss, accuracy),
    )
    failure = None if workload.bounded_work else book.gate_failure(cfg, float(accuracy))
    if failure:
        pytest.fail(f"{failure} ({case.id})")


def _fit_outcome(benchmark, cfg, workload, call, model, history, loss, accuracy) -> dict:
    """What the fit left: warm-up and compile time (the book's schedule), accuracy, loss, band, divergence, history
    and the weights' fingerprint."""
    times = round_times(benchmark)
    band = None if workload.bounded_work else book.band_for(cfg)
    history = {key: [h[key][0] for h in history] for key in history[0]}
    warmup = (
        {}
        if workload.bounded_work
        else {"warmup_s": call.inside[0], "compile_s": call.inside[0] - float(np.median(times)) if times else None}
    )
    return {
        **warmup,
        "test_accuracy": finite(accuracy),
        "test_loss": finite(loss),
        "diverged": diverged(history, loss),
        "band": None if band is None else [band.low, band.high],
        "in_band": None if band is None else band.contains(float(accuracy)),
        "history": finite(history),
        "fingerprint": weight_fingerprint(model),
    }


def _model_for(case, trained):
    if case not in trained:
        pytest.skip(f"no model trained for {case.id}: test_fit for this case did not run or failed")
    return trained[case]


def _time_test_set(
    benchmark,
    case,
    *,
    path: str,
    keras_call,
    samples: int,
    workload,
    matmul_flops,
    slowdown: float,
    steps_per_execution: int,
) -> None:
    """Time a Keras call over the test images (all 10,000; workload.steps batches when counting) at the case's batch
    size."""
    call = TimedCall(keras_call, slowdown)
    with case.scope():
        benchmark.pedantic(call, rounds=workload.rounds_for(path, ROUNDS[path]), warmup_rounds=1, iterations=1)
    steps = workload.counted_steps(-(-samples // case.batch_size), path, steps_per_execution)
    samples = min(samples, steps * case.batch_size)
    record(
        benchmark,
        case,
        path=path,
        call=call,
        samples=samples,
        steps=steps,
        workload=workload,
        flops=forward_flops(samples),
        throughput=matmul_flops(case.device),
    )


def test_evaluate(benchmark, case, mnist, workload, matmul_flops, trained, slowdown, wait):
    """model.evaluate over the 10,000 test images."""
    model = _model_for(case, trained)
    spe = framework.steps_per_execution(model)
    data = workload.bounded(mnist, case.batch_size, spe)
    _time_test_set(
        benchmark,
        case,
        path="evaluate",
        samples=len(data.x_test),
        workload=workload,
        matmul_flops=matmul_flops,
        slowdown=slowdown,
        steps_per_execution=spe,
        keras_call=workload.counted(
            "test",
            spe,
            lambda callbacks: model.evaluate(
                data.x_test, data.y_test, batch_size=case.batch_size, verbose=0, callbacks=callbacks
            ),
            wait=wait,
        ),
    )


def test_predict(benchmark, case, mnist, workload, matmul_flops, trained, slowdown, wait):
    """model.predict over the 10,000 test images."""
    model = _model_for(case, trained)
    spe = framework.steps_per_execution(model)
    data = workload.bounded(mnist, case.batch_size, spe)
    _time_test_set(
        benchmark,
        case,
        path="predict",
        samples=len(data.x_test),
        workload=workload,
        matmul_flops=matmul_flops,
        slowdown=slowdown,
        steps_per_execution=spe,
        keras_call=workload.counted(
            "predict",
            spe,
            lambda callbacks: model.predict(data.x_test, batch_size=case.batch_size, verbose=0, callbacks=callbacks),
            wait=wait,
        ),
    )


def test_predict_one(benchmark, case, mnist, workload, matmul_flops, trained, slowdown):
    """The book's step 7: model.predict on the first test image; its latency."""
    model = _model_for(case, trained)
    first = mnist.x_test[0:1]
    call = TimedCall(workload.whole(lambda: model.predict(first, verbose=0)), slowdown)
    with case.scope():
        prediction = benchmark.pedantic(
            call, rounds=workload.rounds_for("predict_one", ROUNDS["predict_one"]), warmup_rounds=2, iterations=1
        )
    record(
        benchmark,
        case,
        path="predict_one",
        call=call,
        samples=1,
        steps=1,
        flops=forward_flops(1),
        workload=workload,
        throughput=matmul_flops(case.device),
        predicted_class=int(np.argmax(prediction[0])),
    )
