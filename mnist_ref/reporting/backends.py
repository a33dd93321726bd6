"""results/backends.md: Keras 3 backends x devices x batch sizes, with fingerprint stability across runs."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_EPOCHS, DEFAULT_SEED
from mnist_ref.reporting.bench import cpu_gpu_section, header_lines, ordered_rows
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store.files import BenchFile, CaseKey, cells

HEADERS = [
    "backend", "device", "mode", "batch", "fit samples/s", "evaluate samples/s", "predict 10k (ms)",
    "test accuracy", "band", "in band", "fingerprint", "same weights in every run",
]


def _measured_row(key: CaseKey, runs: list[dict[str, dict]]) -> list[str]:
    backend, device, batch, mode = key
    first = runs[0]
    fit = first.get("fit", {}).get("extra_info", {})
    prints = [r["fit"]["extra_info"].get("fingerprint") for r in runs if "fit" in r]
    stable = "" if len(prints) < 2 or None in prints else fmt(len(set(prints)) == 1, "verdict")
    band = fit.get("band")
    return [
        backend, device, mode, str(batch),
        fmt(fit.get("samples_per_s"), "rate"),
        fmt(first.get("evaluate", {}).get("extra_info", {}).get("samples_per_s"), "rate"),
        fmt(first["predict"]["stats"]["median"], "ms") if "predict" in first else "",
        accuracy_cell(fit.get("test_accuracy"), diverged=bool(fit.get("diverged"))),
        fmt(band, "band") or "no baseline",
        fmt(fit.get("in_band"), "verdict"),
        (fit.get("fingerprint") or "")[:12],
        f"{stable} ({len(prints)} runs)" if stable else "one run",
    ]


def _skipped_label(reason: str) -> str:
    """'not measured' for an absent device (no GPU here); other reasons in full."""
    return "not measured: no such device here" if reason.startswith("not present") else reason


def backends_table(files: list[BenchFile]) -> str:
    """One row per case; repeated runs of a case (several files) judge fingerprint stability."""
    per_file = [cells([f]) for f in files]
    keys = {k for measured in per_file for k in measured}
    measured_rows = {k: _measured_row(k, [m[k] for m in per_file if k in m]) for k in keys}
    rows = ordered_rows(measured_rows, files, width=len(HEADERS), label=_skipped_label)
    return table(rows, HEADERS, label_columns=3)


def render(files: list[BenchFile], *, command: str) -> str:
    """The backends report: where each run was measured, the table, and the CPU/GPU crossover."""
    lines = header_lines("Keras 3 backends", files, command=command)
    lines += [
        "",
        "Each backend ran in its own process (`pytest bench/ --bench-backend NAME`), twice; throughput is from "
        "the first run (medians), and the fingerprint column compares the final weights of every run of the "
        f"same case. Accuracy: the book's {BOOK_EPOCHS} epochs with seed {DEFAULT_SEED}, judged against the batch size's band.",
        "",
        backends_table(files),
        *cpu_gpu_section(files),
    ]
    return "\n".join(lines)
