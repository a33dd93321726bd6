"""Ctrl-C and SIGTERM at known points of real runs: earlier outputs intact, no temporary files, no child
left, one line, exit 130 or 143; an interrupted sweep resumes to the same result."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, cli_command, start

from mnist_ref.plumbing.interrupts import HOLD_ENV

PREVIOUS = '{"previous": "complete results"}\n'
# The smallest configuration that still walks every step on the real data.
SMALL = ("--epochs", "1", "--batch-size", "2048")

pytestmark = [pytest.mark.slow, pytest.mark.signals]


def start_held(command: list[str], *, hold: str | None, cwd: Path = ROOT) -> subprocess.Popen:
    """command started with the stage it holds at (HOLD_ENV), for a signal to arrive there."""
    return start(command, env={HOLD_ENV: hold} if hold else None, cwd=cwd)


def interrupt_at(proc: subprocess.Popen, stage: str, signum: int) -> tuple[str, str]:
    """Wait until the process holds at stage, send signum, return (stdout, stderr) once it has ended."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.strip() == f"holding at {stage}":
            break
    else:
        pytest.fail(f"the process ended before reaching {stage}: {''.join(seen)[-2000:]}")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return out, "".join(seen) + err


mnist_ref = cli_command


def assert_one_interrupt_line(err: str, proc: subprocess.Popen, signum: int) -> None:
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("mnist-ref:")]
    assert len(lines) == 1 and "interrupted" in lines[0], err[-2000:]


@pytest.mark.parametrize("stage, signum", [("data", signal.SIGINT), ("fit", signal.SIGTERM), ("write", signal.SIGINT)])
def test_train_interrupted_keeps_the_previous_record(real_data_dir, tmp_path, stage, signum):
    out = tmp_path / "run.json"
    out.write_text(PREVIOUS)
    proc = start_held(mnist_ref("train", *SMALL, "--out", str(out)), hold=stage)
    _, err = interrupt_at(proc, stage, signum)
    assert_one_interrupt_line(err, proc, signum)
    assert out.read_text() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def sweep_command(out: Path) -> list[str]:
    return mnist_ref("sweep", "--seeds", "3", *SMALL, "--out", str(out))


def test_interrupted_sweep_resumes_to_the_uninterrupted_result(real_data_dir, tmp_path):
    out = tmp_path / "sweep.json"
    proc = start_held(sweep_command(out), hold="seed-2")
    _, err = interrupt_at(proc, "seed-2", signal.SIGINT)
    assert_one_interrupt_line(err, proc, signal.SIGINT)
    assert not out.exists()
    kept = json.loads((tmp_path / "sweep.partial.json").read_text())
    assert [r["seed"] for r in kept["runs"]] == [0, 1]
    assert "sweep.partial.json" in err

    resumed = subprocess.run(sweep_command(out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout and "seeds 0, 1 already done" in resumed.stdout
    assert not (tmp_path / "sweep.partial.json").exists()

    whole = tmp_path / "whole.json"
    straight = subprocess.run(sweep_command(whole), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr[-2000:]
    a, b = json.loads(out.read_text()), json.loads(whole.read_text())
    assert [r["fingerprint"] for r in a["runs"]] == [r["fingerprint"] for r in b["runs"]]
    assert a["summary"] == b["summary"]


def test_sweep_of_another_configuration_does_not_resume(real_data_dir, tmp_path):
    out = tmp_path / "sweep.json"
    (tmp_path / "sweep.partial.json").write_text(
        json.dumps({"schema": "mnist-ref/seed-sweep/1", "config": {}, "runs": []})
    )
    proc = subprocess.run(sweep_command(out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--fresh" in proc.stderr and "Traceback" not in proc.stderr


def bench_command(target: Path) -> list[str]:
    # -s: pytest would otherwise capture the "holding at" line the test waits for; batch 2048: epochs of a second
    return [
        sys.executable,
        "-m",
        "pytest",
        "bench",
        "--benchmark-only",
        "--bench-smoke",
        "--bench-devices",
        "cpu",
        "--bench-batch-sizes",
        "2048",
        "-p",
        "no:cacheprovider",
        "-q",
        "-s",
        f"--benchmark-json={target}",
    ]


def test_bench_interrupted_before_any_measurement_leaves_the_file_alone(real_data_dir, tmp_path):
    target = tmp_path / "bench.json"
    target.write_text(PREVIOUS)
    proc = start_held(bench_command(target), hold="fit-book")
    _, err = interrupt_at(proc, "fit-book", signal.SIGTERM)
    assert proc.returncode == 2  # pytest's code for an interrupted session
    assert target.read_text() == PREVIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]
    assert "before anything was measured" in err


def test_interrupted_bench_keeps_what_it_measured_beside_the_complete_file(real_data_dir, tmp_path):
    target = tmp_path / "bench.json"
    target.write_text(PREVIOUS)
    proc = start_held(bench_command(target), hold="fit-tuned")  # the book-mode fit has been measured by then
    _, err = interrupt_at(proc, "fit-tuned", signal.SIGINT)
    assert proc.returncode == 2
    assert target.read_text() == PREVIOUS
    partial = json.loads((tmp_path / "bench.partial.json").read_text())
    assert partial["mnist_ref"]["partial"] is True and partial["mnist_ref"]["outcome"] == "interrupted"
    assert [b["extra_info"]["mode"] for b in partial["benchmarks"]] == ["book"]
    assert any("tuned" in name for name in partial["mnist_ref"]["not_completed"])
    assert "bench.partial.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.partial.json"]
    report = subprocess.run(
        mnist_ref("report", str(tmp_path / "bench.partial.json"), "--out-dir", str(tmp_path / "r")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 2 and "partial bench file" in report.stderr and not (tmp_path / "r").exists()


def wait_for_text(path: Path, text: str, *, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    pytest.fail(f"{path} never said {text!r}")


# Timed, one bench process runs at a time; counted, both sides run at once under Valgrind (a minute to reach fit).
@pytest.mark.parametrize("measure", ["time", pytest.param("instructions", marks=pytest.mark.long)])
def test_interrupted_ab_run_stops_its_bench_process(real_data_dir, tmp_path, measure):
    out_dir = tmp_path / "ab"
    bench_args = "--bench-smoke --bench-modes book --bench-devices cpu -k fit -s"
    proc = start_held(
        mnist_ref(
            "ab",
            "--b",
            sys.executable,
            "--repeats",
            "1",
            "--measure",
            measure,
            "--out-dir",
            str(out_dir),
            "--bench-args",
            bench_args,
        ),
        hold="fit-book",
    )
    wait_for_text(out_dir / "A" / "run-1.log", "holding at fit-book")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert_one_interrupt_line(err, proc, signal.SIGTERM)
    alive = subprocess.run(["pgrep", "-f", str(out_dir)], capture_output=True, text=True)
    assert alive.stdout == "", f"bench processes still running: {alive.stdout}"
    assert not list(out_dir.rglob("*.tmp")) and not list(out_dir.rglob(".*.json.tmp"))
    assert not (out_dir / "compare.md").exists()
