"""Multi-seed measurement of the book configuration's test accuracy, from which the bands derive."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

from mnist_ref import book, framework
from mnist_ref.config import Config
from mnist_ref.dataset import RawMnist
from mnist_ref.errors import ConfigError
from mnist_ref.walkthrough import run as run_walkthrough

SWEEP_SCHEMA = "mnist-ref/seed-sweep/1"
DEFAULT_DIR = Path("results") / "seed-sweep"


def derive_band(accuracies: list[float]) -> tuple[float, float]:
    """mean +/- max(BAND_SIGMAS * std, BAND_MIN_HALF_WIDTH), rounded outwards to 0.001."""
    mean = statistics.fmean(accuracies)
    half = max(book.BAND_SIGMAS * statistics.stdev(accuracies), book.BAND_MIN_HALF_WIDTH)
    return math.floor((mean - half) * 1000) / 1000, math.ceil((mean + half) * 1000) / 1000


def summarize(accuracies: list[float]) -> dict:
    """n, mean, sample std, min, max and the derived band of a list of test accuracies."""
    low, high = derive_band(accuracies)
    return {
        "n": len(accuracies),
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies),
        "min": min(accuracies),
        "max": max(accuracies),
        "band": [low, high],
    }


def check_seed_count(count: int) -> None:
    """ConfigError unless there are enough seeds to estimate a spread."""
    if count < 2:
        raise ConfigError(f"a sweep needs at least 2 seeds to estimate a spread, got {count}; pass --seeds 8 or more")


def run(cfg: Config, raw: RawMnist, *, seeds: Iterable[int], progress: Callable[[str], None] = lambda _: None) -> dict:
    """Train cfg once per seed; return per-seed accuracies, fingerprints and their summary."""
    seeds = list(seeds)
    check_seed_count(len(seeds))
    runs = []
    for seed in seeds:
        result = run_walkthrough(dataclasses.replace(cfg, seed=seed), raw)
        runs.append(
            {
                "seed": seed,
                "test_accuracy": result.evaluate["accuracy"],
                "test_loss": result.evaluate["loss"],
                "fingerprint": result.fingerprint,
                "fit_s": result.timings_s["fit"],
            }
        )
        progress(f"seed {seed}: test accuracy {result.evaluate['accuracy']:.4f} (fit {result.timings_s['fit']:.1f} s)")
    return {
        "schema": SWEEP_SCHEMA,
        "config": {**cfg.to_dict(), "seed": None},
        "backend": framework.backend(),
        "data_source": raw.source,
        "runs": runs,
        "summary": summarize([r["test_accuracy"] for r in runs]),
    }


def default_path(cfg: Config) -> Path:
    """results/seed-sweep/bs<batch>-<backend>-<mode>.json"""
    return DEFAULT_DIR / f"bs{cfg.batch_size}-{framework.backend()}-{cfg.mode}.json"
