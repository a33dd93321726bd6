"""Multi-seed measurement of the book configuration's test accuracy, from which the bands derive.

A sweep is a grid of cells (one configuration on one backend, each with its own output file) times seeds.
Each (cell, seed) job is independent; an executor runs them, here one after another (serial) or as Dask
tasks (mnist_ref.scale.cluster), and hands back each seed's record as it finishes. Whatever ran it, a seed's record
is the same: the weights are deterministic per seed on one machine.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from mnist_ref.core import book, framework
from mnist_ref.core.config import Config
from mnist_ref.core.dataset import RawMnist
from mnist_ref.core.environment import capture
from mnist_ref.core.walkthrough import run as run_walkthrough
from mnist_ref.plumbing import atomic, interrupts
from mnist_ref.plumbing.errors import ConfigError, MnistRefError
from mnist_ref.scale import data_parallel
from mnist_ref.store.files import SWEEP_SCHEMA, load_json, partial_path, seed_status, write_document
from mnist_ref.store.record import finite

DEFAULT_DIR = Path("results") / "seed-sweep"


@dataclasses.dataclass(frozen=True)
class Cell:
    """One configuration of a sweep grid (its seed field unused) on one backend, and the file it goes to."""

    cfg: Config
    backend: str
    out: Path

    def describe(self) -> str:
        """'tensorflow, batch 32, book mode' (', 2 replicas' when data-parallel)"""
        replicas = f", {self.cfg.replicas} replicas" if self.cfg.replicas > 1 else ""
        return f"{self.backend}, batch {self.cfg.batch_size}, {self.cfg.mode} mode{replicas}"


Job = tuple[Cell, int]


class Executor(Protocol):
    """Runs jobs, in any order, yielding (cell, seed, record) as each finishes."""

    def __call__(self, jobs: list[Job]) -> Iterator[tuple[Cell, int, dict]]: ...

    def check(self, cells: list[Cell]) -> None:
        """ConfigError where these cells cannot run here, before anything starts."""

    def environment(self, backend: str) -> dict:
        """The environment capture of where the seeds of backend trained."""


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


def header(cell: Cell, raw: RawMnist) -> dict:
    """What identifies a sweep: schema, configuration (without the seed), backend and data source."""
    return {
        "schema": SWEEP_SCHEMA,
        "config": {**cell.cfg.to_dict(), "seed": None},
        "backend": cell.backend,
        "data_source": raw.source,
    }


def train_seed(cfg: Config, raw: RawMnist, seed: int) -> dict:
    """One seed's record: status (ok / diverged), test accuracy and loss, weight fingerprint, fit seconds."""
    interrupts.stage(f"seed-{seed}")
    placement = data_parallel.placement(framework.backend(), data_parallel.layout(cfg))
    result = run_walkthrough(dataclasses.replace(cfg, seed=seed), raw, placement=placement)
    record = finite(
        {
            "seed": seed,
            "test_accuracy": result.evaluate["accuracy"],
            "test_loss": result.evaluate["loss"],
            "fingerprint": result.fingerprint,
            "fit_s": result.timings_s["fit"],
        }
    )
    return {**record, "status": "diverged" if record["test_accuracy"] is None else "ok"}


def failed(seed: int, exc: BaseException | str) -> dict:
    """The record of a seed that could not be trained (out of memory, its worker lost too often, ...)."""
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return {"seed": seed, "status": "failed", "reason": reason}


class Serial:
    """The executor that trains every job in this process, in order; one backend only (Keras loads one per process)."""

    def __init__(self, raw: RawMnist):
        self.raw = raw

    def __call__(self, jobs: list[Job]) -> Iterator[tuple[Cell, int, dict]]:
        for cell, seed in jobs:
            data_parallel.select(cell.backend, cell.cfg)
            try:
                record = train_seed(cell.cfg, self.raw, seed)
            except MnistRefError:
                raise
            except (
                Exception
            ) as exc:  # a real failure of this seed (MemoryError, a framework error): recorded, not retried
                record = failed(seed, exc)
            yield cell, seed, record

    def check(self, cells: list[Cell]) -> None:
        """ConfigError for a grid over several backends, which needs worker processes."""
        backends = sorted({cell.backend for cell in cells})
        if len(backends) > 1:
            raise ConfigError(
                f"a serial sweep runs one backend (Keras loads one per process), got {', '.join(backends)}; "
                "add --jobs 2 to run them in worker processes, or sweep one backend per call"
            )

    def environment(self, backend: str) -> dict:
        """The environment the seeds of backend trained in: this process."""
        framework.select_backend(backend)
        return capture()


