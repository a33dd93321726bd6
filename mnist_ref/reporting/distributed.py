"""results/distributed.md: data-parallel training against one device: samples/s, speed-up, scaling efficiency."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_EPOCHS
from mnist_ref.reporting.bench import provenance_lines
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store.files import BenchFile
from mnist_ref.store.measured import Measured

SPEED_HEADERS = [
    "case",
    "mode",
    "batch",
    "replicas",
    "fit samples/s",
    "epoch (s), median [min, max]",
    "speed-up",
    "efficiency T1/(N*TN)",
]
SETUP_HEADERS = ["case", "mode", "batch", "replicas", "strategy", "test accuracy", "in band"]


def _fit_runs(files: list[BenchFile]) -> dict[tuple, dict[int, Measured]]:
    """(backend, first device, batch, mode) -> replicas -> the fit measured (later files win)."""
    out: dict[tuple, dict[int, Measured]] = {}
    for bench_file in files:
        for measured in bench_file.measured:
            info = measured.info
            if measured.path == "fit":
                key = (info.backend, info.device, int(info.batch_size), info.mode)
                out.setdefault(key, {})[int(info.replicas)] = measured
    return out


def _speed_row(key: tuple, replicas: int, fit: Measured, single: Measured | None) -> list[str]:
    backend, device, batch, mode = key
    times, median = fit.rounds, fit.median
    speedup = single.median / median if single else None
    return [
        f"{backend} {device}",
        mode,
        str(batch),
        str(replicas),
        fmt(fit.info.samples_per_s, "rate"),
        f"{fmt(median, 's')} [{fmt(min(times), 's')}, {fmt(max(times), 's')}]" if times else "",
        fmt(speedup, "x"),
        fmt(None if speedup is None else 100 * speedup / replicas, "pct"),
    ]


def _setup_row(key: tuple, replicas: int, fit: Measured) -> list[str]:
    backend, device, batch, mode = key
    info = fit.info
    return [
        f"{backend} {device}",
        mode,
        str(batch),
        str(replicas),
        info.strategy or "single device",
        accuracy_cell(info.test_accuracy, diverged=bool(info.diverged)),
        fmt(info.in_band, "verdict"),
    ]


def headline(runs: dict[tuple, dict[int, Measured]], files: list[BenchFile]) -> str:
    """Each backend's speed-up on the most replicas it ran, and whether every run landed in its band."""
    parts = []
    for (backend, _device, batch, mode), by_replicas in sorted(runs.items()):
        most = max(by_replicas)
        if most > 1 and 1 in by_replicas:
            speedup = by_replicas[1].median / by_replicas[most].median
            parts.append(f"{backend} ({mode}, batch {batch}) {fmt(speedup, 'x')} on {most} replicas")
    bands = [b.info.in_band for by in runs.values() for b in by.values()]
    landed = f"{sum(bool(b) for b in bands)} of {len(bands)} runs inside their accuracy band"
    if not parts:
        return f"No case ran on both one device and several replicas here; {landed}."
    machine = files[0].provenance.machine
    return f"**On {machine}, data-parallel training against one device:** {'; '.join(parts)}; {landed}."


def render(files: list[BenchFile], *, command: str) -> str:
    """One row per case and replica count; speed-up and efficiency against the same case on one device."""
    runs = _fit_runs(files)
    ordered = [(key, n, by_replicas) for key, by_replicas in sorted(runs.items()) for n in sorted(by_replicas)]
    speed = [_speed_row(key, n, by[n], by.get(1)) for key, n, by in ordered]
    setup = [_setup_row(key, n, by[n]) for key, n, by in ordered]
    lines = ["# Data-parallel training", "", headline(runs, files), ""]
    lines += [
        f"Each row trains the book's model for {BOOK_EPOCHS} epochs at the global batch size shown, split over the "
        "replicas (`pytest bench/ --bench-replicas N`); an epoch is one timed round, the first is the warm-up. "
        "Speed-up is the one-device median epoch over this one, efficiency that divided by the replicas: T1 / (N * "
        "TN). Replicas on a CPU are logical devices of the same cores (TensorFlow) or host devices of one process "
        "(JAX): they share the machine's cores, so no speed-up is expected there; the same command on a machine with "
        "several GPUs fills the table for real devices.",
        "",
        "## Speed",
        "",
        table(speed, SPEED_HEADERS, label_columns=2),
        "",
        "## Set-up and correctness",
        "",
        table(setup, SETUP_HEADERS, label_columns=2),
        "",
        "Each file above is one bench session; rows with different replicas come from different sessions, run one "
        "after another, so compare them knowing that (the [min, max] of the rounds shows each session's spread).",
        "",
    ]
    not_run = [s for f in files for s in f.session.skipped if int(s.get("replicas", 1)) > 1]
    if not_run:
        lines += ["Not run:", ""]
        lines += [
            f"- {s['backend']}, {s['mode']} mode, batch {s['batch_size']}, {s['replicas']} replicas: {s['reason']}"
            for s in not_run
        ]
        lines.append("")
    return "\n".join([*lines, *provenance_lines(files, command=command)])
