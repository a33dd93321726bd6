"""What every timed hot path shares: the measure (time, or instruction counts over bounded work), the
wrapped call that measures the harness' own share, and the extra_info each benchmark records (the case,
throughput, speed of light, harness overhead)."""

from __future__ import annotations

import dataclasses
import resource
import time

import numpy as np

from mnist_ref.measure.speed_of_light import speed_of_light_s
from mnist_ref.scale.data_parallel import strategy_name
from mnist_ref.store import rounds
from mnist_ref.store.measures import NAMES as MEASURES  # noqa: F401  (the bench's --bench-measure choices)
from mnist_ref.store.measures import Measure


@dataclasses.dataclass(frozen=True)
class Workload:
    """What a round is, and what its number holds (measure, store.measures). time: seconds of the whole workload (an
    epoch of 60,000 images, the 10,000 test images). instructions: instructions counted by callgrind
    (mnist_ref.measure.instructions) over a bounded workload of `steps` batches a round, which an instrumented
    process gets through in seconds rather than hours. steps: seconds of a bounded workload of `steps` batches a
    round, with each round's CPU seconds beside (the regression gate's timed guard: a process takes seconds, and
    wall over CPU shows a step that waits)."""

    measure: Measure = Measure.TIME
    steps: int = 40  # batches a round when the workload is bounded (counting instructions, or the steps measure)
    rounds: dict = dataclasses.field(default_factory=dict)  # path -> timed rounds, where they differ from time's

    @property
    def counting(self) -> bool:
        return self.measure.counted

    @property
    def bounded_work(self) -> bool:
        """Whether a round is a bounded number of steps (no accuracy to judge, no speed of light) rather than the book's
        full workload."""
        return self.measure.bounded

    def steps_for(self, steps_per_execution: int = 1) -> int:
        """Batches a bounded round holds: `steps`, and at least two executions when counting (the count starts at the
        second, see steps_counted)."""
        return max(self.steps, 2 * steps_per_execution) if self.counting else self.steps

    def bounded(self, data, batch_size: int, steps_per_execution: int = 1):
        """The dataset a round works on: all of it when timing; steps_for(...) batches of training and of test
        images when the work is bounded (validation likewise)."""
        if not self.bounded_work:
            return data
        n = self.steps_for(steps_per_execution) * batch_size

        def head(a):
            return None if a is None else a[:n]

        return dataclasses.replace(
            data,
            x_train=head(data.x_train),
            y_train=head(data.y_train),
            x_val=head(data.x_val),
            y_val=head(data.y_val),
            x_test=head(data.x_test),
            y_test=head(data.y_test),
            test_labels=head(data.test_labels),
        )

    def rounds_for(self, path: str, default: int) -> int:
        return self.rounds.get(path, default) if self.bounded_work else default

    def counted(self, kind: str, steps_per_execution: int, fn, *, wait: float = 1.0):
        """A round's call: fn(callbacks) runs model.fit / evaluate / predict (kind: train, test, predict). When
        counting, the count runs from the first batch of the call's second execution to its last (steps_counted:
        batch 1 on at one step an execution, batch 100 on in the tuned mode), leaving out the call's own set-up,
        which would otherwise dilute a change in the step. wait > 1 adds injected_wait's callback."""
        extra = [injected_wait(kind, wait)] if wait > 1 else []
        if not self.counting:
            return lambda: fn(extra or None)
        callbacks = [steps_counted(kind, steps_per_execution), *extra]
        return lambda: fn(callbacks)

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
        """The steps a round's number covers (counted() leaves out the first execution of fit, evaluate and predict
        when the call has at least two)."""
        if self.counting and path in ("fit", "evaluate", "predict") and steps >= 2 * steps_per_execution:
            return steps - steps_per_execution
        return steps


