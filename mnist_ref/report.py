"""Markdown tables from pytest-benchmark JSON and seed-sweep JSON (tabulate, GitHub pipe tables)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tabulate import tabulate

from mnist_ref.errors import ReportError

BENCH_SCHEMA = "mnist-ref/bench/1"
SWEEP_SCHEMA = "mnist-ref/seed-sweep/1"
PATHS = ("fit", "evaluate", "predict", "predict_one")


@dataclasses.dataclass(frozen=True)
class BenchFile:
    """One pytest-benchmark JSON file written by the bench suite."""

    path: Path
    machine: dict
    meta: dict
    benchmarks: list[dict]
    datetime: str


def load_json(path: Path) -> dict:
    """A JSON object from path, or ReportError saying why it cannot be read."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(document, dict):
        raise ReportError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def schema_of(document: dict) -> str | None:
    """The mnist-ref schema a document declares, if any."""
    if isinstance(document.get("mnist_ref"), dict):
        return document["mnist_ref"].get("schema")
    return document.get("schema")


def parse_bench(path: Path, document: dict) -> BenchFile:
    """Check a bench document's shape and wrap it; ReportError names what is missing."""
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list) or not isinstance(document.get("machine_info"), dict):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list or 'machine_info')")
    for bench in benchmarks:
        info = bench.get("extra_info", {}) if isinstance(bench, dict) else {}
        missing = [k for k in ("path", "backend", "device", "batch_size", "mode") if k not in info]
        if missing or not isinstance(bench.get("stats"), dict):
            raise ReportError(f"{path}: benchmark {bench.get('name', '?')!r} lacks {', '.join(missing) or 'stats'}; "
                              "was it written by `pytest bench/ --benchmark-json=...`?")
    return BenchFile(Path(path), document["machine_info"], document["mnist_ref"], benchmarks, document.get("datetime", ""))


def load(path: Path) -> BenchFile | dict:
    """A bench file (BenchFile) or a seed sweep (dict), or ReportError naming what the file is not."""
    document = load_json(path)
    schema = schema_of(document)
    if schema == BENCH_SCHEMA:
        return parse_bench(path, document)
    if schema == SWEEP_SCHEMA and isinstance(document.get("runs"), list):
        return document
    raise ReportError(f"{path}: not an mnist-ref benchmark file or seed sweep (schema {schema!r}); write one with "
                      "`pytest bench/ --benchmark-only --benchmark-json=FILE` or `mnist-ref sweep`")


def load_bench(path: Path) -> BenchFile:
    """Load one bench JSON file; anything else is a ReportError."""
    loaded = load(path)
    if not isinstance(loaded, BenchFile):
        raise ReportError(f"{path}: a seed sweep, where a benchmark file was expected")
    return loaded


# --- formatting: one place for units -------------------------------------------------------------


_FORMATS = {
    "rate": lambda v: f"{v:,.0f}",
    "ms": lambda v: f"{v * 1e3:,.1f}",
    "s": lambda v: f"{v:,.2f}",
    "pct": lambda v: f"{v:.1f}%" if v >= 0.1 else f"{v:.3f}%",
    "acc": lambda v: f"{v:.4f}",
    "x": lambda v: f"{v:.2f}x",
    "band": lambda v: f"[{v[0]:.3f}, {v[1]:.3f}]",
    "verdict": lambda v: "yes" if v else "**no**",
}


def fmt(value, kind: str) -> str:
    """A value formatted for reading: rate (per s), ms, s, pct, acc, x, band ([low, high]),
    verdict (yes / **no**); '' for None."""
    return "" if value is None else _FORMATS[kind](value)


def table(rows: list[list], headers: list[str], *, label_columns: int) -> str:
    """A GitHub pipe table: the first label_columns left-aligned, the numbers right-aligned."""
    align = ["left"] * label_columns + ["right"] * (len(headers) - label_columns)
    return tabulate(rows, headers=headers, tablefmt="pipe", colalign=align, disable_numparse=True)


# --- the bench tables -----------------------------------------------------------------------------

CaseKey = tuple  # (backend, device, batch_size, mode)


