"""results/backends.md: Keras 3 backends x devices x batch sizes, with fingerprint stability across runs."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_BATCH_SIZE, BOOK_EPOCHS, DEFAULT_SEED
from mnist_ref.reporting.bench import (
    case_columns,
    cpu_gpu_section,
    measured_cases,
    not_measured_lines,
    provenance_lines,
)
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store.files import BenchFile, CaseKey
from mnist_ref.store.measured import Measured, Runs

SPEED_HEADERS = ["case", "mode", "batch", "fit samples/s", "evaluate samples/s", "predict 10k (ms)"]
CORRECTNESS_HEADERS = [
    "case",
    "mode",
    "batch",
    "test accuracy",
    "band",
    "in band",
    "fingerprint",
    "same weights in every run",
]


def _rate(run: dict[str, Measured], path: str) -> str:
    return fmt(run[path].info.samples_per_s, "rate") if path in run else ""


def _speed_row(key: CaseKey, runs: Runs) -> list[str]:
    first = runs[0]
    return [
        *case_columns(key),
        _rate(first, "fit"),
        _rate(first, "evaluate"),
        fmt(first["predict"].median, "ms") if "predict" in first else "",
    ]


def _stable(runs: Runs) -> str:
    prints = [r["fit"].info.fingerprint for r in runs if "fit" in r]
    stable = "" if len(prints) < 2 or None in prints else fmt(len(set(prints)) == 1, "verdict")
    return f"{stable} ({len(prints)} runs)" if stable else "one run"


def _correctness_row(key: CaseKey, runs: Runs) -> list[str]:
    fit = runs[0]["fit"].info if "fit" in runs[0] else None
    return [
        *case_columns(key),
        accuracy_cell(fit and fit.test_accuracy, diverged=bool(fit and fit.diverged)),
        fmt(fit and fit.band, "band") or "no band",
        fmt(fit and fit.in_band, "verdict"),
        f"`{fit.fingerprint[:12]}`" if fit and fit.fingerprint else "",
        _stable(runs),
    ]


def _runs(files: list[BenchFile]) -> dict[CaseKey, Runs]:
    """case -> its runs, one per file that measured it, in file order (bench.measured_cases)."""
    return {case.key: case.runs for case in measured_cases(files)}


def headline(files: list[BenchFile]) -> str:
    """The book's case on each backend: speed, accuracy, whether its weights repeat."""
    runs = _runs(files)
    book = {
        k: r
        for k, r in runs.items()
        if k.mode == "book" and k.batch_size == BOOK_BATCH_SIZE and k.device == "cpu:0" and "fit" in r[0]
    }
    if not book:
        return "No file here measured the book's configuration (cpu:0, book mode, batch 32) on any backend."
    parts = []
    for key, case_runs in book.items():
        info = case_runs[0]["fit"].info
        repeat = _stable(case_runs)
        parts.append(
            f"{key.backend} {fmt(info.samples_per_s, 'rate')} samples/s, accuracy "
            f"{accuracy_cell(info.test_accuracy, diverged=bool(info.diverged))} "
            f"({'in' if info.in_band else 'OUTSIDE'} band; same weights in every run: {repeat})"
        )
    machine = files[0].provenance.machine
    return (
        f"**On {machine}, the book's model on the CPU at batch {BOOK_BATCH_SIZE} (book mode) trains at:** "
        + "; ".join(parts)
        + "."
    )


def render(files: list[BenchFile], *, command: str) -> str:
    """The backends report: a headline, speed and correctness tables, the CPU/GPU crossover, then where each run was
    measured."""
    runs = _runs(files)
    missing = not_measured_lines(files)
    lines = ["# Keras 3 backends", "", headline(files), ""]
    lines += [
        "Each backend ran in its own process (`pytest bench/ --bench-backend NAME`), twice; speed is from the first "
        "run (medians), and the last column compares the final weights of every run of the same case.",
        "",
        "## Speed",
        "",
        table([_speed_row(k, r) for k, r in runs.items()], SPEED_HEADERS, label_columns=2),
        "",
        "## Correctness",
        "",
        f"Test accuracy after the book's {BOOK_EPOCHS} epochs with seed {DEFAULT_SEED}, judged against the batch "
        "size's band.",
        "",
        table([_correctness_row(k, r) for k, r in runs.items()], CORRECTNESS_HEADERS, label_columns=3),
        "",
        *(["Not measured:", "", *missing, ""] if missing else []),
        *cpu_gpu_section(files),
        *provenance_lines(files, command=command),
    ]
    return "\n".join(lines)
