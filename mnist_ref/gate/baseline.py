"""The committed baseline the regression gate compares against by default, and how it is refreshed."""

from __future__ import annotations

from pathlib import Path

from mnist_ref.gate import compare
from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.store.files import PATHS, BenchFile, case_label, case_order, cells, expand, load_bench
from mnist_ref.store.measures import Measure

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
        raise ReportError(
            f"{path}: no bench JSON files in this folder; write one with `{BENCH_COMMAND.format(path='FILE')}`"
        )
    return [load_bench(p, allow_partial=allow_partial) for p in paths]


def problems(new: BenchFile) -> list[str]:
    """Why a bench file cannot be a baseline, in words (none: it can): a baseline that was partial, interrupted,
    injected with extra work or sleep, empty, counted rather than timed, measured on a busy machine, or incorrect
    itself would let the regressions it is there to catch pass."""
    session = new.session
    found = []
    if session.partial or session.outcome != "complete" or session.not_completed:
        found.append(
            f"its session did not complete (outcome {session.outcome!r}, partial {session.partial}); "
            "a baseline must come from a complete session: rerun the bench"
        )
    injected = session.injections.active()
    if injected:
        found.append(
            f"it was made with {', '.join(injected)} (a test of the gate, not this stack's speed); rerun without "
            "--bench-inject-*"
        )
    if not new.benchmarks:
        found.append("it holds no benchmarks")
    if new.measure is not Measure.TIME:
        found.append(
            f"it measures {new.measure} over a bounded workload; the committed baseline is the timed smoke bench "
            "(--bench-measure time), which also judges accuracy. Compare such runs with `mnist-ref ab` or "
            "`mnist-ref compare A.json B.json`"
        )
    if session.contention.contended:
        found.append(
            f"it was measured on a busy machine ({session.contention.describe()}); rerun the bench when the machine is "
            "quiet"
        )
    failed = [f for f in compare.oracle_findings([new]) if f.failed]
    failed += [f for key, paths in cells([new]).items() for f in compare.own_findings(key, [paths]) if f.failed]
    found += [f"{case_label(f.key)}: {f.what}" for f in failed]
    return found


def dropped(old: list[BenchFile], new: BenchFile) -> list[str]:
    """The case and hot path pairs the current baseline measures and the new one does not ('tensorflow cpu:0 bs32
    tuned: evaluate'): what the gate would stop checking."""
    have = {(key, path) for key, paths in cells([new]).items() for path in paths}
    gone = {(key, path) for key, paths in cells(old).items() for path in paths} - have
    return [
        f"{key.label}: {path}" for key, path in sorted(gone, key=lambda kp: (case_order(kp[0]), PATHS.index(kp[1])))
    ]


def load_new(path: Path) -> BenchFile:
    """The one complete bench file that is to become the baseline; ReportError with every problem otherwise (a partial
    run is never a baseline, so the error does not offer --allow-partial)."""
    if Path(path).is_dir():
        raise ReportError(
            f"{path}: a folder; the baseline is one bench JSON file (`{BENCH_COMMAND.format(path='FILE')}`)"
        )
    bench_file = load_bench(path, allow_partial=True)
    found = problems(bench_file)
    if found:
        raise ReportError(f"{path}: not a baseline: " + "; ".join(found))
    return bench_file


def refresh_command(new: Path | None) -> str:
    """The exact commands that make a fresh run (or the given one) the baseline."""
    if new is not None:
        return f"mnist-ref baseline {new}"
    path = "/tmp/mnist-ref-baseline.json"
    return f"{BENCH_COMMAND.format(path=path)}\nmnist-ref baseline {path}"


def check_narrower(old: list[BenchFile] | None, new: BenchFile, *, allow: bool = False) -> list[str]:
    """What the new baseline drops of the current one (dropped); ReportError when it drops anything, unless allow."""
    gone = dropped(old, new) if old else []
    if gone and not allow:
        raise ReportError(
            f"{new.path}: measures less than the current baseline, which the gate would stop checking: "
            f"{', '.join(gone)}; run the same selection ({BENCH_COMMAND.format(path='FILE')}), or pass "
            "--allow-narrower to drop them"
        )
    return gone


def check_others(folder: Path, target: Path) -> None:
    """ReportError when the folder holds another bench file that is not timed: every later `compare` against the folder
    would mix measures and refuse (exit 2), so the baseline is not replaced."""
    for path in expand([folder]) if Path(folder).is_dir() else []:
        if path.resolve() == Path(target).resolve():
            continue
        other = load_bench(path, allow_partial=True)
        if other.measure is not Measure.TIME:
            raise ReportError(
                f"{folder} also holds {path.name}, which measures {other.measure}: a baseline folder holds timed "
                "runs only (compare would refuse the mix); move that file, or name another folder with --dir"
            )


def replace(folder: Path, new: Path, *, allow_narrower: bool = False) -> Path:
    """Make a new run the baseline (atomically); ReportError when it is no baseline (problems) or, unless
    allow_narrower, measures less than the current one (check_narrower)."""
    candidate = load_new(new)
    target = folder / BASELINE_NAME
    check_others(folder, target)
    check_narrower(load_side(folder) if present(folder) else None, candidate, allow=allow_narrower)
    atomic.write_bytes(target, Path(new).read_bytes())
    return target
