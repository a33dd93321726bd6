"""results/bench.md: the bench matrix per device, batch size and mode, and the CPU/GPU comparison."""

from __future__ import annotations

from mnist_ref.core.config import BOOK_EPOCHS, DEFAULT_SEED
from mnist_ref.core.dataset import TEST_IMAGES, TRAIN_IMAGES
from mnist_ref.measure import contention
from mnist_ref.plumbing.checkout import portable
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store.files import PATHS, BenchFile, CaseKey, case_order, cells, skipped


def _iqr_rate(bench: dict) -> float | None:
    stats, samples = bench["stats"], bench["extra_info"].get("samples_per_round")
    if not samples or not stats.get("q1") or not stats.get("q3"):
        return None
    return samples / stats["q1"] - samples / stats["q3"]


def _label(key: CaseKey) -> list[str]:
    """backend, device, mode, batch: the label columns, the batch size last so it aligns as a number."""
    backend, device, batch, mode = key
    return [backend, device, mode, str(batch)]


FLOOR_MODE = "floor"  # the NumPy reference's rows (bench/test_reference_floor.py)


def floor_medians(measured: dict[CaseKey, dict[str, dict]]) -> dict[int, float]:
    """batch size -> the reference floor's median fit epoch, where this run measured it."""
    return {key[2]: paths["fit"]["stats"]["median"] for key, paths in measured.items() if key[3] == FLOOR_MODE and "fit" in paths}


def performance_row(key: CaseKey, paths: dict[str, dict], *, floor: float | None = None) -> list[str]:
    """One row of the main table; floor is the reference floor's epoch at this batch size, when measured."""
    fit, ev, pr, one = (paths.get(p) for p in PATHS)
    fit_info = fit["extra_info"] if fit else {}
    in_band = fit_info.get("in_band")
    band = fit_info.get("band")
    return [
        *_label(key),
        fmt(fit_info.get("samples_per_s"), "rate"),
        fmt(_iqr_rate(fit), "rate") if fit else "",
        fmt(fit["stats"]["median"], "s") if fit else "",
        fmt(fit["stats"]["median"] / floor, "x") if fit and floor else "",
        fmt(ev["extra_info"].get("samples_per_s"), "rate") if ev else "",
        fmt(pr["stats"]["median"], "ms") if pr else "",
        fmt(one["stats"]["median"], "ms") if one else "",
        fmt(one["extra_info"].get("p95_s"), "ms") if one else "",
        accuracy_cell(fit_info.get("test_accuracy"), diverged=bool(fit_info.get("diverged"))),
        fmt(band, "band") or "no baseline",
        fmt(in_band, "verdict"),
        fmt(fit_info.get("speed_of_light_pct"), "pct"),
        fmt(fit_info.get("compile_s"), "s"),
    ]


PERFORMANCE_HEADERS = [
    "backend", "device", "mode", "batch",
    "fit samples/s (median)", "fit IQR (samples/s)", "epoch (s)", "epoch / floor", "evaluate samples/s",
    "predict 10k (ms)", "1 image (ms, median)", "1 image (ms, p95)",
    "test accuracy", "band", "in band", "fit % of speed of light", "warm-up extra (s)",
]


def ordered_rows(measured_rows: dict[CaseKey, list[str]], files: list[BenchFile], *, width: int, label) -> list[list[str]]:
    """Measured rows and skipped cases in one order; skipped batch sizes of a (backend, device, mode)
    that share a reason fold into one row, labelled label(reason), so no case goes missing."""
    folded: dict[tuple, list[int]] = {}
    for (backend, device, batch, mode), reason in skipped(files).items():
        if (backend, device, batch, mode) not in measured_rows:
            folded.setdefault((backend, device, mode, reason), []).append(batch)
    entries = [(case_order(key), row) for key, row in measured_rows.items()]
    for (backend, device, mode, reason), batches in folded.items():
        sizes = ", ".join(map(str, sorted(batches)))
        row = [backend, device, mode, sizes, label(reason)] + [""] * (width - 5)
        entries.append((case_order((backend, device, min(batches), mode)), row))
    return [row for _, row in sorted(entries, key=lambda entry: entry[0])]


