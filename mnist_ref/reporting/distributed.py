"""results/distributed.md: data-parallel training against one device: samples/s, speed-up, scaling efficiency."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_EPOCHS
from mnist_ref.reporting.bench import header_lines
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store.files import BenchFile, round_times

HEADERS = ["backend", "device", "mode", "batch", "replicas", "strategy", "fit samples/s", "epoch (s), median [min, max]",
           "speed-up", "efficiency T1/(N*TN)", "test accuracy", "in band"]


def _fit_runs(files: list[BenchFile]) -> dict[tuple, dict[int, dict]]:
    """(backend, first device, batch, mode) -> replicas -> the fit benchmark (later files win)."""
    out: dict[tuple, dict[int, dict]] = {}
    for bench_file in files:
        for bench in bench_file.benchmarks:
            info = bench["extra_info"]
            if info["path"] == "fit":
                key = (info["backend"], info["device"], int(info["batch_size"]), info["mode"])
                out.setdefault(key, {})[int(info.get("replicas", 1))] = bench
    return out


def _row(key: tuple, replicas: int, bench: dict, single: dict | None) -> list[str]:
    backend, device, batch, mode = key
    info = bench["extra_info"]
    times = round_times(bench)
    median = bench["stats"]["median"]
    one = single["stats"]["median"] if single else None
    speedup = one / median if one else None
    return [
        backend, device, mode, str(batch), str(replicas), info.get("strategy", "single device"),
        fmt(info.get("samples_per_s"), "rate"),
        f"{fmt(median, 's')} [{fmt(min(times), 's')}, {fmt(max(times), 's')}]" if times else "",
        fmt(speedup, "x"), fmt(None if speedup is None else 100 * speedup / replicas, "pct"),
        accuracy_cell(info.get("test_accuracy"), diverged=bool(info.get("diverged"))),
        fmt(info.get("in_band"), "verdict"),
    ]


def render(files: list[BenchFile], *, command: str) -> str:
    """One row per case and replica count; speed-up and efficiency against the same case on one device."""
    runs = _fit_runs(files)
    rows = [_row(key, n, by_replicas[n], by_replicas.get(1))
            for key, by_replicas in sorted(runs.items()) for n in sorted(by_replicas)]
    lines = header_lines("Data-parallel training", files, command=command)
    lines += [
        "",
        f"Each row trains the book's model for {BOOK_EPOCHS} epochs at the global batch size shown, split over the replicas "
        "(`pytest bench/ --bench-replicas N`); an epoch is one timed round, the first is the warm-up. Speed-up is "
        "the one-device median epoch over this one, efficiency that divided by the replicas: T1 / (N * TN). "
        "Replicas on a CPU are logical devices of the same cores (TensorFlow) or host devices of one process "
        "(JAX): they share the machine's cores, so no speed-up is expected there; the same command on a "
        "machine with several GPUs fills the table for real devices.",
        "",
        table(rows, HEADERS, label_columns=3),
        "",
        "Each file above is one bench session; rows with different replicas come from different sessions, run one "
        "after another, so compare them knowing that (the [min, max] of the rounds shows each session's spread).",
        "",
    ]
    not_run = [s for f in files for s in f.meta.get("skipped", []) if int(s.get("replicas", 1)) > 1]
    if not_run:
        lines += ["Not run:", ""]
        lines += [f"- {s['backend']}, {s['mode']} mode, batch {s['batch_size']}, {s['replicas']} replicas: {s['reason']}" for s in not_run]
        lines.append("")
    return "\n".join(lines)