def checkpoint_path(out: Path) -> Path:
    """Where completed seeds are kept while a sweep runs: NAME.partial.json beside NAME.json."""
    return partial_path(out)


def kept_checkpoints(cells: list[Cell]) -> list[Path]:
    """The checkpoints of cells that hold completed seeds now (what an interrupted sweep leaves to resume from)."""
    return [checkpoint_path(c.out) for c in cells if checkpoint_path(c.out).exists()]


def publish(outcomes: list[Outcome]) -> Iterator[tuple[Outcome, Path]]:
    """Write each outcome that has a document to its file (atomically), then drop its checkpoint; yields each
    outcome with the path written. Outcomes without a document (too few seeds) keep their checkpoints."""
    for outcome in outcomes:
        if outcome.document is None:
            continue
        path = write_document(outcome.cell.out, outcome.document, "sweep")
        checkpoint_path(outcome.cell.out).unlink(missing_ok=True)
        yield outcome, path


def completed_seeds(checkpoint: Path, expected: dict) -> dict[int, dict]:
    """Seeds an interrupted sweep of the same configuration finished; ConfigError if the file is another sweep's."""
    if not checkpoint.is_file():
        return {}
    document = load_json(checkpoint)
    if {k: document.get(k) for k in expected} != expected:
        raise ConfigError(
            f"{checkpoint}: an unfinished sweep of another configuration, backend or data; "
            "delete it, or pass --fresh to start over"
        )
    return {r["seed"]: r for r in document.get("runs", [])}


