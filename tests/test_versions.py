"""The cross-version table: rows from per-env results, relative columns, and envs that left nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from mnist_ref.analysis import stacks as stack_study
from mnist_ref.reporting import versions
from mnist_ref.store.provenance import Provenance

SAMPLE = Path(__file__).parent / "data" / "bench-sample.json"


def write_env(
    root: Path,
    env: str,
    *,
    tf: str,
    keras: str,
    fingerprint: str,
    fit_scale: float = 1.0,
    oracle: bool | None = None,
    package: str = "keras",
) -> None:
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
        "environment": {
            "framework": {"tensorflow": tf, "keras": keras, "keras_package": package, "backend": "tensorflow"},
            "cpu": {"model": "Test CPU", "usable_cores": 2},
        },
        "evaluate": {"accuracy": 0.934, "loss": 0.23},
        "band": {"low": 0.924, "high": 0.945, "inside": True},
    }
    (folder / "run.json").write_text(json.dumps(run))
    if oracle is not None:
        (folder / "oracle.json").write_text(json.dumps({"schema": "mnist-ref/oracle/1", "matches": oracle}))


def rows_of(text: str) -> dict[str, list[str]]:
    """env -> its cells across the page's tables, in table order (the env label once)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| tf"):
            cells = [c.strip() for c in line.split("|")[1:-1]]
            key = cells[0].split(" ")[0]
            rows[key] = rows[key] + cells[1:] if key in rows else cells
    return rows


def test_table_compares_each_version_with_the_newest(tmp_path):
    write_env(tmp_path, "tf215", tf="2.15.1", keras="2.15.0", fingerprint="a" * 64, fit_scale=0.5)
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64, oracle=True)
    text = versions.render(tmp_path, ["tf215", "tf220", "tf221"])
    lines = rows_of(text)
    assert "0.50x" in lines["tf215"] and "2.15.0" in lines["tf215"]
    assert lines["tf215"][-2:] == ["no", "not checked"]  # same weights as newest; matches the oracle
    assert "1.00x" in lines["tf221"] and lines["tf221"][-2:] == ["yes", "yes"]
    assert "no results" in lines["tf220"][1]


def test_a_version_that_fails_the_oracle_says_so(tmp_path):
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64, oracle=False)
    row = [line for line in versions.render(tmp_path, ["tf221"]).splitlines() if line.startswith("| tf221")][
        -1
    ]  # correctness
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


def test_nightly_and_tf_keras_rows_are_marked_and_not_the_reference(tmp_path):
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64)
    write_env(
        tmp_path,
        "tfnightly",
        tf="2.23.0-dev20261026",
        keras="3.16.0.dev2026102704",
        fingerprint="c" * 64,
        fit_scale=2.0,
        package="keras-nightly",
    )
    write_env(tmp_path, "tfkeras221", tf="2.21.0", keras="2.21.0", fingerprint="d" * 64, package="tf-keras")
    rows = rows_of(versions.render(tmp_path, ["tf221", "tfnightly", "tfkeras221"]))
    assert rows["tfnightly"][0] == "tfnightly (pre-release)" and "nightly of 2026-10-26" in rows["tfnightly"][1]
    assert (
        "(keras-nightly)" in rows["tfnightly"][2] and "2.00x" in rows["tfnightly"]
    )  # relative to the release, not itself
    assert rows["tfkeras221"][0] == "tfkeras221 (Keras 2 via tf-keras)" and rows["tfkeras221"][2] == "2.21.0 (tf-keras)"
    assert rows["tf221"][6] == "1.00x"


def _four(tmp_path, *, k2: str, k3: str = "b" * 64, k2_speed: float = 1.0, k3_speed: float = 1.0):
    write_env(tmp_path, "tf215", tf="2.15.1", keras="2.15.0", fingerprint="a" * 64)
    write_env(tmp_path, "tf216", tf="2.16.2", keras="3.3.3", fingerprint="e" * 64, fit_scale=2.0)
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint=k3, fit_scale=k3_speed)
    write_env(
        tmp_path, "tfkeras221", tf="2.21.0", keras="2.21.0", fingerprint=k2, package="tf-keras", fit_scale=k2_speed
    )
    return versions.render(tmp_path, ["tf215", "tf216", "tf221", "tfkeras221"]).strip().splitlines()[-1]


