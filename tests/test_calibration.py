"""The calibration study's analysis on a pool the test writes itself (real bench JSON of a timed-guard process, its
rounds scaled): each setting's spread, a known wait held by the interval, the A/A the same, pages from the numbers."""

from __future__ import annotations

import copy
import datetime
import json
import math
import random

import pytest
from helpers import ROOT

from mnist_ref.plumbing.errors import ReportError
from mnist_ref.validation import calibration, clock

TEMPLATE = ROOT / "results" / "stacks" / "timed" / "book" / "run-1.json"
TRUTH = {"wait1.03": 1.03, "wait1.05": 1.05, "wait1.10": 1.10}


def scaled(document: dict, factor: float, when: datetime.datetime) -> dict:
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        bench["stats"]["data"] = [t * factor for t in bench["stats"]["data"]]
        bench["stats"]["median"] *= factor
    doc["datetime"] = when.isoformat()
    return doc


def write_pool(folder, arms, *, cycles: int = 10, seed: int = 0) -> None:
    """Every arm's processes: a drift shared by the cycle, 1% of each process's own, the truth of its arm."""
    rng = random.Random(seed)
    template = json.loads(TEMPLATE.read_text())
    when = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
    for cycle in range(1, cycles + 1):
        drift = math.exp(rng.gauss(0, 0.05)) * (1.3 if cycle == 1 else 1.0)
        for arm in arms:
            when += datetime.timedelta(seconds=20)
            factor = drift * TRUTH.get(arm, 1.0) * math.exp(rng.gauss(0, 0.01))
            path = folder / arm / f"run-{cycle}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(scaled(template, factor, when)))


def test_the_calibration_gives_each_setting_its_spread_and_first_cycle(tmp_path):
    write_pool(tmp_path / "pool", [a.name for a in calibration.ARMS])
    result = calibration.analyse(tmp_path / "pool")
    assert result.pool.usable == tuple(range(2, 11)) and result.pool.process_wall_s == pytest.approx(20.0)
    settings = {s.name: s for s in result.settings}
    assert settings["default"].first_cycle == pytest.approx(1.3, rel=0.1), "cycle 1 ran 1.3x the rest"
    assert 0.02 < settings["default"].spread["fit"] < 0.09, "the cycles' drift is 5%"
    assert settings["default-b"].correlation > 0.8, "the arms share each cycle's drift"
    page = calibration.render(tmp_path / "pool", command="python -m mnist_ref.validation.calibration analyse x")
    assert calibration.headline(result) in page and "A process timed 4 fit rounds" in page


def test_the_validation_holds_known_waits_and_calls_the_aa_the_same(tmp_path):
    write_pool(tmp_path / "pool", clock.ARMS, cycles=41)
    result = clock.analyse(tmp_path / "pool")
    fits = {lv.name: lv for lv in result.at(path="fit", budget=20)}
    assert {lv.budget for lv in result.levels} == {8, 16, 20}
    assert fits["A/A"].different <= 0.05 and all(lv.coverage >= 0.9 for lv in fits.values())
    assert fits["1.10x wait"].different == 1.0 and fits["A/A"].whole.answer(0.03).value == "the same"
    eights = {lv.name: lv for lv in result.at(path="fit", budget=8)}
    assert eights["A/A"].median_half_width > fits["A/A"].median_half_width, "fewer processes, a wider interval"
    page = clock.render(tmp_path / "pool", command="python -m mnist_ref.validation.clock analyse x")
    assert clock.headline(result) in page and "| 1.10x wait | fit" in page
    assert "5 disjoint sets of 8, 2 disjoint sets of 16, 2 disjoint sets of 20" in page


def test_a_pool_without_an_arm_or_with_too_few_cycles_is_one_line(tmp_path):
    write_pool(tmp_path / "pool", clock.ARMS, cycles=9)
    with pytest.raises(ReportError, match="8 complete cycles after the warm-up; the rules need 20"):
        clock.analyse(tmp_path / "pool")
    for path in (tmp_path / "pool" / "wait1.05").iterdir():
        path.unlink()
    (tmp_path / "pool" / "wait1.05").rmdir()
    with pytest.raises(ReportError, match="no runs of wait1.05"):
        clock.analyse(tmp_path / "pool")