def performance_table(files: list[BenchFile]) -> str:
    """Per backend x device x batch size x mode: throughput, latency, accuracy, speed of light."""
    measured = cells(files)
    floors = floor_medians(measured)
    rows = ordered_rows({key: performance_row(key, paths, floor=floors.get(key[2])) for key, paths in measured.items()}, files,
                        width=len(PERFORMANCE_HEADERS), label=lambda reason: reason.split(":")[0])
    return table(rows, PERFORMANCE_HEADERS, label_columns=3)


def _device_medians(measured, backend: str, mode: str, *, path: str, device_prefix: str) -> dict[int, float]:
    """batch size -> median seconds of one hot path on the first device of a kind."""
    out = {}
    for (b, device, batch, m), paths in measured.items():
        if (b, m) == (backend, mode) and device == f"{device_prefix}:0" and path in paths:
            out[batch] = paths[path]["stats"]["median"]
    return out


def crossover(cpu: dict[int, float], gpu: dict[int, float]) -> int | None:
    """The smallest measured batch size from which the GPU stays faster than the CPU."""
    common = sorted(set(cpu) & set(gpu))
    for i, batch in enumerate(common):
        if all(gpu[b] < cpu[b] for b in common[i:]):
            return batch
    return None


def cpu_gpu_tables(files: list[BenchFile]) -> str:
    """CPU versus GPU speed-up per batch size and path, and where the GPU overtakes the CPU."""
    measured = cells(files)
    speedups, summary = [], []
    for backend, mode in sorted({(k[0], k[3]) for k in measured}):
        for path in PATHS:
            cpu = _device_medians(measured, backend, mode, path=path, device_prefix="cpu")
            gpu = _device_medians(measured, backend, mode, path=path, device_prefix="gpu")
            if not cpu or not gpu:
                continue
            for batch in sorted(set(cpu) & set(gpu)):
                speedups.append([backend, mode, path, str(batch), fmt(cpu[batch], "ms"), fmt(gpu[batch], "ms"), fmt(cpu[batch] / gpu[batch], "x")])
            at = crossover(cpu, gpu)
            summary.append([backend, mode, path, "not within the measured sizes" if at is None else f"batch {at}"])
    if not speedups:
        return ("No GPU was measured in these results, so there is no CPU/GPU comparison; the GPU rows above say "
                "why. Run the suite on a machine with a GPU and pass its JSON files to `mnist-ref report`.")
    return "\n\n".join([
        table(speedups, ["backend", "mode", "path", "batch", "CPU median (ms)", "GPU median (ms)", "GPU speed-up"], label_columns=3),
        table(summary, ["backend", "mode", "path", "GPU overtakes the CPU from"], label_columns=4),
    ])


def cpu_gpu_section(files: list[BenchFile]) -> list[str]:
    """The closing '## CPU versus GPU' section of a report, as lines."""
    return ["", "## CPU versus GPU", "", cpu_gpu_tables(files), ""]


def environment_lines(bench_file: BenchFile) -> list[str]:
    """Markdown bullet lines describing where one bench file was measured."""
    env = bench_file.provenance
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items())
    extras = ", ".join(f"{k} {v}" for k, v in env.accelerator.items())
    return [
        f"- `{bench_file.path.name}` ({bench_file.datetime[:19].replace('T', ' ')} UTC): {env.machine}; GPUs: {env.gpu_list}",
        f"  - Python {env.python}, NumPy {env.numpy}, {versions}; backend {env.backend}"
        + (f"; {extras}" if extras else ""),
        f"  - command: `{portable(bench_file.meta.get('command', '?'))}`" + (" (smoke mode)" if bench_file.meta.get("smoke") else ""),
        f"  - oracle: {oracle_line(bench_file.meta.get('oracle'))}",
        *([f"  - machine during the session: {contention.describe(bench_file.meta['contention'])}"]
          if "contention" in bench_file.meta and bench_file.measure == "time" else []),
        "  - measure: " + ("instructions counted by callgrind (the machine's load does not move a count, so it was not assessed)"
                           if bench_file.measure == "instructions" else "seconds, all cores (`--bench-measure time`)"),
    ]


def oracle_line(verdict: dict | None) -> str:
    """Whether the session's stack computed one SGD step of the book's math (`mnist-ref oracle`)."""
    if verdict is None:
        return "not checked in this run"
    if verdict.get("matches"):
        return "one SGD step matches the NumPy reference of the book's math"
    return "DIFFERS from the NumPy reference in " + ", ".join(verdict.get("differs") or ["?"])


