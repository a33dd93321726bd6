"""Data-parallel training: supported strategies take the book's SGD step, reproduce, land in the band; the
unsupported ones say why in one line; multi-worker runs end cleanly, also when a worker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings

import pytest
from helpers import run_cli, start_cli

from mnist_ref.core.framework import backend_installed
from mnist_ref.plumbing.errors import BackendError, ConfigError
from mnist_ref.plumbing.interrupts import HOLD_ENV, HOLD_ONCE_ENV
from mnist_ref.scale import data_parallel
from mnist_ref.scale.data_parallel import Layout

# Every test here starts processes or devices of its own (1-17 s each, 88 s in all): the long tier.
pytestmark = [pytest.mark.distributed, pytest.mark.long]

SMALL = ("--epochs", "1", "--batch-size", "1024")
REPLICA_BACKENDS = [
    pytest.param(b, marks=pytest.mark.skipif(not backend_installed(b), reason=f"{b} not installed"))
    for b in ("tensorflow", "jax")
]
needs_jax = pytest.mark.skipif(not backend_installed("jax"), reason="jax not installed")


def mnist_ref(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return run_cli(*args, env=env, timeout=timeout)


XLA_CPU_RENDEZVOUS_HANG = "Termination timeout for `all reduce"


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize(
    "backend, layout, words",
    [
        ("torch", Layout(replicas=2), "released Keras"),
        ("torch", Layout(workers=2, coordinator="h:1"), "released Keras"),
        ("tensorflow", Layout(workers=2, coordinator="h:1"), "keras-team/keras#20585"),
    ],
)
def test_unsupported_combinations_name_the_upstream_limitation(backend, layout, words):
    with pytest.raises(BackendError, match=words):
        data_parallel.check(backend, layout, 32)


@pytest.mark.parametrize(
    "layout, batch, words",
    [
        (Layout(replicas=3), 32, "divisible by 3"),
        (Layout(replicas=0), 32, "1 or more"),
        (Layout(workers=2), 32, "coordinator"),
        (Layout(workers=2, process_id=2, coordinator="h:1"), 32, "outside 0..1"),
    ],
)
def test_bad_layouts(layout, batch, words):
    with pytest.raises(ConfigError, match=words):
        data_parallel.check("jax", layout, batch)


def test_local_shards_cover_the_training_set_once():
    x = list(range(10))
    shards = [data_parallel.local_shard(x, x, Layout(workers=3, process_id=i, coordinator="h:1"))[0] for i in range(3)]
    assert sorted(sum(shards, [])) == x


@pytest.mark.skipif(not backend_installed("torch"), reason="torch not installed")
def test_unsupported_replicas_is_one_line(tiny_dir):
    proc = mnist_ref("train", "--backend", "torch", "--replicas", "2", "--data-dir", str(tiny_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "released Keras" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", REPLICA_BACKENDS)
def test_one_step_on_two_replicas_is_the_books_step(real_data_dir, tmp_path, backend):
    """The oracle's one-step check (Keras against the float64 NumPy step) passes on 1 device and on 2 replicas,
    and on 2 replicas the step's weights equal the one-device step's to 1e-7 (same initial weights, same batch)."""
    docs = {}
    for replicas in (1, 2):
        out = tmp_path / f"oracle-{replicas}.json"
        ok(mnist_ref("oracle", "--backend", backend, "--replicas", str(replicas), "--steps", "0", "--out", str(out)))
        docs[replicas] = json.loads(out.read_text())
    assert docs[1]["matches"] and docs[2]["matches"], [c for c in docs[2]["checks"] if not c["ok"]]
    assert (docs[1]["distribution"]["replicas"], docs[2]["distribution"]["replicas"]) == (1, 2)
    updated = [c["quantity"] for c in docs[2]["checks"] if c["quantity"].startswith("updated")]
    assert len(updated) == 5  # W1, b1, W2, b2 against the float64 step, and all of them against one device
    against_one = next(c for c in docs[2]["checks"] if c["quantity"] == "updated weights, 2 replicas vs 1 device")
    assert against_one["ok"] and against_one["tolerance"] == 1e-7


@pytest.mark.slow
@pytest.mark.parametrize("backend", REPLICA_BACKENDS)
def test_two_replicas_reproduce(real_data_dir, tmp_path, backend):
    """The same data-parallel configuration twice gives the same weights."""
    records = []
    for run in range(2):
        out = tmp_path / f"run{run}.json"
        ok(mnist_ref("train", "--backend", backend, "--replicas", "2", *SMALL, "--out", str(out)))
        records.append(json.loads(out.read_text()))
    assert records[0]["fingerprint"] == records[1]["fingerprint"]
    assert records[0]["distribution"]["replicas"] == 2


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.scheduled
@pytest.mark.parametrize("backend, mode", [("tensorflow", "book"), pytest.param("jax", "tuned", marks=needs_jax)])
def test_two_replicas_land_in_the_band(real_data_dir, tmp_path, backend, mode):
    """The book's configuration on 2 replicas lands in the book's band. JAX runs it in tuned mode (the same math,
    fewer dispatches); TensorFlow in book mode, as tuned mode fails under MirroredStrategy upstream."""
    out = tmp_path / "run.json"
    args = ("train", "--backend", backend, "--replicas", "2", "--mode", mode, "--out", str(out))
    proc = mnist_ref(*args)
    if proc.returncode != 0 and XLA_CPU_RENDEZVOUS_HANG in proc.stderr:
        # XLA:CPU's all-reduce across host devices has, twice on this 2-core VM, waited for a participant that never
        # arrived and ended the process at its termination timeout (upstream: jax-ml/jax#31818, openxla/xla#32115).
        # A hang is not a wrong result: rerun once, and say so.
        warnings.warn(
            "XLA:CPU all-reduce rendezvous hung and was ended by its termination timeout; retried once", stacklevel=1
        )
        proc = mnist_ref(*args)
        if proc.returncode != 0 and XLA_CPU_RENDEZVOUS_HANG in proc.stderr:
            pytest.xfail(
                "XLA:CPU all-reduce rendezvous hung twice in a row (upstream jax-ml/jax#31818); no result to judge"
            )
    ok(proc)
    record = json.loads(out.read_text())
    assert record["band"]["inside"], record["evaluate"]
    assert record["predict"]["predicted_class"] == 7


def test_tuned_mode_under_mirrored_strategy_is_refused(tiny_dir):
    proc = mnist_ref(
        "train", "--backend", "tensorflow", "--replicas", "2", "--mode", "tuned", "--data-dir", str(tiny_dir)
    )
    assert proc.returncode == 2 and "keras-team/keras#19246" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.scheduled
@needs_jax
def test_two_workers_land_in_the_band_and_the_chief_writes_one_record(real_data_dir, tmp_path):
    out = tmp_path / "run.json"
    ok(mnist_ref("train", "--backend", "jax", "--workers", "2", "--mode", "tuned", "--out", str(out)))
    record = json.loads(out.read_text())
    assert record["distribution"] == {
        "strategy": "keras DataParallel (jax.distributed)",
        "replicas": 2,
        "workers": 2,
        "devices_per_worker": 1,
    }
    assert record["band"]["inside"], record["evaluate"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.slow
@needs_jax
def test_a_dead_worker_ends_the_run_with_one_line_and_no_orphans(real_data_dir, tmp_path):
    pid_file = tmp_path / "held.pid"
    proc = start_cli(
        "train",
        "--backend",
        "jax",
        "--workers",
        "2",
        *SMALL,
        "--out",
        str(tmp_path / "run.json"),
        env={HOLD_ENV: "fit", HOLD_ONCE_ENV: str(pid_file)},
    )
    deadline = time.monotonic() + 180
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline and proc.poll() is None, "no worker reached fit"
        time.sleep(0.2)
    held = int(pid_file.read_text())
    os.kill(held, signal.SIGKILL)
    start = time.monotonic()
    out, err = proc.communicate(timeout=120)
    assert time.monotonic() - start < 60
    assert proc.returncode == 4 and "Traceback" not in err.splitlines()[-1]
    last = err.strip().splitlines()[-1]
    assert last.startswith("mnist-ref: error: worker") and "killed by signal 9" in last and "stopped" in last
    assert not (tmp_path / "run.json").exists()
    survivors = subprocess.run(
        ["pgrep", "-f", f"--out {tmp_path / 'run.json'}"], capture_output=True, text=True
    ).stdout.split()
    assert survivors == []


@needs_jax
def test_hung_workers_are_stopped_after_the_timeout(tiny_dir, tmp_path, monkeypatch):
    from mnist_ref.plumbing.errors import WorkerError
    from mnist_ref.scale import launch

    monkeypatch.setenv(HOLD_ENV, "data")  # every worker waits there, as a hung worker would
    out = tmp_path / "run.json"
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"worker\(s\) 0, 1 still running after 8 s; all were stopped"):
        launch.run_workers(
            ["train", "--backend", "jax", "--workers", "2", "--data-dir", str(tiny_dir), "--out", str(out)],
            2,
            timeout_s=8,
        )
    assert time.monotonic() - start < 30
    assert subprocess.run(["pgrep", "-f", f"--out {out}"], capture_output=True, text=True).stdout.split() == []


def test_unsupported_workers_are_refused_before_any_worker_starts(tiny_dir):
    proc = mnist_ref("train", "--backend", "tensorflow", "--workers", "2", "--data-dir", str(tiny_dir))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("mnist-ref: error:") == 1 and "keras-team/keras#20585" in proc.stderr