def test_the_tensorflow_or_keras_sentence_follows_the_fingerprints(tmp_path):
    sentence = _four(tmp_path / "keras", k2="a" * 64, k2_speed=1.0, k3_speed=2.0)
    assert sentence.startswith("TensorFlow or Keras?") and "Keras moved the weights" in sentence
    assert "Keras 3 runs at 2.00x of Keras 2" in sentence and "so Keras moved the speed" in sentence
    sentence = _four(tmp_path / "tf", k2="b" * 64)
    assert "TensorFlow moved the weights" in sentence and "neither is attributed" in sentence
    assert "both moved the weights" in _four(tmp_path / "both", k2="f" * 64)


def test_the_sentence_says_what_it_lacks(tmp_path):
    write_env(tmp_path, "tf221", tf="2.21.0", keras="3.15.1", fingerprint="b" * 64)
    assert "Not answered yet" in versions.render(tmp_path, ["tf221"])


def test_legacy_keras_without_tf_keras_says_what_to_install(monkeypatch):
    import importlib.util

    import pytest

    from mnist_ref.core import framework
    from mnist_ref.plumbing.errors import BackendError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf_keras" else real_find_spec(name, *a)
    )
    monkeypatch.setenv(framework.LEGACY_KERAS_ENV, "1")
    with pytest.raises(BackendError, match="tf-keras"):
        framework.keras.__wrapped__()  # uncached: the choice is made before anything is imported


def _study(scales: dict[str, float], stalls: dict[str, tuple[int, int]] | None = None) -> stack_study.StackStudy:
    """An interleaved study of 8 processes an env, each env's fit steps the same few values times its scale (the
    third decimal jittered so that two envs of one scale read as the same, not as identical); stalls: each env's
    stalled and total rounds by path."""
    base = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99]
    arms = {}
    for i, (env, scale) in enumerate(scales.items()):
        steps = [x * scale * (1 + 0.001 * i * (-1) ** k) for k, x in enumerate(base)]
        env_of = Provenance.of({"framework": {"backend": "tensorflow", "tensorflow": env, "keras": "3"}})
        arms[env] = stack_study.Arm(
            env, env_of, {"fit": steps}, {"fit": steps}, {}, None, None, None, tuple(range(1, 9)), stalls=stalls or {}
        )
    return stack_study.StackStudy(Path("stacks-versions"), arms, 8)


def test_with_an_interleaved_study_the_page_gives_one_speed_answer(tmp_path, monkeypatch):
    study = _study({"tf215": 1.0, "tf216": 1.3, "tfkeras221": 1.0, "tf221": 1.3})
    monkeypatch.setattr(stack_study, "analyse", lambda folder: study)
    _four(tmp_path, k2="a" * 64)
    text = versions.render(tmp_path, ["tf215", "tf216", "tf221", "tfkeras221"], study=Path("stacks-versions"))
    assert "samples/s" not in text and "## Against the newest release" not in text and "## Correctness" in text
    sentence = text.strip().splitlines()[-1]
    assert "Keras 3 against Keras 2 on the same TensorFlow slower by 1.30" in sentence
    assert "Keras 2 on the newer TensorFlow against 2.15 the same within +-3%" in sentence
    assert sentence.endswith("so Keras moved the speed.")
    assert "median half-width between consecutive releases: fit +-" in text


def test_the_page_counts_each_versions_stalled_rounds(tmp_path, monkeypatch):
    study = _study({"tf220": 1.0, "tf221": 1.0}, stalls={"fit": (17, 88), "evaluate": (2, 40)})
    monkeypatch.setattr(stack_study, "analyse", lambda folder: study)
    _four(tmp_path, k2="a" * 64)
    text = versions.render(tmp_path, ["tf215", "tf216", "tf221", "tfkeras221"], study=Path("stacks-versions"))
    assert "median of its 11 fit rounds moves only when 6 of them stall" in text
    assert re.search(r"\| tf220 +\| +17 / 88 \(19%\) +\| +2 / 40 \(5%\) +\|", text)


def test_without_a_study_the_separate_runs_keep_their_speed_tables(tmp_path):
    _four(tmp_path, k2="a" * 64)
    text = versions.render(tmp_path, ["tf215", "tf216", "tf221", "tfkeras221"])
    assert "## Speed" in text and "## Against the newest release" in text and "## Correctness" in text
