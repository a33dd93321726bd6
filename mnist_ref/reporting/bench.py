"""results/bench.md: the bench matrix per device, batch size and mode, and the CPU/GPU comparison."""

from __future__ import annotations

import dataclasses
import statistics

from mnist_ref.core.book import BOOK_PRINTED_EPOCH_S, BOOK_PRINTED_US_PER_SAMPLE
from mnist_ref.core.config import BOOK_BATCH_SIZE, BOOK_EPOCHS, DEFAULT_SEED
from mnist_ref.core.dataset import TEST_IMAGES, TRAIN_IMAGES
from mnist_ref.plumbing.checkout import portable
from mnist_ref.reporting.tables import accuracy_cell, fmt, provenance, table
from mnist_ref.store import rounds
from mnist_ref.store.files import PATHS, BenchFile, CaseKey, case_order, cells, skipped
from mnist_ref.store.measured import Info, Measured, Runs
from mnist_ref.store.measures import Measure
from mnist_ref.store.schema import FLOOR_MODE
from mnist_ref.store.session import Oracle


def case_columns(key: CaseKey) -> list[str]:
    """case (backend and device), mode, batch: the label columns, the batch size last so it aligns as a number."""
    return [f"{key.backend} {key.device}", key.mode, str(key.batch_size)]


@dataclasses.dataclass(frozen=True)
class Case:
    """One case over every process (file) that measured it: each path's benchmarks, one per process, in file order."""

    key: CaseKey
    runs: Runs

    def benches(self, path: str) -> list[Measured]:
        return [r[path] for r in self.runs if path in r]

    def median(self, path: str) -> float | None:
        """The median over processes of each process's median seconds."""
        values = [b.median for b in self.benches(path)]
        return statistics.median(values) if values else None

    def info(self, path: str, field: str) -> float | None:
        """The median over processes of a numeric extra info field."""
        values = [v for v in (b.info.number(field) for b in self.benches(path)) if v is not None]
        return statistics.median(values) if values else None

    @property
    def fit_info(self) -> Info | None:
        """The first process's fit extra info (accuracy, band, fingerprint: the same case trains the same way)."""
        fits = self.benches("fit")
        return fits[0].info if fits else None


def measured_cases(files: list[BenchFile]) -> list[Case]:
    """Every measured case, its processes gathered from the files, in the tables' order."""
    per_file = [cells([f]) for f in files]
    keys = sorted({k for measured in per_file for k in measured}, key=case_order)
    return [Case(k, [m[k] for m in per_file if k in m]) for k in keys]


def spread_cell(case: Case) -> str:
    """The fit epoch's spread: over the rounds (IQR / median, the median over processes), and with several processes,
    between their medians (max / min)."""
    fits = case.benches("fit")
    spreads = [b.spread for b in fits if b.spread is not None]
    cell = fmt(100 * statistics.median(spreads), "pct") if spreads else ""
    if len(fits) > 1:
        medians = [b.median for b in fits]
        cell += f"; {fmt(max(medians) / min(medians), 'x')} of {len(fits)}"
    return cell


def training_row(case: Case, *, floor: float | None = None) -> list[str]:
    """Training speed: the epoch's median and spread, samples a second, against the floor and the speed of light."""
    epoch = case.median("fit")
    samples, light = case.info("fit", "samples_per_round"), case.info("fit", "speed_of_light_s")
    return [
        *case_columns(case.key),
        fmt(epoch, "s"),
        spread_cell(case),
        fmt(samples / epoch, "rate") if samples and epoch else "",
        fmt(epoch / floor, "x") if epoch and floor else "",
        fmt(100 * light / epoch, "pct") if light and epoch else "",
    ]


TRAINING_HEADERS = [
    "case",
    "mode",
    "batch",
    "epoch (s, median)",
    "spread (rounds; processes)",
    "samples/s",
    "epoch / floor",
    "% of speed of light",
]


