"""The book's full configuration on the real data: inside the band, the first test image is a 7."""

from __future__ import annotations

import json

import pytest

from mnist_ref import cli
from mnist_ref.core import book

pytestmark = pytest.mark.slow


def test_book_walkthrough_reproduces_the_book(real_data_dir, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert cli.main(["train", "--seed", "42", "--data-dir", str(real_data_dir), "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    accuracy = record["evaluate"]["accuracy"]
    assert book.BOOK_BAND.contains(accuracy), f"test accuracy {accuracy} outside {book.BOOK_BAND.describe()}"
    assert record["predict"]["predicted_class"] == book.BOOK_FIRST_TEST_PREDICTION == record["predict"]["label"]
    assert record["band"]["inside"] is True
    assert len(record["history"]["accuracy"]) == 5
    # Training accuracy climbs across the epochs as in the book (0.822 -> 0.929).
    assert record["history"]["accuracy"][0] < record["history"]["accuracy"][-1]
    assert len(record["timings_s"]["epochs"]) == 5 and record["timings_s"]["fit"] > 0
    assert len(record["fingerprint"]) == 64
    assert record["data"]["sha256"]["t10k-labels-idx1-ubyte"].startswith("ff7bcfd4")
    printed = capsys.readouterr().out
    assert "## evaluation loss and_metrics ##" in printed and "inside" in printed and str(out) in printed
