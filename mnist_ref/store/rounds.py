"""A benchmark's rounds summarised, defined once for the bench's writer, the gate and every table: the median, and the
spread as the interquartile range over the median, the quartiles interpolated linearly between the closest ranks
(NumPy's default percentile method, `statistics.quantiles(..., method="inclusive")`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

SPREAD_METHOD = "IQR / median, quartiles interpolated linearly between the closest ranks (NumPy's default)"

# A round that took longer than this times its process' fastest round of the same path stalled: a fit call on
# TensorFlow sometimes stalls for a fixed 250-330 ms as it returns (docs/limits.md), +60-80% of a 300-step round, while
# rounds without a stall spread a few percent within a process.
STALL = 1.4


def median(values: Sequence[float]) -> float:
    """The median of the values (at least one)."""
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float | None:
    """Interquartile range over median, as a fraction; None for fewer than two values or a zero median."""
    if len(values) < 2:
        return None
    mid = statistics.median(values)
    if mid == 0:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return float((q3 - q1) / mid)


def stalled(values: Sequence[float]) -> int:
    """How many of one process' rounds stalled: took longer than STALL times its fastest."""
    fastest = min(values)
    return sum(v > STALL * fastest for v in values)