def book_reference_row() -> list[str]:
    """The book's printed speed as a row of the training table."""
    return [
        "the book (printed)",
        "book",
        str(BOOK_BATCH_SIZE),
        fmt(BOOK_PRINTED_EPOCH_S, "s"),
        "",
        fmt(1e6 / BOOK_PRINTED_US_PER_SAMPLE, "rate"),
        "",
        "",
    ]


def inference_row(case: Case) -> list[str]:
    """Inference and warm-up: evaluate, predict the test set, one image (median and p95), the first epoch's extra."""
    return [
        *case_columns(case.key),
        fmt(case.info("evaluate", "samples_per_s"), "rate"),
        fmt(case.median("predict"), "ms"),
        fmt(case.median("predict_one"), "ms"),
        fmt(case.info("predict_one", "p95_s"), "ms"),
        fmt(case.info("fit", "compile_s"), "s"),
    ]


INFERENCE_HEADERS = [
    "case",
    "mode",
    "batch",
    "evaluate samples/s",
    f"predict {TEST_IMAGES // 1000}k (ms)",
    "1 image (ms, median)",
    "1 image (ms, p95)",
    "warm-up extra (s)",
]


def correctness_row(case: Case) -> list[str]:
    """Correctness: test accuracy against the batch size's band, and the final weights' fingerprint (whether every
    process that trained the case ended on the same weights)."""
    info = case.fit_info
    prints = {b.info.fingerprint for b in case.benches("fit")}
    fingerprint = info.fingerprint if info else None
    same = (
        ""
        if len(case.benches("fit")) < 2
        else (" (same in every run)" if len(prints) == 1 else " (**differs between runs**)")
    )
    return [
        *case_columns(case.key),
        accuracy_cell(info and info.test_accuracy, diverged=bool(info and info.diverged)),
        fmt(info and info.band, "band") or "no band",
        fmt(info and info.in_band, "verdict"),
        (f"`{fingerprint[:12]}`" if fingerprint else "") + same,
    ]


CORRECTNESS_HEADERS = ["case", "mode", "batch", "test accuracy", "band", "in band", "weights (fingerprint)"]


def not_measured_lines(files: list[BenchFile]) -> list[str]:
    """The cases the suite skipped, batch sizes of one case and reason folded into one line."""
    measured = cells(files)
    folded: dict[tuple, list[int]] = {}
    for key, reason in skipped(files).items():
        if key not in measured:
            folded.setdefault((key.backend, key.device, key.mode, reason), []).append(key.batch_size)
    return [
        f"- {backend} {device}, {mode}, batch {', '.join(map(str, sorted(batches)))}: {reason}"
        for (backend, device, mode, reason), batches in sorted(folded.items())
    ]


