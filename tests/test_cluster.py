"""Seed sweeps on Dask: the same per-seed results serially, on a local cluster, on a running scheduler and with a
worker killed mid-seed; failed seeds recorded, not retried; completed seeds kept and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import start_cli

from mnist_ref.core.config import Config
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.plumbing.interrupts import HOLD_ENV, HOLD_ONCE_ENV
from mnist_ref.scale import sweep

distributed = pytest.importorskip("distributed", reason="Dask is not installed: pip install -e '.[cluster]'")

# Small enough for seconds a seed, on the real data.
SMALL = ("--epochs", "1", "--batch-size", "1024")


def sweep_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    return start_cli("sweep", *args, env=env)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def per_seed(path: Path) -> dict[int, tuple]:
    runs = json.loads(path.read_text())["runs"]
    assert len(runs) == len({r["seed"] for r in runs}), "a seed recorded twice"
    return {r["seed"]: (r["status"], r["test_accuracy"], r["fingerprint"]) for r in runs}


@pytest.mark.long  # a local Dask cluster, a worker killed mid-sweep (about a minute)
def test_serial_local_cluster_and_lost_worker_give_the_same_seeds(real_data_dir, tmp_path):
    serial = tmp_path / "serial.json"
    finish(sweep_cli("--seeds", "3", *SMALL, "--out", str(serial)))

    cluster = tmp_path / "cluster.json"
    out = finish(sweep_cli("--seeds", "3", *SMALL, "--jobs", "2", "--out", str(cluster)))
    assert "Dask local cluster: 2 worker processes" in out
    assert "[3/3 seeds," in out

    # The worker that starts seed 1 holds there and writes its pid; it is killed with SIGKILL mid-seed.
    pid_file = tmp_path / "held.pid"
    lost = tmp_path / "lost.json"
    proc = sweep_cli(
        "--seeds",
        "3",
        *SMALL,
        "--jobs",
        "2",
        "--out",
        str(lost),
        env={HOLD_ENV: "seed-1", HOLD_ONCE_ENV: str(pid_file)},
    )
    deadline = time.monotonic() + 120
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, "no worker reached seed 1"
        time.sleep(0.2)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    finish(proc)

    expected = per_seed(serial)
    assert sorted(expected) == [0, 1, 2] and all(s[0] == "ok" for s in expected.values())
    assert per_seed(cluster) == expected
    assert per_seed(lost) == expected
    assert json.loads(lost.read_text())["summary"]["n"] == 3


@pytest.mark.long
def test_running_scheduler_and_a_grid_over_backends(real_data_dir, tmp_path):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        proc = sweep_cli(
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--batch-size",
            "1024",
            "--backend",
            "tensorflow",
            "jax",
            "--scheduler",
            cluster.scheduler_address,
            "--out-dir",
            str(tmp_path),
        )
        out = finish(proc)
    assert "restarting the Dask workers for the jax backend" in out
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == ["bs1024-jax-book.json", "bs1024-tensorflow-book.json"]
    for name in names:
        document = json.loads((tmp_path / name).read_text())
        assert document["backend"] == document["environment"]["framework"]["backend"] == name.split("-")[1]
        assert [r["seed"] for r in document["runs"]] == [0, 1]


# sweep.run with an executor that fails chosen seeds: the bookkeeping, without training anything.
class Scripted:
    def __init__(self, fail=(), diverge=()):
        self.fail, self.diverge, self.ran = set(fail), set(diverge), []

    def check(self, cells):
        pass

    def environment(self, backend):
        return {"framework": {"backend": backend}}

    def __call__(self, jobs):
        for cell, seed in jobs:
            self.ran.append(seed)
            if seed in self.fail:
                yield cell, seed, sweep.failed(seed, MemoryError("out of memory"))
            else:
                accuracy = None if seed in self.diverge else 0.93 + seed / 1000
                yield (
                    cell,
                    seed,
                    {
                        "seed": seed,
                        "test_accuracy": accuracy,
                        "test_loss": None,
                        "fingerprint": f"f{seed}",
                        "fit_s": 1.0,
                        "status": "diverged" if accuracy is None else "ok",
                    },
                )


class Raw:
    source = "test"


def test_failed_seeds_are_recorded_once_and_tried_again_on_the_next_run(tmp_path):
    cell = sweep.Cell(Config(), "tensorflow", tmp_path / "s.json")
    lines = []
    first = Scripted(fail={2}, diverge={3})
    [outcome] = sweep.run([cell], Raw(), seeds=range(5), execute=first, progress=lines.append)
    assert first.ran == [0, 1, 2, 3, 4]
    summary = outcome.document["summary"]
    assert (summary["n"], summary["seeds"], summary["failed"], summary["diverged"]) == (3, 5, 1, 1)
    assert outcome.document["runs"][2] == {"seed": 2, "status": "failed", "reason": "MemoryError: out of memory"}
    assert lines[-1].startswith("[5/5 seeds,")
    kept = json.loads(sweep.checkpoint_path(cell.out).read_text())
    assert [r["seed"] for r in kept["runs"]] == [0, 1, 3, 4]  # the failed seed is not kept: a rerun tries it again

    again = Scripted()
    [outcome] = sweep.run([cell], Raw(), seeds=range(5), execute=again, progress=lines.append)
    assert again.ran == [2]
    assert outcome.document["summary"]["n"] == 4


def test_a_cell_with_too_few_trained_seeds_says_why(tmp_path):
    cell = sweep.Cell(Config(), "tensorflow", tmp_path / "s.json")
    [outcome] = sweep.run([cell], Raw(), seeds=range(3), execute=Scripted(fail={0, 1}), progress=lambda _: None)
    assert outcome.document is None
    assert "1 of 3 seeds trained" in outcome.error and "out of memory" in outcome.error


def test_serial_refuses_several_backends(tmp_path):
    cells = [sweep.Cell(Config(), b, tmp_path / f"{b}.json") for b in ("tensorflow", "jax")]
    with pytest.raises(ConfigError, match="--jobs 2"):
        sweep.run(cells, Raw(), seeds=range(2), execute=sweep.Serial(Raw()))


def test_progress_line():
    clock = iter([0.0, 65.0]).__next__
    lines = []
    sweep.Progress(4, lines.append, clock=clock).step("seed 0")
    assert lines == ["[1/4 seeds, 1m05s elapsed, ~3m15s left] seed 0"]
