"""The cross-version table: rows from per-env results, relative columns, and envs that left nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mnist_ref.reporting import versions

SAMPLE = Path(__file__).parent / "data" / "bench-sample.json"


def write_env(root: Path, env: str, *, tf: str, keras: str, fingerprint: str, fit_scale: float = 1.0,
              oracle: bool | None = None) -> None:
    """One env's folder: the sample bench JSON (fit throughput scaled), a minimal run record and, unless
    oracle is None, the oracle's verdict."""
    folder = root / env
    folder.mkdir(parents=True)
    bench = json.loads(SAMPLE.read_text())
    for b in bench["benchmarks"]:
        if b["extra_info"]["path"] == "fit":
            b["extra_info"]["samples_per_s"] *= fit_scale
    (folder / "bench.json").write_text(json.dumps(bench))
    run = {
        "schema": "mnist-ref/run-record/1",
        "fingerprint": fingerprint,
        "environment": {"framework": {"tensorflow": tf, "keras": keras}, "cpu": {"model": "Test CPU", "usable_cores": 2}},
        "evaluate": {"accuracy": 0.934, "loss": 0.23},
        "band": {"low": 0.924, "high": 0.945, "inside": True},
    }
    (folder / "run.json").write_text(json.dumps(run))
    if oracle is not None:
        (folder / "oracle.json").write_text(json.dumps({"schema": "mnist-ref/oracle/1", "matches": oracle}))


def test_table_compares_each_version_with_the_newest(tmp_path):
    write_env(tmp_path, "tf215", tf="2.15.1", keras="2.15.0", fingerprint="a" * 64, fit_scale=0.5)
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64, oracle=True)
    text = versions.render(tmp_path, ["tf215", "tf220", "tf221"])
    lines = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| tf")}
    assert "0.50x" in lines["tf215"] and "2.15.0" in lines["tf215"]
    assert lines["tf215"][-2:] == ["no", "not checked"]  # same weights as newest; matches the oracle
    assert "1.00x" in lines["tf221"] and lines["tf221"][-2:] == ["yes", "yes"]
    assert "no results" in lines["tf220"][1]


def test_a_version_that_fails_the_oracle_says_so(tmp_path):
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64, oracle=False)
    row = next(line for line in versions.render(tmp_path, ["tf221"]).splitlines() if line.startswith("| tf221"))
    assert row.rstrip("| ").endswith("**no**")


def test_install_failure_from_tox_result_is_named(tmp_path):
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64)
    tox_result = {"testenvs": {"tf215": {"result": {"success": False, "exit_code": 1}, "setup": [{"retcode": 1}]}}}
    (tmp_path / versions.TOX_RESULT).write_text(json.dumps(tox_result))
    text = versions.render(tmp_path, ["tf215", "tf221"])
    assert "| tf215 | TensorFlow could not be installed on this Python and platform" in text


def test_committed_results_render(tmp_path):
    committed = Path(__file__).resolve().parent.parent / "results" / "tox"
    shutil.copytree(committed, tmp_path / "tox")
    envs = sorted(p.name for p in (tmp_path / "tox").iterdir() if p.is_dir())
    text = versions.render(tmp_path / "tox", envs)
    assert all(f"| {env} " in text for env in envs)
