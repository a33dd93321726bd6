"""The timed-ratio estimator (gate/ratio.py) against SciPy's exact tests, complete enumeration and published tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from mnist_ref.gate import ratio as r


@pytest.mark.parametrize("n, m", [(3, 4), (5, 5), (4, 7)])
def test_the_rank_sum_distribution_is_complete_enumeration(n, m):
    counts = [0] * (n * m + 1)
    for chosen in itertools.combinations(range(n + m), n):
        # U: pairs (x, y) with x above y, x the chosen positions
        others = [p for p in range(n + m) if p not in chosen]
        counts[sum(x > y for x in chosen for y in others)] += 1
    assert tuple(counts) == r.rank_sum_counts(n, m)


@pytest.mark.parametrize("n, m", [(4, 4), (5, 6), (8, 8)])
def test_the_rank_sum_tail_is_scipys_exact_p_value(n, m):
    counts = r.rank_sum_counts(n, m)
    rng = np.random.default_rng(n * 10 + m)
    for _ in range(5):
        x, y = rng.normal(size=n), rng.normal(size=m) + 0.5
        u = int(sum(xi > yj for xi in x for yj in y))
        expected = stats.mannwhitneyu(x, y, alternative="less", method="exact").pvalue
        assert sum(counts[: u + 1]) / sum(counts) == pytest.approx(expected)


@pytest.mark.parametrize("n", [6, 8, 12])
def test_the_signed_rank_tail_is_scipys_exact_p_value(n):
    counts = r.signed_rank_counts(n)
    rng = np.random.default_rng(n)
    for _ in range(5):
        d = rng.normal(size=n) - 0.3
        t = float(stats.rankdata(np.abs(d))[d > 0].sum())
        expected = stats.wilcoxon(d, alternative="less", method="exact").pvalue
        assert sum(counts[: int(t) + 1]) / sum(counts) == pytest.approx(expected)


def test_critical_values_match_the_published_tables():
    # Wilcoxon signed-rank, two-sided 0.05: n=8 -> 3, n=12 -> 13, n=16 -> 29; Mann-Whitney U, two-sided 0.05:
    # 5 and 5 -> 2, 8 and 8 -> 13 (the interval starts at the order statistic one above the critical value).
    for n, critical in ((8, 3), (12, 13), (16, 29)):
        assert r._order_index(r.signed_rank_counts(n), 0.95)[0] == critical + 1
    for n, critical in ((5, 2), (8, 13)):
        assert r._order_index(r.rank_sum_counts(n, n), 0.95)[0] == critical + 1


def test_a_known_shift_is_estimated_and_covered():
    a = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00]
    b = [x * 1.10 for x in a]
    for paired in (False, True):
        got = r.ratio(a, b, paired=paired)
        assert got.estimate == pytest.approx(1.10) and got.low <= 1.10 <= got.high
        assert got.answer(0.03) is r.Answer.SLOWER and got.coverage >= 0.95


def test_the_three_answers():
    a = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01]
    assert r.ratio(a, a).answer(0.03) is r.Answer.SAME
    assert r.ratio(a, [x / 1.2 for x in a]).answer(0.03) is r.Answer.FASTER
    wide = [1.0, 1.3, 0.8, 1.1, 0.9]
    assert r.ratio(wide, list(reversed(wide))).answer(0.03) is r.Answer.CANNOT_TELL
    assert "cannot tell with 5 and 5 processes" in r.ratio(wide, wide).sentence(0.03)


def test_too_few_processes_have_no_interval():
    with pytest.raises(ValueError, match="too few"):
        r.ratio([1.0, 1.1, 1.2], [1.0, 1.1, 1.2])
    assert r.fewest_processes(paired=False) == 4 and r.fewest_processes(paired=True) == 6


def test_the_interval_covers_in_simulation():
    """Random processes with a known ratio: the exact 95% interval holds it at least 94% of the time (2000 draws: 3
    standard errors below 95.4%)."""
    rng = np.random.default_rng(7)
    held = 0
    for _ in range(2000):
        a = np.exp(rng.normal(0, 0.05, 8))
        b = np.exp(rng.normal(math.log(1.05), 0.05, 8))
        got = r.ratio(a, b)
        held += got.low <= 1.05 <= got.high
    assert held / 2000 >= 0.94


def test_spread_is_a_robust_log_standard_deviation():
    values = np.exp(np.random.default_rng(1).normal(0, 0.05, 4000))
    assert r.spread(values) == pytest.approx(0.05, rel=0.06)
