"""The one estimator of a timed ratio between two arms (B over A), wherever the product shows one: per process the log
of its median round; the ratio is the Hodges-Lehmann estimate of the shift in logs with its exact distribution-free 95%
interval, in the paired (Wilcoxon signed-rank) form where the arms ran in rounds (each round every arm once), else the
two-sample (Mann-Whitney / Moses) form. The answer is three-way: slower or faster by r [lo, hi], the same within +-x%,
or cannot tell with N processes.

The exact null distributions are counted here (SciPy's tests give p-values, not these intervals); tests/test_ratio.py
holds them to SciPy's exact p-values and to complete enumeration.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
# Two arms are "the same" where the whole interval lies within this of 1 (Ratio.answer): the gate's clock, the stacks
# study and the versions page all answer with it.
SAME_WITHIN = 0.03


class Answer(enum.Enum):
    """What a ratio says about B against A."""

    SLOWER = "slower"
    FASTER = "faster"
    SAME = "the same"
    CANNOT_TELL = "cannot tell"


@functools.cache
def rank_sum_counts(n: int, m: int) -> tuple[int, ...]:
    """How many of the C(n + m, n) orderings give each Mann-Whitney U = 0 .. n*m (n values against m, no ties)."""
    # counts[i][j][u]: orderings of i and j values with U = u, built by where the largest value falls.
    table = [[None] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                table[i][j] = (1,) + (0,) * (i * j)
                continue
            # the largest value is one of the i (it beats all j: adds j to U) or one of the j (adds nothing)
            a, b = table[i - 1][j], table[i][j - 1]
            row = [0] * (i * j + 1)
            for u, c in enumerate(a):
                row[u + j] += c
            for u, c in enumerate(b):
                row[u] += c
            table[i][j] = tuple(row)
    return table[n][m]


@functools.cache
def signed_rank_counts(n: int) -> tuple[int, ...]:
    """How many of the 2**n sign patterns give each Wilcoxon signed-rank sum T+ = 0 .. n(n+1)/2 (no ties, no zeros)."""
    counts = [1]
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for t, c in enumerate(counts):
            grown[t + rank] += c
        counts = grown
    return tuple(counts)


def _order_index(counts: Sequence[int], confidence: float) -> tuple[int, float]:
    """k, the 1-based order statistic of the sorted pairwise quantities that bounds the interval below (and N + 1 - k
    above), and the interval's exact coverage: the largest k with P(stat <= k - 1) <= (1 - confidence) / 2."""
    total = sum(counts)
    tail, cumulative, k = (1 - confidence) / 2, 0, 0
    for value, c in enumerate(counts):
        if (cumulative + c) / total > tail:
            k = value  # P(stat <= k - 1) = cumulative / total <= tail
            break
        cumulative += c
    return k, 1 - 2 * cumulative / total


@dataclasses.dataclass(frozen=True)
class Ratio:
    """B over A: the estimate, its exact interval and coverage, the processes it rests on, and the form used."""

    estimate: float
    low: float
    high: float
    coverage: float
    n_a: int
    n_b: int
    paired: bool

    @property
    def half_width(self) -> float:
        """The interval's half-width as a fraction of the ratio, on the log scale: 0.03 means about +-3%."""
        return math.expm1((math.log(self.high) - math.log(self.low)) / 2)

    def answer(self, same_within: float) -> Answer:
        """Slower or faster where the interval excludes 1; the same where it lies inside [1 / t, t] for t = 1 +
        same_within; else cannot tell (more processes would narrow it)."""
        if self.low > 1:
            return Answer.SLOWER
        if self.high < 1:
            return Answer.FASTER
        if self.low >= 1 / (1 + same_within) and self.high <= 1 + same_within:
            return Answer.SAME
        return Answer.CANNOT_TELL

    def cell(self) -> str:
        """'1.031x [1.012, 1.050]'."""
        return f"{self.estimate:.3f}x [{self.low:.3f}, {self.high:.3f}]"

    def sentence(self, same_within: float) -> str:
        """The three-way answer in words, with the numbers."""
        answer = self.answer(same_within)
        if answer is Answer.SLOWER:
            return f"slower by {self.cell()}"
        if answer is Answer.FASTER:
            return f"faster by {self.cell()}"
        if answer is Answer.SAME:
            return f"the same within +-{100 * same_within:.0f}% ({self.cell()})"
        return f"cannot tell with {self.n_a} and {self.n_b} processes ({self.cell()})"


def ratio(a: Sequence[float], b: Sequence[float], *, paired: bool = False, confidence: float = CONFIDENCE) -> Ratio:
    """B over A from per-process medians (seconds): Hodges-Lehmann on logs with its exact interval; paired takes
    a[i] and b[i] as one round's processes (signed-rank form), else every pair of processes (two-sample form).
    ValueError where no interval at that confidence exists with so few processes, or paired sides differ in
    length."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    if paired:
        if len(la) != len(lb):
            raise ValueError(f"paired ratios need one process of each arm a round, got {len(la)} and {len(lb)}")
        d = lb - la
        i, j = np.triu_indices(len(d))
        pairs = np.sort((d[i] + d[j]) / 2)  # Walsh averages
        k, coverage = _order_index(signed_rank_counts(len(d)), confidence)
    else:
        pairs = np.sort(np.subtract.outer(lb, la).ravel())
        k, coverage = _order_index(rank_sum_counts(len(la), len(lb)), confidence)
    if k < 1:
        raise ValueError(f"{len(la)} and {len(lb)} processes are too few for a {100 * confidence:.0f}% interval")
    estimate = float(np.median(pairs))
    low, high = float(pairs[k - 1]), float(pairs[len(pairs) - k])
    return Ratio(math.exp(estimate), math.exp(low), math.exp(high), coverage, len(la), len(lb), paired)


def fewest_processes(*, paired: bool, confidence: float = CONFIDENCE) -> int:
    """The fewest processes a side with which an interval at that confidence exists (6 paired, 4 unpaired at 95%)."""
    n = 1
    while True:
        counts = signed_rank_counts(n) if paired else rank_sum_counts(n, n)
        if counts[0] / sum(counts) <= (1 - confidence) / 2:
            return n
        n += 1


def spread(values: Sequence[float]) -> float:
    """The between-process spread of per-process medians: 1.4826 x the MAD of their logs (a robust standard deviation
    on the log scale: 0.05 is about 5%)."""
    logs = np.log(np.asarray(values, dtype=float))
    return float(1.4826 * np.median(np.abs(logs - np.median(logs))))


def between(a: dict[int, float], b: dict[int, float], *, confidence: float = CONFIDENCE) -> Ratio:
    """B over A from per-process medians keyed by round (the cycle a process ran in): paired on the rounds both arms
    ran when there are enough of them for a paired interval (fewest_processes), else every process against every
    other (two-sample). ValueError where neither form has an interval."""
    common = sorted(set(a) & set(b))
    if len(common) >= fewest_processes(paired=True, confidence=confidence):
        return ratio([a[r] for r in common], [b[r] for r in common], paired=True, confidence=confidence)
    return ratio(list(a.values()), list(b.values()), confidence=confidence)
