"""The committed baseline the regression gate compares against by default, and how it is refreshed."""

from __future__ import annotations

from pathlib import Path

from mnist_ref.measure import contention
from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.store.files import BenchFile, check_complete, expand, load_bench

# results/baseline/ of the checkout this package runs from (an editable install), else of the working directory.
_CHECKOUT_BASELINE = CHECKOUT / "results" / "baseline"
BASELINE_NAME = "cpu-tensorflow-smoke.json"
# How the committed baseline is made: the smoke bench (batch 32, book and tuned modes) on the CPU.
BENCH_COMMAND = "pytest bench/ --benchmark-only --bench-smoke --bench-devices cpu --benchmark-json={path}"


def default_dir() -> Path:
    """results/baseline of this checkout when it exists, else ./results/baseline."""
    return _CHECKOUT_BASELINE if _CHECKOUT_BASELINE.is_dir() else Path("results") / "baseline"


def present(folder: Path) -> bool:
    """Whether folder holds at least one baseline file."""
    return bool(folder.is_dir() and expand([folder]))


def load_side(path: Path, *, allow_partial: bool = False) -> list[BenchFile]:
    """The bench files of one side of a comparison: a file, or every complete *.json in a folder."""
    paths = expand([path])
    if not paths:
        raise ReportError(f"{path}: no bench JSON files in this folder; write one with `{BENCH_COMMAND.format(path='FILE')}`")
    return [load_bench(p, allow_partial=allow_partial) for p in paths]


def load_new(path: Path) -> BenchFile:
    """The one complete bench file that is to become the baseline; ReportError otherwise (a partial run is
    never a baseline, so the error does not offer --allow-partial)."""
    if Path(path).is_dir():
        raise ReportError(f"{path}: a folder; the baseline is one bench JSON file (`{BENCH_COMMAND.format(path='FILE')}`)")
    bench_file = load_bench(path, allow_partial=True)
    check_complete(bench_file, hint="a baseline must come from a complete session: rerun the bench")
    if bench_file.measure != "time":
        raise ReportError(f"{path}: counts {bench_file.measure}; the committed baseline is the timed smoke bench, which also "
                          "judges accuracy. Compare counted runs with `mnist-ref ab` or `mnist-ref compare A.json B.json`")
    record = bench_file.meta.get("contention")
    if contention.is_contended(record):
        raise ReportError(f"{path}: measured on a busy machine ({contention.describe(record)}); a baseline must be steady: "
                          "rerun the bench when the machine is quiet")
    return bench_file


def refresh_command(new: Path | None) -> str:
    """The exact commands that make a fresh run (or the given one) the baseline."""
    if new is not None:
        return f"mnist-ref baseline {new}"
    path = "/tmp/mnist-ref-baseline.json"
    return f"{BENCH_COMMAND.format(path=path)}\nmnist-ref baseline {path}"


def replace(folder: Path, new: Path) -> Path:
    """Copy a new run into the baseline folder (atomically), replacing the baseline file there."""
    load_new(new)  # a complete, valid bench file, or ReportError
    target = folder / BASELINE_NAME
    atomic.write_bytes(target, Path(new).read_bytes())
    return target


