"""What every timed hot path shares: the measure (time, or instruction counts over bounded work), the
wrapped call that measures the harness' own share, and the extra_info each benchmark records (the case,
throughput, speed of light, harness overhead)."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from mnist_ref.measure.speed_of_light import speed_of_light_s
from mnist_ref.scale.data_parallel import strategy_name
from mnist_ref.store import rounds

MEASURES = ("time", "instructions")


@dataclasses.dataclass(frozen=True)
class Measure:
    """What a round's number is. time: seconds of the whole workload (an epoch of 60,000 images, the 10,000
    test images). instructions: instructions counted by callgrind (mnist_ref.measure.instructions) over a bounded
    workload of `steps` batches a round, which an instrumented process gets through in seconds rather than hours."""

    name: str = "time"
    steps: int = 40  # batches a round when counting instructions
    rounds: dict = dataclasses.field(default_factory=dict)  # path -> timed rounds, where they differ from time's

    @property
    def counting(self) -> bool:
        return self.name == "instructions"

    def bounded(self, data, batch_size: int):
        """The dataset a round works on: all of it when timing; `steps` batches of training and of test
        images when counting (validation likewise)."""
        if not self.counting:
            return data
        n = self.steps * batch_size

        def head(a):
            return None if a is None else a[:n]

        return dataclasses.replace(data, x_train=head(data.x_train), y_train=head(data.y_train), x_val=head(data.x_val),
                                   y_val=head(data.y_val), x_test=head(data.x_test), y_test=head(data.y_test),
                                   test_labels=head(data.test_labels))

    def rounds_for(self, path: str, default: int) -> int:
        return self.rounds.get(path, default) if self.counting else default

    def counted(self, kind: str, steps_per_execution: int, fn):
        """A round's call: fn(callbacks) runs model.fit / evaluate / predict (kind: train, test, predict). When
        counting, a model that runs one step an execution counts its steps from the second batch to the last
        (steps_counted), leaving out the call's own set-up, which would otherwise dilute a change in the step;
        one that runs many (the tuned mode: 100) counts the whole call."""
        if not self.counting:
            return lambda: fn(None)
        if steps_per_execution == 1:
            callbacks = [steps_counted(kind)]
            return lambda: fn(callbacks)
        return self.whole(lambda: fn(None))

    def whole(self, fn):
        """fn itself when timing; when counting, fn with every instruction of the call counted."""
        if not self.counting:
            return fn
        from mnist_ref.measure.instructions import counter

        def counted():
            counter.start()
            try:
                return fn()
            finally:
                counter.stop()

        return counted

    def counted_steps(self, steps: int, path: str, steps_per_execution: int = 1) -> int:
        """The steps a round's number covers (counted() leaves out the first batch of fit, evaluate and predict
        at one step an execution)."""
        if self.counting and path in ("fit", "evaluate", "predict") and steps_per_execution == 1 and steps > 1:
            return steps - 1
        return steps


def steps_counted(kind: str):
    """A Keras callback that counts instructions from the start of a call's second batch to the end of its last
    (one step an execution)."""
    from mnist_ref.core import framework
    from mnist_ref.measure.instructions import counter

    class StepsCounted(framework.keras().callbacks.Callback):
        def _steps(self) -> int:
            steps = (self.params or {}).get("steps")
            if not steps or steps < 2:
                raise RuntimeError(f"counting the steps of a {kind} call needs at least 2 batches and Keras' step count, got {steps}")
            return steps

        def begin(self, batch, logs=None):
            if batch == 1:
                counter.start()

        def end(self, batch, logs=None):
            if batch == self._steps() - 1:
                counter.stop()

    setattr(StepsCounted, f"on_{kind}_batch_begin", StepsCounted.begin)
    setattr(StepsCounted, f"on_{kind}_batch_end", StepsCounted.end)
    return StepsCounted()


# Counts repeat to within a fraction of a percent from round to round, so fewer rounds suffice (an
# instrumented fit round of 40 book steps takes about 8 s); 4 a side is the fewest with which the exact
# one-sided Mann-Whitney test can reach p < 0.05.
COUNTING = Measure("instructions", rounds={"fit": 4, "evaluate": 4, "predict": 4, "predict_one": 5})


def with_extra_steps(data, batch_size: int, fraction: float):
    """data with fraction more training batches, whole ones, repeated from its start (--bench-inject-steps)."""
    if not fraction:
        return data
    extra = round(fraction * -(-len(data.x_train) // batch_size)) * batch_size
    repeat = np.resize(np.arange(len(data.x_train)), extra)
    return dataclasses.replace(data, x_train=np.concatenate([data.x_train, data.x_train[repeat]]),
                               y_train=np.concatenate([data.y_train, data.y_train[repeat]]))


class TimedCall:
    """Wraps the timed call (Keras', or the reference's), recording the seconds spent inside it, to measure
    the harness' own share.

    With slowdown > 1 the call sleeps (slowdown - 1) times its own duration before returning, so the
    process really takes that much longer: the regression gate's validation uses it.
    """

    def __init__(self, fn, slowdown: float = 1.0):
        self.fn = fn
        self.slowdown = slowdown
        self.inside: list[float] = []
        self.cpu: list[float] = []  # the process's CPU seconds (all threads) in each call: contention evidence

    def __call__(self):
        cpu, start = time.process_time(), time.perf_counter()
        result = self.fn()
        if self.slowdown > 1:
            time.sleep((self.slowdown - 1) * (time.perf_counter() - start))
        self.inside.append(time.perf_counter() - start)
        self.cpu.append(time.process_time() - cpu)
        return result


def round_times(benchmark) -> list[float] | None:
    """Per-round seconds pytest-benchmark measured, or None when benchmarks are disabled."""
    return None if benchmark.stats is None else list(benchmark.stats.stats.data)


def record(benchmark, case, *, path: str, call: TimedCall, samples: int, steps: int, flops: int, throughput: float | None,
           measure: Measure, **extra) -> None:
    """Common extra_info: the case, throughput, speed of light and the harness overhead; for instruction
    counts, instructions a step and a sample."""
    data = round_times(benchmark)
    info = {"path": path, "backend": case.backend, "device": case.device, "batch_size": case.batch_size, "mode": case.mode,
            "replicas": case.replicas, "strategy": strategy_name(case.backend, case.layout), **extra}
    info.update(samples_per_round=samples, steps_per_round=steps, flops_per_round=flops)
    if measure.counting:
        if data and min(data) <= 0:
            raise RuntimeError(f"no instructions counted in a {path} round of {case.id}: the counted region never opened")
        if data:
            median = float(np.median(data))
            info.update(measure=measure.name, round_spread=rounds.spread(data),
                        instructions_per_step=median / steps, instructions_per_sample=median / samples)
        benchmark.extra_info.update(info)
        return
    info.update(matmul_flops_per_s=throughput)
    if data:
        median = float(np.median(data))
        inside = call.inside[-len(data):]
        cpu = float(np.median(call.cpu[-len(data):]))
        info.update(
            # IQR over median of the rounds, and wall over CPU time: a round that waited for the CPU (other
            # processes, steal) shows a high spread or a wall time well above its CPU time.
            round_spread=rounds.spread(data),
            wall_over_cpu=median / cpu if cpu > 0 else None,
            samples_per_s=samples / median,
            steps_per_s=steps / median,
            speed_of_light_s=speed_of_light_s(flops, throughput),
            speed_of_light_pct=100 * speed_of_light_s(flops, throughput) / median,
            harness_overhead_pct=100 * (sum(data) - sum(inside)) / sum(data),
            p95_s=float(np.percentile(data, 95)),
        )
    benchmark.extra_info.update(info)
