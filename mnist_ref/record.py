"""Run records: the JSON document describing every run."""

from __future__ import annotations

import datetime
from pathlib import Path

from mnist_ref import book
from mnist_ref.dataset import RawMnist
from mnist_ref.walkthrough import RunResult

RECORD_SCHEMA = "mnist-ref/run-record/1"
DEFAULT_RUNS_DIR = Path("results") / "runs"


def build(result: RunResult, *, raw: RawMnist, environment: dict) -> dict:
    """The run record: config, environment, history, metrics, prediction, timings, fingerprint, data."""
    accuracy = result.evaluate["accuracy"]
    band = book.band_for(result.config)
    return {
        "schema": RECORD_SCHEMA,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": result.config.to_dict(),
        "device": result.device,
        "environment": environment,
        "data": {"source": raw.source, "sha256": raw.checksums},
        "history": result.history,
        "evaluate": result.evaluate,
        "predict": {
            "first_test_image": result.first_prediction,
            "predicted_class": result.first_predicted_class,
            "label": result.first_label,
        },
        "timings_s": result.timings_s,
        "fingerprint": result.fingerprint,
        "band": None if band is None else {"low": band.low, "high": band.high, "inside": band.contains(accuracy)},
    }


def default_path(result: RunResult, *, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """results/runs/<UTC time>-seed<seed>-<fingerprint prefix>.json"""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return runs_dir / f"{stamp}-seed{result.config.seed}-{result.fingerprint[:12]}.json"