def cells(files: list[BenchFile]) -> dict[CaseKey, dict[str, dict]]:
    """Benchmarks grouped by case, then by hot path (later files win)."""
    out: dict[CaseKey, dict[str, dict]] = {}
    for bench_file in files:
        for bench in bench_file.benchmarks:
            info = bench["extra_info"]
            key = (info["backend"], info["device"], int(info["batch_size"]), info["mode"])
            out.setdefault(key, {})[info["path"]] = bench
    return out


def skipped(files: list[BenchFile]) -> dict[CaseKey, str]:
    """Cases the suite skipped, with the reason."""
    return {
        (s["backend"], s["device"], int(s["batch_size"]), s["mode"]): s["reason"]
        for f in files
        for s in f.meta.get("skipped", [])
    }


def case_order(key: CaseKey):
    """Sort key: backend, CPU before GPUs, device, mode, batch size."""
    backend, device, batch, mode = key
    return (backend, not device.startswith("cpu"), device, mode, batch)


def _iqr_rate(bench: dict) -> float | None:
    stats, samples = bench["stats"], bench["extra_info"].get("samples_per_round")
    if not samples or not stats.get("q1") or not stats.get("q3"):
        return None
    return samples / stats["q1"] - samples / stats["q3"]


def _label(key: CaseKey) -> list[str]:
    """backend, device, mode, batch: the label columns, the batch size last so it aligns as a number."""
    backend, device, batch, mode = key
    return [backend, device, mode, str(batch)]


def performance_row(key: CaseKey, paths: dict[str, dict]) -> list[str]:
    """One row of the main table."""
    fit, ev, pr, one = (paths.get(p) for p in PATHS)
    fit_info = fit["extra_info"] if fit else {}
    in_band = fit_info.get("in_band")
    band = fit_info.get("band")
    return [
        *_label(key),
        fmt(fit_info.get("samples_per_s"), "rate"),
        fmt(_iqr_rate(fit), "rate") if fit else "",
        fmt(fit["stats"]["median"], "s") if fit else "",
        fmt(ev["extra_info"].get("samples_per_s"), "rate") if ev else "",
        fmt(pr["stats"]["median"], "ms") if pr else "",
        fmt(one["stats"]["median"], "ms") if one else "",
        fmt(one["extra_info"].get("p95_s"), "ms") if one else "",
        fmt(fit_info.get("test_accuracy"), "acc"),
        fmt(band, "band") or "no baseline",
        fmt(in_band, "verdict"),
        fmt(fit_info.get("speed_of_light_pct"), "pct"),
        fmt(fit_info.get("compile_s"), "s"),
    ]