def overhead_line(files: list[BenchFile]) -> str:
    """The largest share of a timed round spent outside Keras' own call, per hot path."""
    worst: dict[str, float] = {}
    for bench_file in files:
        for bench in bench_file.benchmarks:
            info = bench["extra_info"]
            if "harness_overhead_pct" in info:
                worst[info["path"]] = max(worst.get(info["path"], 0.0), info["harness_overhead_pct"])
    if not worst:
        return "Harness overhead: not measured (benchmarks were disabled)."
    parts = ", ".join(f"{path} {fmt(worst[path], 'pct')}" for path in PATHS if path in worst)
    return f"Harness overhead (largest share of a timed round spent outside Keras' own call, per path): {parts}."


def header_lines(title: str, files: list[BenchFile], *, command: str) -> list[str]:
    """A report's title, the command that made it, and where each input file was measured."""
    lines = [f"# {title}", "", f"Generated by `{command}` from:", ""]
    for bench_file in files:
        lines += environment_lines(bench_file)
    return lines


COUNTED_HEADERS = ["backend", "device", "mode", "batch", "path", "counted steps a round", "M instructions a round (median)",
                   "M instructions a step", "round spread (IQR / median)"]


def counted_table(files: list[BenchFile]) -> str:
    """Instruction counts (--bench-measure instructions) per case and hot path."""
    rows = []
    for key, paths in sorted(cells(files).items(), key=lambda item: case_order(item[0])):
        for path in PATHS:
            if path not in paths:
                continue
            bench, info = paths[path], paths[path]["extra_info"]
            per_step = info.get("instructions_per_step")
            spread = info.get("round_spread")
            rows.append([*_label(key), path, str(info.get("steps_per_round", "")), f"{bench['stats']['median'] / 1e6:.2f}",
                         "" if per_step is None else f"{per_step / 1e6:.3f}", "" if spread is None else f"{100 * spread:.2f}%"])
    return table(rows, COUNTED_HEADERS, label_columns=5)


def counted_section(files: list[BenchFile]) -> list[str]:
    """The section of a report for instruction counts, as lines."""
    return [
        "## Instruction counts (the steady measure)", "",
        "Instructions executed by every thread, counted by Valgrind's callgrind (`--bench-measure instructions`) over a bounded "
        "workload: fit, evaluate and predict from the call's second batch to its last (whole calls in the tuned mode, which "
        "runs 100 steps an execution), one image and the floor whole calls; "
        "single-threaded. Not time: a count repeats to a fraction of a percent between processes whatever the machine "
        "does, and grows with every extra operation, but it cannot see memory stalls, vector width or a GPU.",
        "", counted_table(files), "",
    ]


def render_bench(files: list[BenchFile], *, command: str) -> str:
    """The whole bench report: header, performance table, CPU/GPU comparison (and instruction counts, where
    some files counted them)."""
    lines = header_lines("Benchmark results", files, command=command)
    counted = [f for f in files if f.measure == "instructions"]
    files = [f for f in files if f.measure != "instructions"]
    if not files:
        return "\n".join([*lines, "", *counted_section(counted)])
    lines += [
        "",
        "## Per device, batch size and mode",
        "",
        f"fit: one epoch ({TRAIN_IMAGES:,} images) a round after a warm-up epoch; evaluate and predict: the {TEST_IMAGES:,} test images; "
        "1 image: `model.predict` on the first test image. Medians over the rounds; IQR in samples/s. "
        f"Test accuracy after the book's {BOOK_EPOCHS} epochs with seed {DEFAULT_SEED}; the band is the batch size's own multi-seed band "
        "(the book's band at batch 32). % of speed of light: the time the step's FLOPs would take at this "
        "machine's measured matmul throughput, over the measured time. Warm-up extra: the first epoch's time "
        "beyond a steady epoch (tracing, compilation). Rows `numpy ... floor`: the same training written out in "
        "NumPy (`mnist_ref/reference/numpy_model.py`), no framework; epoch / floor: a row's epoch over the floor's epoch at "
        "the same batch size in the same run.",
        "",
        performance_table(files),
        "",
        overhead_line(files),
        *cpu_gpu_section(files),
        *(counted_section(counted) if counted else []),
    ]
    return "\n".join(lines)
