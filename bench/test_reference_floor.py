"""The achievable floor: the book's training written out in NumPy (mnist_ref.reference.numpy_model), timed as fit is.

One case per batch size (backend 'numpy', mode 'floor'); the tables divide each Keras path's epoch by it.
"""

from __future__ import annotations

import numpy as np
import pytest
from timing import TimedCall, record

from mnist_ref.core import book
from mnist_ref.core.model import arrays_fingerprint
from mnist_ref.measure.speed_of_light import train_flops
from mnist_ref.plumbing import interrupts
from mnist_ref.reference import numpy_model
from mnist_ref.store.record import diverged, finite


@pytest.mark.floor
def test_floor_fit(benchmark, case, mnist, workload, matmul_flops, slowdown):
    """One epoch a round of the book's 5-epoch schedule, reshuffled every epoch as Keras does (counting
    instructions: an epoch of workload.steps batches)."""
    cfg = case.config()
    data = workload.bounded(mnist, cfg.batch_size)
    x, y = data.x_train, data.y_train
    w = numpy_model.initial_weights(cfg.seed)
    rng, spaces = np.random.default_rng(cfg.seed), {}
    call = TimedCall(
        workload.whole(
            lambda: numpy_model.fit_epoch(
                x,
                y,
                w,
                batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate,
                order=rng.permutation(len(x)),
                spaces=spaces,
            )
        ),
        slowdown,
    )
    interrupts.stage("fit-floor")
    with numpy_model.single_threaded_blas():
        losses = [call()]  # warm-up, as for Keras
        benchmark.pedantic(
            lambda: losses.append(call()),
            rounds=workload.rounds_for("fit", cfg.epochs - 1),
            warmup_rounds=0,
            iterations=1,
        )
    loss, accuracy = numpy_model.evaluate(mnist.x_test, mnist.y_test, w)
    band = None if workload.bounded_work else book.band_for(cfg)
    record(
        benchmark,
        case,
        path="fit",
        call=call,
        samples=len(x),
        steps=-(-len(x) // cfg.batch_size),
        workload=workload,
        flops=train_flops(len(x)),
        throughput=matmul_flops("cpu:0"),
        **({} if workload.bounded_work else {"warmup_s": call.inside[0]}),
        test_accuracy=finite(accuracy),
        test_loss=finite(loss),
        diverged=diverged(losses, loss),
        band=None if band is None else [band.low, band.high],
        in_band=None if band is None else band.contains(accuracy),
        history=finite({"loss": losses}),
        fingerprint=arrays_fingerprint(w.as_list()),
    )
    failure = None if workload.bounded_work else book.gate_failure(cfg, accuracy)
    if failure:
        pytest.fail(f"{failure} ({case.id})")