def steps_counted(kind: str, steps_per_execution: int = 1):
    """A Keras callback that counts instructions from the start of a call's second execution (batch
    steps_per_execution: Keras calls the batch hooks once an execution, with its first and last batch) to the end of
    its last batch; a call of fewer than two executions is counted whole, from its start."""
    from mnist_ref.core import framework
    from mnist_ref.measure.instructions import counter

    class StepsCounted(framework.keras().callbacks.Callback):
        def _steps(self) -> int:
            steps = (self.params or {}).get("steps")
            if not steps or steps < 2:
                raise RuntimeError(
                    f"counting the steps of a {kind} call needs at least 2 batches and Keras' step count, got {steps}"
                )
            return steps

        def _whole(self) -> bool:
            return self._steps() < 2 * steps_per_execution

        def call_begin(self, logs=None):
            if self._whole():
                counter.start()

        def begin(self, batch, logs=None):
            if batch == steps_per_execution and not self._whole():
                counter.start()

        def end(self, batch, logs=None):
            if batch == self._steps() - 1:
                counter.stop()

    setattr(StepsCounted, f"on_{kind}_begin", StepsCounted.call_begin)
    setattr(StepsCounted, f"on_{kind}_batch_begin", StepsCounted.begin)
    setattr(StepsCounted, f"on_{kind}_batch_end", StepsCounted.end)
    return StepsCounted()


def injected_wait(kind: str, factor: float):
    """A Keras callback that sleeps (factor - 1) times each batch's own duration at its end (--bench-inject-wait):
    every step really takes factor times as long while doing no more CPU work. A sleep overshoots (about 0.06 ms here,
    more than a whole 1.03x wait of a 1 ms step), so what each sleep took is carried to the next (the wait owed, less
    what was slept): over a round the steps wait (factor - 1) times their own duration to within one overshoot."""
    from mnist_ref.core import framework

    class InjectedWait(framework.keras().callbacks.Callback):
        started = 0.0
        owed = 0.0

        def begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def end(self, batch, logs=None):
            now = time.perf_counter()
            self.owed += (factor - 1) * (now - self.started)
            if self.owed > 0:
                time.sleep(self.owed)
                self.owed -= time.perf_counter() - now

    setattr(InjectedWait, f"on_{kind}_batch_begin", InjectedWait.begin)
    setattr(InjectedWait, f"on_{kind}_batch_end", InjectedWait.end)
    return InjectedWait()


# Counts repeat to within a fraction of a percent from round to round, so fewer rounds suffice (an
# instrumented fit round of 40 book steps takes about 8 s); 4 a side is the fewest with which the exact
# one-sided Mann-Whitney test can reach p < 0.05.
COUNTING = Workload(Measure.INSTRUCTIONS, rounds={"fit": 4, "evaluate": 4, "predict": 4, "predict_one": 5})
# The timed guard: 300 batches a round (about half a second of the book's step on 2 cores), the rounds as for time but
# the fit's: 11. A TensorFlow fit call sometimes stalls for a fixed 250-330 ms as it returns, in C++ while the call's
# objects are freed (docs/limits.md; 6-23% of fit rounds per version in results/tf-versions.md). Of 4 rounds, two such
# stalls moved a whole process' median by 1.3-1.6x; the median of 11 moves only when six of them stall. A process takes
# about 18 s, most of it importing the framework.
STEPS = Workload(Measure.STEPS, steps=300, rounds={"fit": 11})
WORKLOAD_OF = {w.measure: w for w in (Workload(), COUNTING, STEPS)}


