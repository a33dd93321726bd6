"""results/backends.md: runs of the same case compared by fingerprint; absent GPUs marked not measured."""

from __future__ import annotations

import json
from pathlib import Path

from mnist_ref.reporting import backends
from mnist_ref.store import files

SAMPLE = Path(__file__).parent / "data" / "bench-sample.json"


def write_run(path: Path, fingerprints: dict[str, str]) -> files.BenchFile:
    """The sample bench JSON with the given fingerprint per mode on its fit benchmarks."""
    document = json.loads(SAMPLE.read_text())
    for bench in document["benchmarks"]:
        if bench["extra_info"]["path"] == "fit":
            bench["extra_info"]["fingerprint"] = fingerprints[bench["extra_info"]["mode"]]
    path.write_text(json.dumps(document))
    return files.load_bench(path)


def test_fingerprints_compared_across_runs(tmp_path):
    first = write_run(tmp_path / "run1.json", {"book": "a" * 64, "tuned": "c" * 64})
    second = write_run(tmp_path / "run2.json", {"book": "a" * 64, "tuned": "d" * 64})
    text = backends.render([first, second], command="mnist-ref report --backends")
    correctness = text.split("## Correctness", 1)[1]
    rows = {
        tuple(c.strip() for c in line.split("|")[1:4]): line
        for line in correctness.splitlines()
        if line.startswith("| tensorflow")
    }
    assert rows[("tensorflow cpu:0", "book", "32")].rstrip(" |").endswith("yes (2 runs)")
    assert rows[("tensorflow cpu:0", "tuned", "32")].rstrip(" |").endswith("**no** (2 runs)")
    assert "- tensorflow gpu:0, book, batch 32: not present" in text  # listed, not dropped


def test_single_run_says_so(tmp_path):
    only = write_run(tmp_path / "run1.json", {"book": "a" * 64, "tuned": "b" * 64})
    assert "one run" in backends.render([only], command="mnist-ref report --backends")
