"""What the machine was doing while a bench session measured: contention detected, not guessed.

A session takes a snapshot at its start and its end: the machine's CPU time from /proc/stat (busy, idle and
steal jiffies), the load average, this process's own CPU time, and a short fixed probe (the same NumPy work
each time, timed). From the two it derives how many cores other processes kept busy on average, the share of
time the hypervisor stole, and how much slower the probe ran at the end than at the start. Any of them past
its limit makes the session "contended", with the reasons in words; the verdict and the numbers go into the
bench JSON, the tables mark it, `compare` does not call a speed verdict from such a side, and `baseline`
refuses it. Nothing here raises: a machine without /proc records what it could not read.
"""

from __future__ import annotations

import dataclasses
import os
import time

# The limits and the rule that reads a record are the record's reader's (store.session), so that every reader decides
# alike; assess() below applies them to what it measured.
from mnist_ref.store.session import (  # noqa: F401 (re-exported: the instrument's own vocabulary)
    OTHER_BUSY_CORES_LIMIT,
    PROBE_DRIFT_LIMIT,
    STEAL_LIMIT,
    describe,
    is_contended,
    reasons_from,
)

# The probe: this many repetitions of a 256x256 float64 matrix product, the best of PROBE_REPEATS timings.
PROBE_PRODUCTS = 40
PROBE_REPEATS = 5


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The machine at one moment: /proc/stat jiffies, load average, this process's CPU time, the probe."""

    wall: float
    busy_jiffies: int | None
    total_jiffies: int | None
    steal_jiffies: int | None
    own_cpu_s: float
    loadavg: tuple[float, float, float] | None
    probe_s: float


def _proc_stat() -> tuple[int, int, int] | tuple[None, None, None]:
    """(busy, total, steal) jiffies of all CPUs since boot, or Nones where /proc/stat cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None, None, None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal, steal


def probe() -> float:
    """Seconds of a fixed amount of single-threaded work (the best of a few timings)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((256, 256))
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(PROBE_REPEATS):
            start = time.perf_counter()
            for _ in range(PROBE_PRODUCTS):
                a @ a
            best = min(best, time.perf_counter() - start)
    return best


def snapshot() -> Snapshot:
    """The machine now (the probe runs first, so its own CPU time falls inside the measured interval)."""
    probe_s = probe()
    busy, total, steal = _proc_stat()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    own = os.times()
    return Snapshot(
        time.perf_counter(),
        busy,
        total,
        steal,
        own.user + own.system + own.children_user + own.children_system,
        load,
        probe_s,
    )


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


def assess(start: Snapshot, end: Snapshot) -> dict:
    """The session's contention record: numbers, verdict (steady or contended) and reasons in words."""
    wall = max(end.wall - start.wall, 1e-9)
    record: dict = {
        "wall_s": wall,
        "loadavg_start": start.loadavg,
        "loadavg_end": end.loadavg,
        "probe_start_s": start.probe_s,
        "probe_end_s": end.probe_s,
        "probe_drift": end.probe_s / start.probe_s,
    }
    if None not in (start.busy_jiffies, end.busy_jiffies):
        ticks = _clock_ticks()
        busy_s = (end.busy_jiffies - start.busy_jiffies) / ticks
        total = max(end.total_jiffies - start.total_jiffies, 1)
        own_s = end.own_cpu_s - start.own_cpu_s
        record["other_busy_cores"] = max(busy_s - own_s, 0.0) / wall
        record["steal_share"] = (end.steal_jiffies - start.steal_jiffies) / total
    else:
        record["unreadable"] = "/proc/stat"
    reasons = reasons_from(record)
    record["verdict"] = "contended" if reasons else "steady"
    record["reasons"] = reasons
    return record
