"""Contention is detected, not guessed: the session record from two snapshots, and a real bench session run
while two busy processes load both cores, flagged in its JSON, its table and by the gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT

from mnist_ref import cli
from mnist_ref.measure import contention


def snap(*, wall: float, busy: int | None, total: int | None = None, steal: int = 0, own: float, probe: float = 0.05):
    return contention.Snapshot(
        wall,
        busy,
        total if total is not None else (None if busy is None else busy * 2),
        steal,
        own,
        (0.5, 0.5, 0.5),
        probe,
    )


def test_a_quiet_session_is_steady():
    ticks = contention._clock_ticks()
    record = contention.assess(
        snap(wall=0, busy=0, total=0, own=0), snap(wall=10, busy=19 * ticks, total=20 * ticks, own=19.0)
    )
    assert record["verdict"] == "steady" and record["reasons"] == [] and record["other_busy_cores"] == pytest.approx(0)


def test_other_processes_steal_and_a_slower_probe_are_each_named():
    ticks = contention._clock_ticks()
    busy = contention.assess(
        snap(wall=0, busy=0, total=0, own=0), snap(wall=10, busy=20 * ticks, total=20 * ticks, own=10.0)
    )
    assert busy["verdict"] == "contended" and "1.00 cores busy" in busy["reasons"][0]
    stolen = contention.assess(
        snap(wall=0, busy=0, total=0, own=0),
        snap(wall=10, busy=10 * ticks, total=20 * ticks, steal=2 * ticks, own=10.0),
    )
    assert stolen["verdict"] == "contended" and "stole 10.0%" in stolen["reasons"][0]
    drift = contention.assess(snap(wall=0, busy=None, own=0, probe=0.05), snap(wall=10, busy=None, own=5, probe=0.08))
    assert (
        drift["verdict"] == "contended"
        and "1.60x slower" in drift["reasons"][0]
        and drift["unreadable"] == "/proc/stat"
    )


def test_the_probe_and_a_snapshot_read_this_machine():
    now = contention.snapshot()
    assert now.probe_s > 0 and now.own_cpu_s > 0
    if Path("/proc/stat").exists():
        assert now.total_jiffies >= now.busy_jiffies > 0


@pytest.mark.long
def test_a_bench_session_under_load_is_flagged_everywhere(tmp_path, real_data_dir, capsys):
    burn = "import time\nend = time.time() + 120\nwhile time.time() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(os.cpu_count() or 2)]
    try:
        time.sleep(1)
        out = tmp_path / "loaded.json"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "bench/",
                "--benchmark-only",
                "--bench-batch-sizes",
                "2048",
                "--bench-devices",
                "cpu",
                "--bench-modes",
                "book",
                "-p",
                "no:cacheprovider",
                "-q",
                f"--benchmark-json={out}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "MNIST_REF_DATA": str(real_data_dir)},
        )
    finally:
        for burner in burners:
            burner.kill()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads(out.read_text())["mnist_ref"]["contention"]
    assert record["verdict"] == "contended" and record["other_busy_cores"] > contention.OTHER_BUSY_CORES_LIMIT
    assert "contended" in proc.stderr
    assert cli.main(["report", str(out), "--out-dir", str(tmp_path / "pages")]) == 0
    assert (
        "machine during the session: contended: other processes kept" in (tmp_path / "pages" / "bench.md").read_text()
    )
    capsys.readouterr()
    assert cli.main(["compare", str(out), str(out)]) == 5  # not judged: rerun on a quiet machine
    assert "contended" in capsys.readouterr().out
    assert cli.main(["baseline", str(out), "--dir", str(tmp_path / "base")]) == 2
    assert "busy machine" in capsys.readouterr().err
