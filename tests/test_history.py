"""mnist-ref report --history: runs in time order, what changed between them, and what the gate would have said."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mnist_ref.reporting import history
from mnist_ref.store import files

SAMPLE = Path(__file__).resolve().parent / "data" / "bench-sample.json"
BOOK = files.CaseKey("tensorflow", "cpu:0", 32, "book")


def variant(
    tmp_path: Path,
    name: str,
    *,
    when: str,
    slower: float = 1.0,
    keras: str | None = None,
    fingerprint: str | None = None,
):
    """The sample bench file as if run at `when`, its rounds `slower` times as long, another Keras or other weights."""
    document = json.loads(SAMPLE.read_text())
    document["datetime"] = when
    for bench in document["benchmarks"]:
        stats = bench["stats"]
        stats["data"] = [t * slower for t in stats["data"]]
        for field in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev"):
            stats[field] *= slower
        if fingerprint and bench["extra_info"]["path"] == "fit":
            bench["extra_info"]["fingerprint"] = fingerprint
    if keras:
        document["machine_info"]["mnist_ref"]["framework"]["keras"] = keras
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(copy.deepcopy(document)))
    return files.load_bench(path)


def book_rows(text: str) -> list[list[str]]:
    section = text.split("## tensorflow cpu:0 bs32 book, fit (seconds)", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines() if line.startswith("| 2026")]


def test_runs_are_ordered_by_time_and_each_says_what_changed_and_what_the_gate_saw(tmp_path):
    later_slow = variant(tmp_path, "c", when="2026-11-28T10:00:00+00:00", slower=3.0)
    first = variant(tmp_path, "a", when="2026-11-26T10:00:00+00:00")
    new_keras = variant(tmp_path, "b", when="2026-11-27T10:00:00+00:00", keras="3.99.0", fingerprint="f" * 64)
    text = history.render([later_slow, first, new_keras], command="mnist-ref report --history x")
    rows = book_rows(text)
    assert [r[0] for r in rows] == ["2026-11-26 10:00", "2026-11-27 10:00", "2026-11-28 10:00"]
    assert rows[0][2] == "first run" and rows[0][7] == ""
    assert "keras 3.15.1 -> 3.99.0" in rows[1][2] and rows[1][6].endswith("**changed**")
    assert "keras 3.99.0 -> 3.15.1" in rows[2][2] and "**slower** (3.000x" in rows[2][7]
    assert text.startswith("# History\n\n**3 runs from 2026-11-26 to 2026-11-28**")


def test_unchanged_code_in_the_same_stack_reads_no_change(tmp_path):
    a = variant(tmp_path, "a", when="2026-11-26T10:00:00+00:00")
    b = variant(tmp_path, "b", when="2026-11-26T11:00:00+00:00", slower=1.01)
    rows = book_rows(history.render([a, b], command="x"))
    assert rows[1][2] == "nothing (same stack and machine)" and rows[1][6].endswith(" same")
    assert rows[1][7].startswith("no change")


def test_a_case_measured_once_has_no_history_and_the_plot_renders(tmp_path):
    only = variant(tmp_path, "a", when="2026-11-26T10:00:00+00:00")
    assert "no history" in history.render([only], command="x")
    png = history.plot([only, variant(tmp_path, "b", when="2026-11-27T10:00:00+00:00")])
    assert png.startswith(b"\x89PNG")