PERFORMANCE_HEADERS = [
    "backend", "device", "mode", "batch",
    "fit samples/s (median)", "fit IQR (samples/s)", "epoch (s)", "evaluate samples/s",
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
    rows = ordered_rows({key: performance_row(key, paths) for key, paths in measured.items()}, files,
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
    env = bench_file.machine.get("mnist_ref", {})
    fw, cpu = env.get("framework", {}), env.get("cpu", {})
    gpus = ", ".join(g.get("device_name", "?") for g in fw.get("gpus", []) or []) or "none"
    versions = ", ".join(f"{k} {fw[k]}" for k in ("tensorflow", "jax", "torch", "keras") if fw.get(k))
    extras = ", ".join(f"{k} {fw[k]}" for k in ("cuda", "cudnn", "nvidia_driver") if fw.get(k))
    return [
        f"- `{bench_file.path.name}` ({bench_file.datetime[:19].replace('T', ' ')} UTC): "
        f"{cpu.get('model', '?')}, {cpu.get('usable_cores', '?')} usable cores; GPUs: {gpus}",
        f"  - Python {env.get('python', '?')}, NumPy {env.get('numpy', '?')}, {versions}; backend {fw.get('backend', '?')}"
        + (f"; {extras}" if extras else ""),
        f"  - command: `{bench_file.meta.get('command', '?')}`" + (" (smoke mode)" if bench_file.meta.get("smoke") else ""),
    ]


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


def render_bench(files: list[BenchFile], *, command: str) -> str:
    """The whole bench report: header, performance table, CPU/GPU comparison."""
    lines = header_lines("Benchmark results", files, command=command)
    lines += [
        "",
        "## Per device, batch size and mode",
        "",
        "fit: one epoch (60,000 images) a round after a warm-up epoch; evaluate and predict: the 10,000 test images; "
        "1 image: `model.predict` on the first test image. Medians over the rounds; IQR in samples/s. "
        "Test accuracy after the book's 5 epochs with seed 42; the band is the batch size's own multi-seed band "
        "(the book's band at batch 32). % of speed of light: the time the step's FLOPs would take at this "
        "machine's measured matmul throughput, over the measured time. Warm-up extra: the first epoch's time "
        "beyond a steady epoch (tracing, compilation).",
        "",
        performance_table(files),
        "",
        overhead_line(files),
        *cpu_gpu_section(files),
    ]
    return "\n".join(lines)


# --- seed sweeps ----------------------------------------------------------------------------------


def load_sweep(path: Path) -> dict:
    """Load one seed-sweep JSON file; anything else is a ReportError."""
    loaded = load(path)
    if isinstance(loaded, BenchFile):
        raise ReportError(f"{path}: a benchmark file, where a seed sweep was expected")
    return loaded


def render_sweeps(sweeps: list[dict], *, command: str) -> str:
    """Summary per batch size and the per-seed accuracies behind each band."""
    sweeps = sorted(sweeps, key=lambda s: (s["backend"], s["config"]["mode"], s["config"]["batch_size"]))
    summary = [
        [s["backend"], s["config"]["mode"], str(s["config"]["batch_size"]), str(s["summary"]["n"]),
         fmt(s["summary"]["mean"], "acc"), fmt(s["summary"]["std"], "acc"), fmt(s["summary"]["min"], "acc"),
         fmt(s["summary"]["max"], "acc"), fmt(s["summary"]["band"], "band")]
        for s in sweeps
    ]
    lines = [
        "# Seed sweeps: test accuracy of the book's configuration over seeds",
        "",
        f"Generated by `{command}`. Each row trains the book's model (SGD at 0.01, 5 epochs) once per seed "
        "and evaluates it on the 10,000 test images. The band is mean +/- max(5 std, 0.005), rounded outwards "
        "to 0.001; `mnist_ref/book.py` declares the bands taken from here.",
        "",
        table(summary, ["backend", "mode", "batch", "seeds", "mean", "std", "min", "max", "derived band"], label_columns=2),
        "",
    ]
    for s in sweeps:
        env = s.get("environment", {})
        lines += [
            f"## {s['backend']}, batch {s['config']['batch_size']}, {s['config']['mode']} mode",
            "",
            f"Measured on {env.get('cpu', {}).get('model', '?')} ({env.get('cpu', {}).get('usable_cores', '?')} cores), "
            f"Keras {env.get('framework', {}).get('keras', '?')}, data {s.get('data_source', '?')}.",
            "",
            table([[str(r["seed"]), fmt(r["test_accuracy"], "acc"), fmt(r["test_loss"], "acc"), fmt(r["fit_s"], "s"), r["fingerprint"][:16]]
                   for r in s["runs"]], ["seed", "test accuracy", "test loss", "fit (s)", "fingerprint"], label_columns=0),
            "",
        ]
    return "\n".join(lines)


# --- results/README.md ----------------------------------------------------------------------------

INDEX_ENTRIES = {
    "bench.md": "fit / evaluate / predict throughput and latency, accuracy and band, speed of light, CPU vs GPU",
    "bench-throughput.png": "samples/s against batch size per device and mode",
    "bench-training.png": "loss and accuracy per epoch of each benchmarked case",
    "seed-sweep.md": "per-seed test accuracies behind the accuracy bands",
    "backends.md": "Keras 3 backends x devices x batch sizes, fingerprint stability, CPU/GPU crossover",
    "tf-versions.md": "the book's model across TensorFlow versions (Keras 2 and 3)",
}


def render_index(out_dir: Path) -> str:
    """results/README.md: what each generated file holds, for the files present."""
    rows = [[f"[{name}]({name})", text] for name, text in INDEX_ENTRIES.items() if (out_dir / name).exists()]
    return "\n".join([
        "# Results",
        "",
        "Generated files; regenerate them with the commands in the top-level README (section Results).",
        "",
        table(rows, ["file", "what it shows"], label_columns=2),
        "",
    ])