def with_extra_steps(data, batch_size: int, fraction: float):
    """data with fraction more training batches, whole ones, repeated from its start (--bench-inject-steps)."""
    if not fraction:
        return data
    extra = round(fraction * -(-len(data.x_train) // batch_size)) * batch_size
    repeat = np.resize(np.arange(len(data.x_train)), extra)
    return dataclasses.replace(
        data,
        x_train=np.concatenate([data.x_train, data.x_train[repeat]]),
        y_train=np.concatenate([data.y_train, data.y_train[repeat]]),
    )


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
        self.thread_cpu: list[float] = []  # the calling (main) thread's CPU seconds in each call
        self.switches: list[
            tuple[int, int]
        ] = []  # the process's voluntary and involuntary context switches in each call

    def __call__(self):
        before = resource.getrusage(resource.RUSAGE_SELF)
        thread, cpu, start = time.thread_time(), time.process_time(), time.perf_counter()
        result = self.fn()
        if self.slowdown > 1:
            time.sleep((self.slowdown - 1) * (time.perf_counter() - start))
        self.inside.append(time.perf_counter() - start)
        self.cpu.append(time.process_time() - cpu)
        self.thread_cpu.append(time.thread_time() - thread)
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.switches.append((after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw))
        return result

    def anatomy(self, rounds: int, steps: int) -> dict:
        """Where the last `rounds` calls' wall time went, per step (medians over the calls): CPU summed over threads,
        the main thread's CPU, the share of wall the main thread spent off the CPU, and context switches."""
        inside, cpu, thread = (np.array(v[-rounds:]) for v in (self.inside, self.cpu, self.thread_cpu))
        switches = np.array(self.switches[-rounds:], dtype=float)
        return {
            "round_cpu_s": [float(c) for c in cpu],
            "cpu_per_step_s": float(np.median(cpu)) / steps,
            "main_thread_cpu_per_step_s": float(np.median(thread)) / steps,
            "main_thread_off_cpu_share": float(np.median(1 - thread / inside)),
            "voluntary_switches_per_step": float(np.median(switches[:, 0])) / steps,
            "involuntary_switches_per_step": float(np.median(switches[:, 1])) / steps,
        }


def _parts_since_last() -> dict[str, float]:
    """Shares of the instructions counted since the last call, by part (mnist_ref.measure.instructions.PARTS)."""
    from mnist_ref.measure.instructions import counter

    total = sum(counter.parts.values())
    shares = {part: n / total for part, n in counter.parts.items()} if total else {}
    counter.parts.clear()
    return shares


def round_times(benchmark) -> list[float] | None:
    """Per-round seconds pytest-benchmark measured, or None when benchmarks are disabled."""
    return None if benchmark.stats is None else list(benchmark.stats.stats.data)


def _counted_info(data: list[float], case, *, path: str, samples: int, steps: int, workload: Workload) -> dict:
    """A counted round's extra_info: instructions a step and a sample, and where they went."""
    if data and min(data) <= 0:
        raise RuntimeError(f"no instructions counted in a {path} round of {case.id}: the counted region never opened")
    if not data:
        return {}
    median = float(np.median(data))
    return {
        "measure": workload.measure.value,
        "round_spread": rounds.spread(data),
        "instructions_per_step": median / steps,
        "instructions_per_sample": median / samples,
        "instructions_by_part": _parts_since_last(),
    }


def _timed_info(
    data: list[float], call: TimedCall, *, samples: int, steps: int, flops: int, throughput: float | None
) -> dict:
    """A timed round's extra_info: throughput, speed of light, where the wall went and the harness overhead."""
    info: dict = {"matmul_flops_per_s": throughput}
    if not data:
        return info
    median = float(np.median(data))
    inside = call.inside[-len(data) :]
    cpu = float(np.median(call.cpu[-len(data) :]))
    light = None if throughput is None else speed_of_light_s(flops, throughput)
    info.update(call.anatomy(len(data), steps))
    info.update(
        # IQR over median of the rounds, and wall over CPU time: a round that waited for the CPU (other
        # processes, steal) shows a high spread or a wall time well above its CPU time.
        round_spread=rounds.spread(data),
        wall_over_cpu=median / cpu if cpu > 0 else None,
        samples_per_s=samples / median,
        steps_per_s=steps / median,
        speed_of_light_s=light,
        speed_of_light_pct=None if light is None else 100 * light / median,
        harness_overhead_pct=100 * (sum(data) - sum(inside)) / sum(data),
        p95_s=float(np.percentile(data, 95)),
    )
    return info


def record(
    benchmark,
    case,
    *,
    path: str,
    call: TimedCall,
    samples: int,
    steps: int,
    flops: int,
    throughput: float | None,
    workload: Workload,
    **extra,
) -> None:
    """Common extra_info: the case, throughput, speed of light and the harness overhead; for instruction
    counts, instructions a step and a sample."""
    data = round_times(benchmark)
    info = {
        "path": path,
        "backend": case.backend,
        "device": case.device,
        "batch_size": case.batch_size,
        "mode": case.mode,
        "replicas": case.replicas,
        "strategy": strategy_name(case.backend, case.layout),
        **extra,
    }
    info.update(samples_per_round=samples, steps_per_round=steps, flops_per_round=flops)
    if workload.counting:
        info.update(_counted_info(data, case, path=path, samples=samples, steps=steps, workload=workload))
    else:
        info.update(_timed_info(data, call, samples=samples, steps=steps, flops=flops, throughput=throughput))
        if workload.bounded_work:
            info.update(measure=workload.measure.value)
    benchmark.extra_info.update(info)
