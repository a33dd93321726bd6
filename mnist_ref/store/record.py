"""Run records: the JSON document describing every run."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

from mnist_ref.core import book
from mnist_ref.core.dataset import RawMnist
from mnist_ref.core.walkthrough import RunResult
from mnist_ref.store import files
from mnist_ref.store.schema import RUN_SCHEMA

DEFAULT_RUNS_DIR = Path("results") / "runs"


def finite(value):
    """value with every NaN or infinite float replaced by None (strict JSON has no NaN), in lists and dicts too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def diverged(*metrics) -> bool:
    """Whether any of the metrics (numbers, or lists and dicts of them) holds a NaN or infinite value."""
    return finite(list(metrics)) != list(metrics)


def build(result: RunResult, *, raw: RawMnist, environment: dict) -> dict:
    """The run record: config, environment, history, metrics, prediction, timings, fingerprint, data."""
    accuracy = result.evaluate["accuracy"]
    band = book.band_for(result.config)
    return finite(
        {
            "schema": RUN_SCHEMA,
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "config": result.config.to_dict(),
            "device": result.device,
            "distribution": result.distribution,
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
            "diverged": diverged(result.history, result.evaluate),
            "band": None if band is None else {"low": band.low, "high": band.high, "inside": band.contains(accuracy)},
        }
    )


def default_path(result: RunResult, *, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """results/runs/<UTC time>-seed<seed>-<fingerprint prefix>.json"""
    stamp = files.stamp()
    return runs_dir / f"{stamp}-seed{result.config.seed}-{result.fingerprint[:12]}.json"