def duration(seconds: float) -> str:
    """'42s', '3m05s', '1h02m'"""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """'[3/12 seeds, 1m05s elapsed, ~4m20s left] ...' lines, the time left extrapolated from this session's seeds."""

    def __init__(self, total: int, emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.emit, self.clock = total, 0, emit, clock
        self.start = clock()

    def step(self, message: str) -> None:
        self.done += 1
        elapsed = self.clock() - self.start
        left = elapsed / self.done * (self.total - self.done)
        self.emit(f"[{self.done}/{self.total} seeds, {duration(elapsed)} elapsed, ~{duration(left)} left] {message}")


def _describe_seed(cell: Cell, record: dict) -> str:
    status = seed_status(record)
    if status == "ok":
        return (
            f"{cell.describe()}, seed {record['seed']}: test accuracy {record['test_accuracy']:.4f} "
            f"(fit {record['fit_s']:.1f} s)"
        )
    return f"{cell.describe()}, seed {record['seed']}: {status}" + (
        f" ({record['reason']})" if status == "failed" else ""
    )


@dataclasses.dataclass
class Outcome:
    """A finished cell: its document, or why it has too few seeds for a band."""

    cell: Cell
    document: dict | None
    error: str | None = None


def run(
    cells: list[Cell],
    raw: RawMnist,
    *,
    seeds: Iterable[int],
    execute: Executor,
    progress: Callable[[str], None] = lambda _: None,
    resume: bool = True,
) -> list[Outcome]:
    """Train every cell once per seed; per cell, the per-seed records and their summary.

    Each finished seed is saved at once in its cell's checkpoint (NAME.partial.json); with resume, seeds that an
    interrupted sweep of the same configuration saved there are taken as they are (they are deterministic per
    seed). Failed seeds are recorded with their reason and left out of the summary, which says how many seeds
    it rests on; they are not saved in the checkpoint, so a rerun tries them again.
    """
    seeds = list(seeds)
    check_seed_count(len(seeds))
    execute.check(cells)
    heads = {cell: header(cell, raw) for cell in cells}
    done = _resumed(heads, progress) if resume else {cell: {} for cell in cells}
    failures: dict[Cell, dict[int, dict]] = {cell: {} for cell in cells}
    jobs = [(cell, seed) for cell in cells for seed in seeds if seed not in done[cell]]
    tracker = Progress(len(jobs), progress)
    for cell, seed, record in execute(jobs):
        if seed_status(record) == "failed":
            failures[cell][seed] = record
        else:
            done[cell][seed] = record
            atomic.write_json(
                checkpoint_path(cell.out), {**heads[cell], "runs": [done[cell][s] for s in sorted(done[cell])]}
            )
        tracker.step(_describe_seed(cell, record))
    environments = {backend: execute.environment(backend) for backend in dict.fromkeys(cell.backend for cell in cells)}
    return [
        _outcome(
            cell,
            {**heads[cell], "environment": environments[cell.backend]},
            [done[cell].get(s) or failures[cell][s] for s in seeds],
        )
        for cell in cells
    ]


def _resumed(heads: dict[Cell, dict], progress: Callable[[str], None]) -> dict[Cell, dict[int, dict]]:
    """Per cell, the seeds an interrupted sweep of the same configuration saved in its checkpoint, each said."""
    done = {cell: completed_seeds(checkpoint_path(cell.out), head) for cell, head in heads.items()}
    for cell, seeds in done.items():
        if seeds:
            progress(
                f"resuming from {checkpoint_path(cell.out)}: {cell.describe()}, seeds "
                f"{', '.join(map(str, sorted(seeds)))} already done"
            )
    return done


def _outcome(cell: Cell, head: dict, runs: list[dict]) -> Outcome:
    accuracies = [r["test_accuracy"] for r in runs if seed_status(r) == "ok"]
    counts = {status: sum(seed_status(r) == status for r in runs) for status in ("diverged", "failed")}
    if len(accuracies) < 2:
        reasons = sorted({r["reason"] for r in runs if seed_status(r) == "failed"})
        return Outcome(
            cell,
            None,
            f"{cell.describe()}: {len(accuracies)} of {len(runs)} seeds trained, too few for a band"
            + (f" ({'; '.join(reasons)[:300]})" if reasons else ""),
        )
    return Outcome(cell, {**head, "runs": runs, "summary": {**summarize(accuracies), "seeds": len(runs), **counts}})


def summary_line(outcome: Outcome) -> str:
    """'tensorflow, batch 32, book mode: 12 seeds: mean ..., derived band [...]; written to PATH'"""
    summary = outcome.document["summary"]
    rests = f"{summary['n']} seeds"
    if summary["seeds"] != summary["n"]:
        rests += f" of {summary['seeds']} ({summary['diverged']} diverged, {summary['failed']} failed)"
    low, high = summary["band"]
    return (
        f"{outcome.cell.describe()}: {rests}: mean {summary['mean']:.4f}, std {summary['std']:.4f}, min "
        f"{summary['min']:.4f}, max {summary['max']:.4f}; derived band [{low:.3f}, {high:.3f}]; written to "
        f"{outcome.cell.out}"
    )


def grid(
    base: Config,
    *,
    batch_sizes: Iterable[int],
    backends: Iterable[str | None],
    out: Path | None = None,
    out_dir: Path | None = None,
) -> list[Cell]:
    """Every batch size on every backend (None: the default one), each cell with its file: `out` for a
    one-cell sweep, else OUT_DIR/bs<batch>-<backend>-<mode>.json. ConfigError for a cell that cannot run."""
    names = [framework.check_backend(b) for b in dict.fromkeys(backends)]
    cfgs = [dataclasses.replace(base, batch_size=b) for b in dict.fromkeys(batch_sizes)]
    for name in names:
        for cfg in cfgs:
            data_parallel.check(name, data_parallel.Layout.of(cfg), cfg.batch_size, cfg.mode)
    if out and len(cfgs) * len(names) > 1:
        raise ConfigError(
            f"--out names one file, but this sweep has {len(cfgs) * len(names)} configurations; pass --out-dir instead"
        )
    return [Cell(cfg, name, out or default_path(cfg, name, out_dir or DEFAULT_DIR)) for name in names for cfg in cfgs]


def default_path(cfg: Config, backend: str | None = None, directory: Path = DEFAULT_DIR) -> Path:
    """results/seed-sweep/bs<batch>-<backend>-<mode>.json, with -x<replicas> for a data-parallel sweep"""
    replicas = f"-x{cfg.replicas}" if cfg.replicas > 1 else ""
    return directory / f"bs{cfg.batch_size}-{backend or framework.backend()}-{cfg.mode}{replicas}.json"
