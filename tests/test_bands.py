"""The declared bands agree with the sweeps committed in results/ that they were derived from."""

from __future__ import annotations

import pytest
from helpers import ROOT

from mnist_ref.core import book
from mnist_ref.scale import sweep
from mnist_ref.store import files


@pytest.mark.parametrize("batch_size", sorted(book.BANDS))
def test_band_matches_its_recorded_sweep(batch_size):
    band = book.BANDS[batch_size]
    recorded = files.load_sweep(ROOT / band.source)
    assert recorded["config"]["batch_size"] == batch_size
    assert len(recorded["runs"]) >= 8
    accuracies = [r["test_accuracy"] for r in recorded["runs"]]
    assert (band.low, band.high) == sweep.derive_band(accuracies)
    assert all(band.contains(a) for a in accuracies)


def test_derive_band_has_a_floor_and_rounds_outwards():
    assert sweep.derive_band([0.93, 0.93, 0.93]) == (0.925, 0.935)
    low, high = sweep.derive_band([0.90, 0.92])
    assert low <= 0.91 - 5 * 0.0141 and high >= 0.91 + 5 * 0.0141
