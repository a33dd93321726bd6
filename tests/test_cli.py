"""The command line: bad input gives one line, a non-zero exit, no traceback and no run record."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli, write_idx

from mnist_ref.core.dataset import LABEL_MAGIC, MNIST_IDX


def assert_one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mnist-ref")]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def out(tmp_path) -> Path:
    """Where a run record would go; every bad-input test checks nothing lands there."""
    target = tmp_path / "records" / "run.json"
    yield target
    assert not target.parent.exists() or not any(target.parent.iterdir())


def test_missing_data_directory(tmp_path, out):
    proc = run_cli("train", "--data-dir", str(tmp_path / "absent"), "--out", str(out))
    assert_one_line_error(proc, "does not exist")


def test_truncated_gzip(tiny_dir, out):
    path = tiny_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    assert_one_line_error(run_cli("train", "--data-dir", str(tiny_dir), "--out", str(out)), "corrupt or truncated gzip")


def test_wrong_magic(tiny_dir, out):
    (tiny_dir / "train-images-idx3-ubyte.gz").rename(tiny_dir / "keep.gz")
    (tiny_dir / "train-labels-idx1-ubyte.gz").rename(tiny_dir / "train-images-idx3-ubyte.gz")
    assert_one_line_error(run_cli("train", "--data-dir", str(tiny_dir), "--out", str(out)), "magic number")


def test_wrong_shape(tiny_dir, out):
    assert_one_line_error(run_cli("train", "--data-dir", str(tiny_dir), "--out", str(out)), "expected (60000, 28, 28)")


@pytest.mark.slow
def test_checksum_mismatch(real_data_dir, tmp_path, out):
    data = tmp_path / "data"
    data.mkdir()
    for spec in (MNIST_IDX.train_images, MNIST_IDX.train_labels, MNIST_IDX.test_images):
        (data / f"{spec.name}.gz").symlink_to((real_data_dir / f"{spec.name}.gz").resolve())
    write_idx(data / MNIST_IDX.test_labels.name, np.zeros(10000, np.uint8), LABEL_MAGIC, gz=True)
    assert_one_line_error(run_cli("train", "--data-dir", str(data), "--out", str(out)), "sha256")


@pytest.mark.slow
def test_no_local_data_and_no_network(tmp_path, out):
    # An empty Keras cache and a proxy that refuses connections: Keras' download must fail.
    env = {
        "MNIST_REF_DATA": "",
        "KERAS_HOME": str(tmp_path / "keras"),
        "https_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    proc = run_cli("train", "--out", str(out), env=env)
    assert_one_line_error(proc, "download of mnist.npz failed")
    assert "MNIST_REF_DATA" in proc.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--batch-size", "0"], "batch size must be"),
        (["--batch-size", "-8"], "batch size must be"),
        (["--epochs", "0"], "epochs must be"),
        (["--device", "tpu"], "device must be cpu, gpu or gpu:N"),
        (["--backend", "theano"], "unknown backend"),
        (["--epochs", "two"], "invalid int value"),
    ],
)
def test_bad_options(args, fragment, tiny_dir, out):
    assert_one_line_error(run_cli("train", *args, "--data-dir", str(tiny_dir), "--out", str(out)), fragment)


@pytest.mark.slow
def test_absent_device(real_data_dir, out):
    proc = run_cli("train", "--device", "gpu:7", "--data-dir", str(real_data_dir), "--out", str(out))
    assert_one_line_error(proc, "device 'gpu:7' is not present")


@pytest.mark.slow
def test_env_prints_the_environment():
    proc = run_cli("env")
    assert proc.returncode == 0, proc.stderr
    env = json.loads(proc.stdout)
    assert env["framework"]["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert env["framework"]["keras"] and env["numpy"] and env["python"]
    assert env["cpu"]["logical_cores"] >= 1
    assert "cpu:0" in env["framework"]["devices"]


@pytest.mark.slow
def test_help_everywhere():
    for args in ([], ["train"], ["sweep"], ["report"], ["versions"], ["env"]):
        proc = run_cli(*args, "--help")
        assert proc.returncode == 0 and "usage: mnist-ref" in proc.stdout


@pytest.mark.slow
def test_unwritable_output_is_one_line(real_data_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = run_cli(
        "train",
        "--epochs",
        "1",
        "--batch-size",
        "512",
        "--data-dir",
        str(real_data_dir),
        "--out",
        str(blocker / "run.json"),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr.strip().splitlines()[-1] and str(blocker / "run.json") in proc.stderr
    assert blocker.read_text() == "not a directory"


def test_sweep_needs_two_seeds(tiny_dir, out):
    assert_one_line_error(
        run_cli("sweep", "--seeds", "1", "--data-dir", str(tiny_dir), "--out", str(out)),
        "takes a whole number from 2 to",
    )


def test_one_report_page_at_a_time(capsys):
    """--backends and --distributed each choose the page; both at once is a usage error, not one silently winning."""
    from mnist_ref import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["report", "x.json", "--backends", "--distributed"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and "not allowed with argument" in err


def test_a_data_parallel_config_without_its_placement_is_refused():
    """The walk-through knows no distribution: a config with replicas needs the placement scale.data_parallel gives."""
    from mnist_ref.core import walkthrough
    from mnist_ref.core.config import Config
    from mnist_ref.plumbing.errors import ConfigError

    with pytest.raises(ConfigError, match="placement"):
        walkthrough.run(Config(replicas=2), raw=None)


def test_one_mapping_from_failures_to_exit_codes(capsys, monkeypatch):
    """interrupts.guarded is the one place an error becomes a line and a code (the CLI and the study scripts use it);
    exit 1 means slower and nothing else."""
    from mnist_ref.plumbing import interrupts
    from mnist_ref.plumbing.errors import ExitCode, ReportError, WorkerError

    monkeypatch.setattr(interrupts, "raise_on_sigterm", lambda: None)  # pytest keeps its own SIGTERM handling

    def raising(exc):
        def body():
            raise exc

        return body

    cases = [
        (raising(ReportError("bad.json: not valid JSON")), ExitCode.BAD_INPUT),
        (raising(WorkerError("worker 1 was killed by signal 9")), ExitCode.INCOMPLETE),
        (raising(FileNotFoundError(2, "No such file or directory", "x.json")), ExitCode.BAD_INPUT),
        (raising(KeyboardInterrupt()), 130),
        (lambda: ExitCode.SLOWER, ExitCode.SLOWER),
        (lambda: None, ExitCode.OK),
    ]
    for body, code in cases:
        assert interrupts.guarded("prog", body) == code
        err = capsys.readouterr().err.splitlines()
        assert len(err) == (code != ExitCode.OK and code != ExitCode.SLOWER), err
        assert all(line.startswith("prog: ") for line in err)
    assert [c for c in ExitCode if c == 1] == [ExitCode.SLOWER]
