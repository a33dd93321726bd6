"""Which pages a report writes, rendered together so that they are written all or none (atomic.write_many)."""

from __future__ import annotations

from pathlib import Path

from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.reporting import backends, bench, distributed, history, index, plots, sweeps, versions
from mnist_ref.store import files
from mnist_ref.store.measures import Measure


def load_inputs(arguments: list[Path], *, allow_partial: bool) -> list:
    """Bench files and sweeps from files and folders; ReportError when nothing usable is there."""
    paths = files.expand(arguments)
    if not paths:
        partial = [p for a in arguments if Path(a).is_dir() for p in files.partial_files(a)]
        hint = f" ({len(partial)} partial file(s) left out: pass them by name with --allow-partial)" if partial else ""
        raise ReportError(
            f"{', '.join(map(str, arguments))}: no bench or sweep JSON files to report on{hint}; write one with "
            "`pytest bench/ --benchmark-only --benchmark-json=FILE` or `mnist-ref sweep`"
        )
    return [files.load(path, allow_partial=allow_partial) for path in paths]


def report_pages(loaded: list, out_dir: Path, *, name: str, kind: str, command: str) -> dict[Path, bytes]:
    """Every page of `mnist-ref report`: kind is bench, backends, distributed or history; the index last, listing
    them."""
    benches = [f for f in loaded if isinstance(f, files.BenchFile)]
    sweep_docs = [f for f in loaded if not isinstance(f, files.BenchFile)]
    index.check_page_name(name)
    check_one_timed_measure(benches)
    pages: list[tuple[Path, bytes]] = []
    if benches and kind == "history":
        pages.append((out_dir / "history.md", atomic.encode(history.render(benches, command=command))))
        pages.append((out_dir / "history.png", history.plot(benches)))
    elif benches and kind == "backends":
        pages.append((out_dir / "backends.md", atomic.encode(backends.render(benches, command=command))))
    elif benches and kind == "distributed":
        pages.append((out_dir / "distributed.md", atomic.encode(distributed.render(benches, command=command))))
    elif benches:
        pages.append((out_dir / f"{name}.md", atomic.encode(bench.render_bench(benches, command=command))))
        timed = [f for f in benches if f.measure is Measure.TIME]  # the plots show seconds and full trainings
        if timed:
            pages.append((out_dir / f"{name}-throughput.png", plots.throughput(timed)))
            pages.append((out_dir / f"{name}-training.png", plots.training_curves(timed)))
    if sweep_docs:
        pages.append((out_dir / "seed-sweep.md", atomic.encode(sweeps.render_sweeps(sweep_docs, command=command))))
    return index.with_index(pages)


def check_one_timed_measure(benches: list) -> None:
    """ReportError when the files time different things: full trainings (time) and bounded rounds of 300 steps (steps)
    would be gathered as processes of one case and their medians set side by side. Counted files have tables of
    their own and go with either."""
    timed = sorted({f.measure for f in benches if not f.measure.counted})
    if len(timed) > 1:
        by = {m: [f.path.name for f in benches if f.measure == m][:3] for m in timed}
        raise ReportError(
            "these files time different things ("
            + "; ".join(f"{m}: {', '.join(n)}" for m, n in by.items())
            + "): a full epoch and a bounded round are not one case's processes; report each measure on its own"
        )


def versions_pages(
    results_dir: Path, envs: list[str], out: Path, *, allow_partial: bool, study: Path | None = None
) -> dict[Path, bytes]:
    """The cross-version table and the index beside it; ReportError when no env left results."""
    if not Path(results_dir).is_dir():
        raise ReportError(f"{results_dir}: no such folder; run `tox -p` first (it writes one folder per env there)")
    index.with_index([(out, b"")])  # a name it may not have is refused before anything is read
    text = versions.render(results_dir, envs, allow_partial=allow_partial, study=study)
    return index.with_index([(out, atomic.encode(text))])