def performance_tables(files: list[BenchFile]) -> list[str]:
    """One table per question (training speed, inference, correctness), and the cases not measured, as lines."""
    cases = measured_cases(files)
    floors = {c.key.batch_size: c.median("fit") for c in cases if c.key.mode == FLOOR_MODE and c.median("fit")}
    training = [training_row(c, floor=floors.get(c.key.batch_size)) for c in cases]
    if any(c.key.batch_size == BOOK_BATCH_SIZE for c in cases):
        training.append(book_reference_row())
    keras = [c for c in cases if c.key.mode != FLOOR_MODE]  # the floor has no evaluate, predict or band
    processes = max((len(c.runs) for c in cases), default=1)
    missing = not_measured_lines(files)
    return [
        "## Training speed",
        "",
        f"One epoch ({TRAIN_IMAGES:,} images) a timed round after a warm-up epoch. "
        + (
            f"Each case ran in up to {processes} separate processes: the epoch is the median of their medians; the "
            "spread is the rounds' IQR over their median (within a process, the median over processes), then the "
            "processes' medians against each other (max / min, of how many). "
            if processes > 1
            else "The epoch is the median over the rounds; the spread their IQR over the median. "
        )
        + f"Every spread on this page is {rounds.SPREAD_METHOD}. "
        + "Rows `numpy cpu:0 floor`: the same training written out in NumPy (`mnist_ref/reference/numpy_model.py`), no "
        "framework; epoch / floor: a row's epoch over the floor's at the same batch size. % of speed of light: the "
        "time the step's FLOPs would take at this machine's measured matmul throughput, over the measured time. `the "
        f'book (printed)`: the book\'s own training log, "1s {BOOK_PRINTED_US_PER_SAMPLE}us/step" a sample at batch '
        f"{BOOK_BATCH_SIZE} "
        "(Keras 2, on a machine the book does not name), for reference.",
        "",
        table(training, TRAINING_HEADERS, label_columns=2),
        "",
        "## Inference and warm-up",
        "",
        f"evaluate and predict: the {TEST_IMAGES:,} test images; 1 image: `model.predict` on the first test image. "
        "Medians (over the rounds, then over processes). Warm-up extra: the first epoch's time beyond a steady epoch "
        "(tracing, compilation).",
        "",
        table([inference_row(c) for c in keras], INFERENCE_HEADERS, label_columns=2),
        "",
        "## Correctness",
        "",
        f"Test accuracy after the book's {BOOK_EPOCHS} epochs with seed {DEFAULT_SEED}, against the batch size's own "
        f"multi-seed band (the book's band at batch {BOOK_BATCH_SIZE}); the first 12 hex digits of the final weights' "
        "fingerprint.",
        "",
        table([correctness_row(c) for c in keras], CORRECTNESS_HEADERS, label_columns=2),
        "",
        *(["Not measured:", "", *missing, ""] if missing else []),
    ]


def _accuracy_clause(fits) -> str:
    info = fits[0].info
    return f"test accuracy {accuracy_cell(info.test_accuracy, diverged=bool(info.diverged))}, " + (
        f"{'inside' if info.in_band else 'OUTSIDE'} the band {fmt(info.band, 'band')}" if info.band else "no band"
    )


def _weights_clause(fits) -> str:
    if len(fits) < 2:
        return ""
    same = len({b.info.fingerprint for b in fits}) == 1
    return "; the same weights in every process" if same else "; the weights DIFFER between processes"


def _oracle_clause(files: list[BenchFile]) -> str:
    verdicts = [f.session.oracle for f in files if f.session.oracle is not None]
    if not verdicts:
        return "the oracle was not checked"
    if all(v.matches for v in verdicts):
        return "one SGD step matches the NumPy reference of the book's math"
    return "one SGD step DIFFERS from the NumPy reference of the book's math"


def headline(files: list[BenchFile]) -> str:
    """One paragraph a reader can quote, every number from the files: the book's case (the CPU first), its speed
    against the book's printed speed, tuned and floor, accuracy, the oracle."""
    cases = {c.key: c for c in measured_cases(files)}
    book = next(
        (k for k in cases if k.mode == "book" and k.batch_size == BOOK_BATCH_SIZE and cases[k].benches("fit")), None
    )
    if book is None:
        return "No file here measured the book's configuration (book mode, batch 32), so there is no headline."
    case = cases[book]
    epoch, fits = case.median("fit"), case.benches("fit")
    us = 1e6 * epoch / (case.info("fit", "samples_per_round") or TRAIN_IMAGES)
    medians = [b.median for b in fits]
    how = (
        f"median of {len(fits)} processes, their medians within {fmt(max(medians) / min(medians), 'x')}"
        if len(fits) > 1
        else f"median of {fits[0].round_count} rounds, spread {spread_cell(case)}"
    )
    others = [
        f"{name} {fmt(cases[key].median('fit'), 's')} s"
        for key, name in (
            (book._replace(mode="tuned"), "tuned"),
            (CaseKey("numpy", "cpu:0", BOOK_BATCH_SIZE, FLOOR_MODE), "the NumPy floor"),
        )
        if key in cases and cases[key].median("fit")
    ]
    accuracy, weights, oracle = _accuracy_clause(fits), _weights_clause(fits), _oracle_clause(files)
    first = next(f for f in files if book in cells([f]))
    env = first.provenance
    versions = " / ".join(
        f"{'TensorFlow' if k == 'tensorflow' else k.capitalize()} {v}" for k, v in env.versions.items()
    )
    dates = sorted({f.datetime[:10] for f in files if book in cells([f])})
    return (
        f"**On {env.machine}, {versions} trains the book's model ({book.device}, batch {BOOK_BATCH_SIZE}, book mode) "
        f"at {fmt(epoch, 's')} s an epoch** ({how}; {us:.0f} us a sample against the book's printed "
        f"{BOOK_PRINTED_US_PER_SAMPLE} us: {BOOK_PRINTED_US_PER_SAMPLE / us:.2f}x the book's speed)"
        + (f", {', '.join(others)}" if others else "")
        + f"; {accuracy}{weights}; {oracle}. Measured {', '.join(dates)}."
    )


