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

# Another process keeping this many cores busy on average, beside the bench, makes a session contended. A
# bench process of TensorFlow's uses up to every core itself, so a quarter of a core from others already
# takes time slices from it.
OTHER_BUSY_CORES_LIMIT = 0.25
# Steal (CPU time the hypervisor gave to other guests) above this share of the session's CPU time.
STEAL_LIMIT = 0.02
# The fixed probe taking this much longer at the end of the session than at its start.
PROBE_DRIFT_LIMIT = 1.2
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
    return Snapshot(time.perf_counter(), busy, total, steal, own.user + own.system + own.children_user + own.children_system,
                    load, probe_s)


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


def assess(start: Snapshot, end: Snapshot) -> dict:
    """The session's contention record: numbers, verdict (steady or contended) and reasons in words."""
    wall = max(end.wall - start.wall, 1e-9)
    record: dict = {"wall_s": wall, "loadavg_start": start.loadavg, "loadavg_end": end.loadavg,
                    "probe_start_s": start.probe_s, "probe_end_s": end.probe_s, "probe_drift": end.probe_s / start.probe_s}
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


def reasons_from(record: dict) -> list[str]:
    """Why a record's numbers make its session contended, in words (none: steady). The verdict a file states is
    never trusted alone: the same rule is applied to the numbers it holds."""
    reasons = []
    other, steal, drift = (record.get(k) for k in ("other_busy_cores", "steal_share", "probe_drift"))
    if isinstance(other, (int, float)) and other > OTHER_BUSY_CORES_LIMIT:
        reasons.append(f"other processes kept {other:.2f} cores busy on average (limit {OTHER_BUSY_CORES_LIMIT})")
    if isinstance(steal, (int, float)) and steal > STEAL_LIMIT:
        reasons.append(f"the hypervisor stole {100 * steal:.1f}% of CPU time (limit {100 * STEAL_LIMIT:.0f}%)")
    if isinstance(drift, (int, float)) and drift > PROBE_DRIFT_LIMIT:
        reasons.append(f"the fixed probe ran {drift:.2f}x slower at the end than at the start (limit {PROBE_DRIFT_LIMIT}x)")
    return reasons


def is_contended(record) -> bool:
    """Whether a session's contention record (or None, for files written before it) says contended, by its verdict
    or by its own numbers (a record that says "steady" beside numbers past the limits is contended)."""
    return isinstance(record, dict) and (record.get("verdict") == "contended" or bool(reasons_from(record)))


def describe(record: dict | None) -> str:
    """One phrase for tables and the gate: 'steady', 'contended: REASONS', or 'not recorded'."""
    if not isinstance(record, dict):
        return "not recorded"
    if is_contended(record):
        return "contended: " + "; ".join(reasons_from(record) or record.get("reasons") or ["?"])
    return "steady"
