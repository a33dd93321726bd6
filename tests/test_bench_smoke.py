"""The bench suite in its smoke mode, end to end: it runs, writes JSON, and the report reads that JSON.

This keeps the benchmarks and the report from drifting apart: every test run exercises both.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import ROOT

from mnist_ref import cli

# The real bench in a fresh process (about a minute): the long tier. The default run checks the plugin in-process
# (tests/test_bench_plugin.py: options, matrix, the floor's JSON read back), and .ci/run's gate stage runs the smoke
# bench in both modes.
pytestmark = pytest.mark.long


def test_smoke_bench_runs_and_reports(real_data_dir, tmp_path):
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "bench",
            "--benchmark-only",
            "--bench-smoke",
            f"--benchmark-json={out}",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    document = json.loads(out.read_text())
    fits = [b for b in document["benchmarks"] if b["extra_info"]["path"] == "fit"]
    assert fits and all(b["extra_info"]["in_band"] for b in fits)
    assert {b["extra_info"]["path"] for b in document["benchmarks"]} == {"fit", "evaluate", "predict", "predict_one"}
    assert all(b["extra_info"]["harness_overhead_pct"] >= 0 for b in document["benchmarks"])
    assert document["machine_info"]["mnist_ref"]["framework"]["keras"]
    assert cli.main(["report", str(out), "--out-dir", str(tmp_path / "results")]) == 0
    assert "| tensorflow cpu:0 " in (tmp_path / "results" / "bench.md").read_text()