def _device_medians(measured, backend: str, mode: str, *, path: str, device_prefix: str) -> dict[int, float]:
    """batch size -> median seconds of one hot path on the first device of a kind."""
    out = {}
    for (b, device, batch, m), paths in measured.items():
        if (b, m) == (backend, mode) and device == f"{device_prefix}:0" and path in paths:
            out[batch] = paths[path].median
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
    for backend, mode in sorted({(k.backend, k.mode) for k in measured}):
        for path in PATHS:
            cpu = _device_medians(measured, backend, mode, path=path, device_prefix="cpu")
            gpu = _device_medians(measured, backend, mode, path=path, device_prefix="gpu")
            if not cpu or not gpu:
                continue
            for batch in sorted(set(cpu) & set(gpu)):
                speedups.append(
                    [
                        backend,
                        mode,
                        path,
                        str(batch),
                        fmt(cpu[batch], "ms"),
                        fmt(gpu[batch], "ms"),
                        fmt(cpu[batch] / gpu[batch], "x"),
                    ]
                )
            at = crossover(cpu, gpu)
            summary.append([backend, mode, path, "not within the measured sizes" if at is None else f"batch {at}"])
    if not speedups:
        return (
            "No GPU was measured in these results (none on the machine, or the session chose the CPU only), so there "
            "is no CPU/GPU comparison. Run the suite on a machine with a GPU and pass its JSON files to `mnist-ref "
            "report`."
        )
    return "\n\n".join(
        [
            table(
                speedups,
                ["backend", "mode", "path", "batch", "CPU median (ms)", "GPU median (ms)", "GPU speed-up"],
                label_columns=3,
            ),
            table(summary, ["backend", "mode", "path", "GPU overtakes the CPU from"], label_columns=4),
        ]
    )


def cpu_gpu_section(files: list[BenchFile]) -> list[str]:
    """The closing '## CPU versus GPU' section of a report, as lines."""
    return ["", "## CPU versus GPU", "", cpu_gpu_tables(files), ""]


def environment_lines(bench_file: BenchFile) -> list[str]:
    """Markdown bullet lines describing where one bench file was measured."""
    env, session = bench_file.provenance, bench_file.session
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items())
    extras = ", ".join(f"{k} {v}" for k, v in env.accelerator.items())
    return [
        f"- `{bench_file.path.name}` ({bench_file.datetime[:19].replace('T', ' ')} UTC): {env.machine}; GPUs: "
        f"{env.gpu_list}",
        f"  - Python {env.python}, NumPy {env.numpy}, {versions}; backend {env.backend}"
        + (f"; {extras}" if extras else ""),
        f"  - command: `{portable(session.command or '?')}`" + (" (smoke mode)" if session.smoke else ""),
        f"  - oracle: {oracle_line(session.oracle)}",
        *(
            [f"  - machine during the session: {session.contention.describe()}"]
            if session.contention.recorded and bench_file.measure is Measure.TIME
            else []
        ),
        "  - measure: " + bench_file.measure.describe(),
        *(
            [
                f"  - **partial**: its session did not complete ({session.outcome}); not completed: "
                + (", ".join(session.not_completed) or "not recorded")
            ]
            if session.partial
            else []
        ),
    ]


