"""Multi-seed measurement of the book configuration's test accuracy, from which the bands derive."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

from mnist_ref import atomic, book, framework, interrupts
from mnist_ref.config import Config
from mnist_ref.dataset import RawMnist
from mnist_ref.errors import ConfigError
from mnist_ref.record import finite
from mnist_ref.reporting.files import SWEEP_SCHEMA, load_json
from mnist_ref.walkthrough import run as run_walkthrough

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


def header(cfg: Config, raw: RawMnist) -> dict:
    """What identifies a sweep: schema, configuration (without the seed), backend and data source."""
    return {"schema": SWEEP_SCHEMA, "config": {**cfg.to_dict(), "seed": None}, "backend": framework.backend(), "data_source": raw.source}


def train_seed(cfg: Config, raw: RawMnist, seed: int) -> dict:
    """One seed's record: test accuracy and loss, weight fingerprint, fit seconds."""
    result = run_walkthrough(dataclasses.replace(cfg, seed=seed), raw)
    return finite({
        "seed": seed,
        "test_accuracy": result.evaluate["accuracy"],
        "test_loss": result.evaluate["loss"],
        "fingerprint": result.fingerprint,
        "fit_s": result.timings_s["fit"],
    })


def checkpoint_path(out: Path) -> Path:
    """Where completed seeds are kept while a sweep runs: NAME.partial.json beside NAME.json."""
    return out.with_name(f"{out.stem}.partial.json")


def completed_seeds(checkpoint: Path, expected: dict) -> dict[int, dict]:
    """Seeds an interrupted sweep of the same configuration finished; ConfigError if the file is another sweep's."""
    if not checkpoint.is_file():
        return {}
    document = load_json(checkpoint)
    if {k: document.get(k) for k in expected} != expected:
        raise ConfigError(f"{checkpoint}: an unfinished sweep of another configuration, backend or data; "
                          "delete it, or pass --fresh to start over")
    return {r["seed"]: r for r in document.get("runs", [])}


def run(cfg: Config, raw: RawMnist, *, seeds: Iterable[int], progress: Callable[[str], None] = lambda _: None,
        checkpoint: Path | None = None) -> dict:
    """Train cfg once per seed; return per-seed accuracies, fingerprints and their summary.

    With a checkpoint path, each finished seed is saved there at once, and seeds already saved there by an
    interrupted sweep of the same configuration are taken as they are (they are deterministic per seed).
    """
    seeds = list(seeds)
    check_seed_count(len(seeds))
    head = header(cfg, raw)
    done = completed_seeds(checkpoint, head) if checkpoint else {}
    if done:
        progress(f"resuming from {checkpoint}: seeds {', '.join(map(str, sorted(done)))} already done")
    runs = []
    for seed in seeds:
        if seed not in done:
            interrupts.stage(f"seed-{seed}")
            done[seed] = train_seed(cfg, raw, seed)
            if checkpoint:
                atomic.write_json(checkpoint, {**head, "runs": [done[s] for s in sorted(done)]})
            progress(f"seed {seed}: test accuracy {done[seed]['test_accuracy']:.4f} (fit {done[seed]['fit_s']:.1f} s)")
        runs.append(done[seed])
    accuracies = [r["test_accuracy"] for r in runs if r["test_accuracy"] is not None]
    check_seed_count(len(accuracies))
    return {**head, "runs": runs, "summary": summarize(accuracies)}


def default_path(cfg: Config) -> Path:
    """results/seed-sweep/bs<batch>-<backend>-<mode>.json"""
    return DEFAULT_DIR / f"bs{cfg.batch_size}-{framework.backend()}-{cfg.mode}.json"
