"""What the harness costs a fit epoch: the bench's batch-32 book fit against the book's own script in plain Keras
(bench/book_script.py), interleaved, with an interval.

    python -m mnist_ref.validation.harness collect --cycles 10 --out-dir results/harness-cost
    python -m mnist_ref.validation.harness analyse results/harness-cost --out results/harness-cost.md

collect: two arms a cycle, one process at a time, in a fresh random order each cycle (seeded): `harness`, the bench's
fit at the book's full workload (`--bench-measure time`, book mode, batch 32, CPU, all cores: a warm-up epoch and 4
timed epochs, each its own `fit` call, as every timed round is), and `bare`, the script (one `fit` call of 5 epochs,
each epoch's seconds noted by a callback). analyse: per process the median warm epoch (the harness's 4 rounds; the
script's epochs 2-5, the first holding the tracing as the harness's warm-up does); the ratio harness over bare is
gate.ratio.between(), the Hodges-Lehmann estimate with its exact 95% interval, paired by cycle; cycle 1 is a warm-up
of the machine and is left out, as in the calibration study.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from mnist_ref.gate import ab
from mnist_ref.gate.ratio import SAME_WITHIN, Ratio, between, spread
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.store import files, rounds
from mnist_ref.store.measures import Measure
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import study

PROG = "mnist_ref.validation.harness"
SEED = 34  # the order of every cycle
WARMUP_CYCLES = 1
SCRIPT = "bench/book_script.py"
HARNESS_ARGS = (
    "--bench-modes",
    "book",
    "--bench-devices",
    "cpu",
    "--bench-batch-sizes",
    "32",
    "-k",
    "test_fit and not floor",
    "--bench-measure",
    Measure.TIME.value,
)


def arms() -> list[ab.Arm]:
    return [
        ab.Arm("harness", sys.executable, CHECKOUT, HARNESS_ARGS),
        ab.Arm("bare", sys.executable, CHECKOUT, (), script=SCRIPT),
    ]


def collect(out_dir: Path, *, cycles: int) -> None:
    """Both arms once a cycle, in a fresh random order, one process at a time, into a new folder (one session)."""
    ab.check_repeats(cycles, guard=0, option="--cycles")
    ab.check_out_dir(out_dir, default="a new folder per collection")
    ab.run_interleaved(arms(), repeats=cycles, out_dir=out_dir, session=f"harness-{files.stamp()}", shuffle=SEED)


@dataclasses.dataclass(frozen=True)
class HarnessCost:
    folder: Path
    harness: dict[int, float]  # cycle -> the process' median warm epoch, seconds
    bare: dict[int, float]
    ratio: Ratio  # harness over bare
    keras: str
    environment: Provenance  # of the harness's processes

    @property
    def usable(self) -> int:
        return len(set(self.harness) & set(self.bare))


def _cycle(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _bare_epochs(folder: Path) -> tuple[dict[int, float], str]:
    medians, keras = {}, ""
    for path in sorted((folder / "bare").glob("run-*.json"), key=_cycle):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            medians[_cycle(path)] = rounds.median(record["epoch_s"][1:])
            keras = record["keras"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReportError(f"{path}: not a record of {SCRIPT} ({exc}); collect the runs again") from None
    return medians, keras


def analyse(folder: Path) -> HarnessCost:
    """The two arms' per-process medians from cycle 2 on, and the ratio with its interval."""
    if not (folder / "harness").is_dir():
        raise ReportError(f"{folder}/harness: no such folder; collect the runs first (the collect command)")
    bench = [files.load_bench(p) for p in sorted((folder / "harness").glob("run-*.json"), key=_cycle)]
    harness = {
        _cycle(f.path): rounds.median(m.rounds)
        for f in bench
        for m in f.measured
        if m.path == "fit" and not m.key.floor
    }
    bare, keras = _bare_epochs(folder)
    harness = {c: v for c, v in harness.items() if c > WARMUP_CYCLES}
    bare = {c: v for c, v in bare.items() if c > WARMUP_CYCLES}
    if not harness or not bare:
        raise ReportError(f"{folder}: no runs of both arms after the warm-up cycle; collect them first")
    try:
        result = between(bare, harness)
    except ValueError as exc:
        raise ReportError(f"{folder}: {exc}; collect more cycles") from None
    return HarnessCost(folder, harness, bare, result, keras, bench[0].provenance)


def headline(r: HarnessCost) -> str:
    return (
        f"On {r.environment.machine}, the harness's batch-32 fit epoch takes {r.ratio.cell()} the book's own script's "
        f"in plain Keras ({r.usable} processes each, paired by cycle; 95% interval): "
        f"{r.ratio.answer(SAME_WITHIN).value}."
    )


def render(folder: Path, *, command: str) -> str:
    r = analyse(folder)
    rows = [
        [
            name,
            what,
            f"{statistics.median(values.values()):.3f} s",
            f"{100 * spread(list(values.values())):.1f}%",
            str(len(values)),
        ]
        for name, what, values in (
            ("harness", "the bench: one `fit` call an epoch, 4 timed after a warm-up", r.harness),
            ("bare", f"`{SCRIPT}`: one `fit` call of 5 epochs, epochs 2-5", r.bare),
        )
    ]
    lines = [
        "# What the harness costs a fit epoch",
        "",
        headline(r),
        "",
        "Both arms train the book's model (Dense(64, relu) -> Dense(10, softmax), SGD, batch 32, 60,000 images, "
        "TensorFlow's own threads, verbose 0) on the same interpreter, one process at a time, both once a cycle in a "
        "fresh random order; cycle 1 warmed the machine up and is left out. Per process the median warm epoch; the "
        "ratio is the Hodges-Lehmann estimate of harness over bare with its exact 95% interval, paired by cycle "
        "(`mnist_ref/gate/ratio.py`). The harness times each epoch as its own `fit` call (a round must be one call "
        "to be timed and counted alike), so its epoch holds a call's set-up and return, which the script's epochs 2-5 "
        "inside one call do not; spread: 1.4826 x the MAD of the log process medians.",
        "",
        table(rows, ["arm", "what it runs", "median epoch", "spread", "processes"], label_columns=2),
        "",
    ]
    return "\n".join(
        lines
        + provenance(
            f"Generated by `{command}` from the JSON under `{r.folder.name}/` (collected with `python -m {PROG} "
            f"collect`). Machine: {r.environment.machine}; Python {r.environment.python}; Keras {r.keras}."
        )
    )


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "harness-cost study",
        argv,
        cycles=10,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles),
        pages=study.one_page(render),
    )


if __name__ == "__main__":
    sys.exit(main())