def oracle_line(verdict: Oracle | None) -> str:
    """Whether the session's stack computed one SGD step of the book's math (`mnist-ref oracle`)."""
    if verdict is None:
        return "not checked in this run"
    if verdict.matches:
        return "one SGD step matches the NumPy reference of the book's math"
    return "DIFFERS from the NumPy reference in " + ", ".join(verdict.differs or ["?"])


def overhead_line(files: list[BenchFile]) -> str:
    """The largest share of a timed round spent outside Keras' own call, per hot path."""
    worst: dict[str, float] = {}
    for bench_file in files:
        for measured in bench_file.measured:
            overhead = measured.info.harness_overhead_pct
            if overhead is not None:
                worst[measured.path] = max(worst.get(measured.path, 0.0), overhead)
    if not worst:
        return "Harness overhead: not measured (benchmarks were disabled)."
    parts = ", ".join(f"{path} {fmt(worst[path], 'pct')}" for path in PATHS if path in worst)
    return f"Harness overhead (largest share of a timed round spent outside Keras' own call, per path): {parts}."


def provenance_lines(files: list[BenchFile], *, command: str) -> list[str]:
    """Where the numbers above came from, for the end of a page (a reader wants the answer first): the command that made
    the page and where each input file was measured."""
    lines = provenance(f"Generated by `{command}` from:")
    for bench_file in files:
        lines += environment_lines(bench_file)
    return [*lines, ""]  # the page ends here, with its newline


COUNTED_HEADERS = [
    "case",
    "mode",
    "path",
    "batch",
    "counted steps a round",
    "M instructions a round (median)",
    "M instructions a step",
    "round spread (IQR / median)",
]


def counted_table(files: list[BenchFile]) -> str:
    """Instruction counts (--bench-measure instructions) per case and hot path."""
    rows = []
    for key, paths in sorted(cells(files).items(), key=lambda item: case_order(item[0])):
        case, mode, batch = case_columns(key)
        for path in PATHS:
            if path not in paths:
                continue
            measured = paths[path]
            per_step, spread, steps = (
                measured.info.instructions_per_step,
                measured.spread,
                measured.info.steps_per_round,
            )
            rows.append(
                [
                    case,
                    mode,
                    path,
                    batch,
                    "" if steps is None else str(steps),
                    f"{measured.median / 1e6:.2f}",
                    "" if per_step is None else f"{per_step / 1e6:.3f}",
                    "" if spread is None else f"{100 * spread:.2f}%",
                ]
            )
    return table(rows, COUNTED_HEADERS, label_columns=3)


def counted_section(files: list[BenchFile]) -> list[str]:
    """The section of a report for instruction counts, as lines."""
    return [
        "## Instruction counts (the steady measure)",
        "",
        "Instructions executed by every thread, counted by Valgrind's callgrind (`--bench-measure instructions`) over "
        "a bounded workload: fit, evaluate and predict from the call's second batch to its last (whole calls in the "
        "tuned mode, which runs 100 steps an execution), one image and the floor whole calls; single-threaded. Not "
        "time: a count repeats to a fraction of a percent between processes whatever the machine does, and grows with "
        "every extra operation, but it cannot see memory stalls, vector width or a GPU.",
        "",
        counted_table(files),
        "",
    ]


def render_bench(files: list[BenchFile], *, command: str) -> str:
    """The whole bench report: a headline, one table per question, the CPU/GPU comparison (and instruction counts,
    where some files counted them), then where each file was measured."""
    counted = [f for f in files if f.measure.counted]
    timed = [f for f in files if not f.measure.counted]
    lines = [
        "# Benchmark results",
        "",
        headline(timed or files)
        if timed
        else "These files count instructions (the steady measure); no timed run, so no speed headline.",
        "",
    ]
    if timed:
        lines += [*performance_tables(timed), overhead_line(timed), *cpu_gpu_section(timed)]
    lines += [*(counted_section(counted) if counted else []), *provenance_lines(files, command=command)]
    return "\n".join(lines)
