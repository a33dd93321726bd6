"""The harness-cost study on a pool the test writes itself (real bench JSON, its rounds scaled; records of the book's
script): the interval holds a known cost, the page renders from the numbers, and a bad record is one clear line."""

from __future__ import annotations

import copy
import json
import math
import random
import subprocess
import sys

import pytest
from helpers import ROOT

from mnist_ref.gate import ab
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.validation import harness

TEMPLATE = ROOT / "results" / "stacks" / "timed" / "book" / "run-1.json"


def _fit_median(document: dict) -> float:
    import statistics

    return statistics.median(
        next(b for b in document["benchmarks"] if b["name"].startswith("test_fit["))["stats"]["data"]
    )


def write_pool(folder, *, cycles: int = 10, cost: float = 1.2, seed: int = 0) -> None:
    """Both arms a cycle: a drift shared by the cycle, 1% of each process's own; the harness `cost` times the script."""
    rng = random.Random(seed)
    template = json.loads(TEMPLATE.read_text())
    epoch = _fit_median(template)
    for cycle in range(1, cycles + 1):
        drift = math.exp(rng.gauss(0, 0.05))
        doc = copy.deepcopy(template)
        for bench in doc["benchmarks"]:
            bench["stats"]["data"] = [t * drift * cost * math.exp(rng.gauss(0, 0.01)) for t in bench["stats"]["data"]]
        (folder / "harness").mkdir(parents=True, exist_ok=True)
        (folder / "harness" / f"run-{cycle}.json").write_text(json.dumps(doc))
        bare = [epoch * drift * (1.3 if e == 0 else 1.0) * math.exp(rng.gauss(0, 0.01)) for e in range(5)]
        (folder / "bare").mkdir(parents=True, exist_ok=True)
        record = {"script": harness.SCRIPT, "keras": "3.15.1", "epoch_s": bare}
        (folder / "bare" / f"run-{cycle}.json").write_text(json.dumps(record))


def test_the_interval_holds_a_known_cost_and_the_page_says_it(tmp_path):
    write_pool(tmp_path / "pool", cost=1.2)
    result = harness.analyse(tmp_path / "pool")
    assert result.usable == 9, "cycle 1 warms the machine up and is left out"
    assert result.ratio.paired and result.ratio.low <= 1.2 <= result.ratio.high and result.ratio.low > 1
    page = harness.render(tmp_path / "pool", command="python -m mnist_ref.validation.harness analyse pool")
    assert "# What the harness costs a fit epoch" in page and ": slower." in page.splitlines()[2]
    assert "| harness " in page and "| bare " in page and "Keras 3.15.1" in page


def test_the_same_cost_reads_the_same(tmp_path):
    write_pool(tmp_path / "pool", cost=1.0, cycles=16)
    assert harness.analyse(tmp_path / "pool").ratio.answer(0.03).value == "the same"


def test_a_record_that_is_not_the_scripts_is_one_line(tmp_path):
    write_pool(tmp_path / "pool")
    (tmp_path / "pool" / "bare" / "run-3.json").write_text('{"keras": "3"}')
    with pytest.raises(ReportError, match=r"run-3.json: not a record of bench/book_script.py"):
        harness.analyse(tmp_path / "pool")


def test_the_bare_arm_runs_the_script_not_the_bench(tmp_path):
    bare = next(a for a in harness.arms() if a.name == "bare")
    command = ab._command(bare, tmp_path / "run-1.json")
    assert command[1:4] == ["bench/book_script.py", "--json", str(tmp_path / "run-1.json")] and "pytest" not in command


def test_the_script_without_data_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "book_script.py"), "--json", str(tmp_path / "o.json"), "--data", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("no MNIST IDX files there; set MNIST_REF_DATA or pass --data")
