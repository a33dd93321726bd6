"""Run records: the JSON document written for every run, atomically."""

from __future__ import annotations

import datetime
import json
import os
import tempfile
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


def write_atomic(path: Path, text: str) -> Path:
    """Write text to path through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, document: dict) -> Path:
    """Write a JSON document atomically."""
    return write_atomic(path, json.dumps(document, indent=2, sort_keys=False) + "\n")
