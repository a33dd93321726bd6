"""What every timed hot path shares: the wrapped call that measures the harness' own share, and the
extra_info each benchmark records (the case, throughput, speed of light, harness overhead)."""

from __future__ import annotations

import time

import numpy as np

from mnist_ref.data_parallel import Layout, strategy_name
from mnist_ref.speed_of_light import speed_of_light_s


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


def record(benchmark, case, *, path: str, call: TimedCall, samples: int, steps: int, flops: int, throughput: float, **extra) -> None:
    """Common extra_info: the case, throughput, speed of light and the harness overhead."""
    data = round_times(benchmark)
    info = {"path": path, "backend": case.backend, "device": case.device, "batch_size": case.batch_size, "mode": case.mode,
            "replicas": case.replicas, "strategy": strategy_name(case.backend, Layout(case.replicas)), **extra}
    info.update(samples_per_round=samples, steps_per_round=steps, flops_per_round=flops, matmul_flops_per_s=throughput)
    if data:
        median = float(np.median(data))
        inside = call.inside[-len(data):]
        cpu = float(np.median(call.cpu[-len(data):]))
        info.update(
            # IQR over median of the rounds, and wall over CPU time: a round that waited for the CPU (other
            # processes, steal) shows a high spread or a wall time well above its CPU time.
            round_spread=float(np.subtract(*np.percentile(data, [75, 25])) / median),
            wall_over_cpu=median / cpu if cpu > 0 else None,
            samples_per_s=samples / median,
            steps_per_s=steps / median,
            speed_of_light_s=speed_of_light_s(flops, throughput),
            speed_of_light_pct=100 * speed_of_light_s(flops, throughput) / median,
            harness_overhead_pct=100 * (sum(data) - sum(inside)) / sum(data),
            p95_s=float(np.percentile(data, 95)),
        )
    benchmark.extra_info.update(info)
