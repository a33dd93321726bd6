"""The spread of a benchmark's rounds has one definition (mnist_ref/store/rounds.py), the one NumPy's default
percentile gives, and nothing else in the project computes or reads another."""

from __future__ import annotations

import re

import numpy as np
from helpers import ROOT
from hypothesis import given
from hypothesis import strategies as st

from mnist_ref.store import rounds

TIMES = st.lists(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False), min_size=2, max_size=60)


@given(TIMES)
def test_the_spread_is_numpys_interquartile_range_over_the_median(times):
    q75, q25 = np.percentile(times, [75, 25])
    expected = (q75 - q25) / np.median(times)
    assert abs(rounds.spread(times) - expected) <= 1e-9 * max(1.0, expected)


def test_one_round_has_no_spread():
    assert rounds.spread([1.0]) is None and rounds.spread([]) is None
    assert rounds.spread([2.0, 2.0, 2.0]) == 0.0


# Another quartile method (pytest-benchmark's own "iqr", statistics.quantiles, a NumPy percentile pair) anywhere else.
OTHER_SPREADS = re.compile(r"""\["iqr"\]|quantiles\(|percentile\([^)]*\[\s*75""")


def test_no_other_module_computes_a_spread():
    sources = [p for folder in ("mnist_ref", "bench") for p in (ROOT / folder).rglob("*.py") if p.name != "rounds.py"]
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if OTHER_SPREADS.search(line)
    ]
    assert found == [], "compute the spread with mnist_ref.store.rounds.spread"


def test_a_round_past_the_stall_factor_of_its_fastest_stalled():
    # a TensorFlow fit call that stalls as it returns: 0.40 s rounds, one of 0.67 s
    assert rounds.stalled([0.40, 0.41, 0.67, 0.39]) == 1
    assert rounds.stalled([0.40, 0.40 * rounds.STALL]) == 0, "exactly the factor is not a stall"
    assert rounds.stalled([1.0]) == 0
