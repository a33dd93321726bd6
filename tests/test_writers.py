"""Every results document is checked against its schema where it is written (store.files.write_document): what the
writers produce is what the readers accept, and a writer that drifts from the schema fails there, writing nothing.
The bench's JSON is read back the same way in tests/test_bench_plugin.py."""

from __future__ import annotations

import json

import pytest

from mnist_ref.core.config import Config
from mnist_ref.core.walkthrough import RunResult
from mnist_ref.scale import sweep
from mnist_ref.store import files, record

ENVIRONMENT = {
    "python": "3.11.7",
    "numpy": "2.4.6",
    "framework": {"backend": "tensorflow", "keras": "3.15.1"},
    "cpu": {"model": "test CPU", "arch": "x86_64", "usable_cores": 2, "logical_cores": 2},
    "git": None,
}


class Raw:
    source = "test"
    checksums = {"train-images-idx3-ubyte.gz": "0" * 64}


def run_result(**changes) -> RunResult:
    values = dict(
        config=Config(),
        device="cpu:0",
        history={"loss": [0.6, 0.3], "accuracy": [0.82, 0.93]},
        evaluate={"loss": 0.24, "accuracy": 0.9319},
        first_prediction=[0.0] * 7 + [1.0, 0.0, 0.0],
        first_predicted_class=7,
        first_label=7,
        timings_s={"fit": 10.0},
        fingerprint="6dac56c0396842e5",
    )
    return RunResult(**{**values, **changes})


def test_a_run_record_is_written_as_the_reader_reads_it(tmp_path):
    document = record.build(run_result(), raw=Raw(), environment=ENVIRONMENT)
    path = files.write_document(tmp_path / "run.json", document, "run record")
    assert files.load_document(path, "run record") == document


def test_a_diverged_run_is_still_a_valid_record(tmp_path):
    document = record.build(
        run_result(evaluate={"loss": float("nan"), "accuracy": float("nan")}), raw=Raw(), environment=ENVIRONMENT
    )
    path = files.write_document(tmp_path / "run.json", document, "run record")
    assert files.load_document(path, "run record")["diverged"] is True


@pytest.mark.parametrize(
    "drift",
    [
        lambda d: d.pop("fingerprint"),
        lambda d: d.update(evaluate={"acc": 0.93}),
        lambda d: d["environment"]["cpu"].update(usable_cores="2"),
    ],
)
def test_a_writer_that_drifts_from_the_schema_fails_and_writes_nothing(tmp_path, drift):
    document = record.build(run_result(), raw=Raw(), environment=ENVIRONMENT)
    drift(document)
    with pytest.raises(RuntimeError, match="its own schema refuses"):
        files.write_document(tmp_path / "run.json", document, "run record")
    assert list(tmp_path.iterdir()) == []


class Scripted:
    """An executor that trains nothing: seed records as the real one writes them."""

    def check(self, cells):
        pass

    def environment(self, backend):
        return {**ENVIRONMENT, "framework": {"backend": backend}}

    def __call__(self, jobs):
        for cell, seed in jobs:
            yield (
                cell,
                seed,
                {
                    "seed": seed,
                    "test_accuracy": 0.93 + seed / 1000,
                    "test_loss": 0.24,
                    "fit_s": 1.0,
                    "fingerprint": f"{seed:016x}",
                    "status": "ok",
                },
            )


def test_a_sweep_is_written_as_the_reader_reads_it(tmp_path):
    cell = sweep.Cell(Config(), "tensorflow", tmp_path / "sweep.json")
    outcomes = sweep.run([cell], Raw(), seeds=range(4), execute=Scripted())
    [(_, path)] = list(sweep.publish(outcomes))
    loaded = files.load_sweep(path)
    assert [r["seed"] for r in loaded["runs"]] == [0, 1, 2, 3] and loaded["summary"]["n"] == 4
    assert json.loads(path.read_text()) == outcomes[0].document
