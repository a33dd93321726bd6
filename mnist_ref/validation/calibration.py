"""Calibrating the clock across processes, and validating the timed-ratio estimator (gate/ratio.py) against slowdowns of
known size, from one interleaved pool of identical code.

    python -m mnist_ref.validation.calibration collect --cycles 16 --out-dir results/calibration
    python -m mnist_ref.validation.calibration analyse results/calibration --out results/calibration.md

collect: every arm's timed-guard process (`--bench-measure steps`: the book's batch-32 fit, evaluate and predict on the
CPU, 300 steps a round), one at a time, in rounds (cycles): each cycle runs every arm once, in a fresh random order
(seeded). The arms are one code in several settings, and the same code made slower by a known amount:

- default, default-b: TensorFlow's own threads (two identical arms: the A/A);
- intra2: TF_NUM_INTRAOP_THREADS=2, TF_NUM_INTEROP_THREADS=1; threads1: both 1;
- fitonly: `-k fit --bench-fit-rounds 16` (four times the fit a process measures);
- wait1.03, wait1.05, wait1.10: the default arm with `--bench-inject-wait F`, every step waiting F - 1 times its own
  duration (the wait owed carried from sleep to sleep, so a round is F times as long to within one sleep's overshoot).

The rules, fixed before the runs (RULES below, committed with this file before any process was collected):
- cycle 1 is a warm-up of the machine and is discarded, for every arm;
- per process, each path's median round; the ratio of two arms is gate.ratio.ratio() in its paired form (the two arms'
  processes of one cycle are a pair), exact 95%;
- a ratio "differs" where its interval excludes 1, and is "the same" within +-3% where it lies inside [1/1.03, 1.03];
- each level is judged in COMPARISONS comparisons of PER_ARM cycles drawn from the usable cycles at random (seeded;
  the pool allows only one or two disjoint sets, so the draws overlap); truth is 1 for the A/A and F for waitF;
- the spread of a setting is 1.4826 x the MAD of its log process medians (gate.ratio.spread), and its correlation
  within a cycle is Spearman's between that arm's and default's log medians over the usable cycles.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from mnist_ref.gate import ab
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.store import files
from mnist_ref.validation import study

PROG = "mnist_ref.validation.calibration"
TIMED_ARGS = ("--bench-smoke", "--bench-devices", "cpu", "--bench-modes", "book", "--bench-measure", "steps")
SEED = 34  # the order of every cycle


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the analysis does, fixed before the runs."""

    warmup_cycles: int = 1
    same_within: float = 0.03
    per_arm: int = 8
    comparisons: int = 20
    seed: int = 34
    levels: tuple[tuple[str, str, float], ...] = (("A/A", "default-b", 1.0), ("1.03x wait", "wait1.03", 1.03),
                                                  ("1.05x wait", "wait1.05", 1.05), ("1.10x wait", "wait1.10", 1.10))
    settings: tuple[str, ...] = ("default", "default-b", "intra2", "threads1", "fitonly")


RULES = Rules()


@dataclasses.dataclass(frozen=True)
class CalibrationArm:
    name: str
    options: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # VAR=value, set for this arm's processes only
    label: str = ""


ARMS = (
    CalibrationArm("default", label="TensorFlow's own threads"),
    CalibrationArm("default-b", label="the same, a second arm (A/A)"),
    CalibrationArm("intra2", env=("TF_NUM_INTRAOP_THREADS=2", "TF_NUM_INTEROP_THREADS=1"), label="intra-op 2, inter-op 1"),
    CalibrationArm("threads1", env=("TF_NUM_INTRAOP_THREADS=1", "TF_NUM_INTEROP_THREADS=1"), label="intra-op 1, inter-op 1"),
    CalibrationArm("fitonly", options=("-k", "fit", "--bench-fit-rounds", "16"), label="the fit only, 16 rounds"),
    *(CalibrationArm(f"wait{f}", options=("--bench-inject-wait", f), label=f"every step waits {f}x its own duration")
      for f in ("1.03", "1.05", "1.10")),
)


def bench_arms() -> list[ab.Arm]:
    return [ab.Arm(a.name, sys.executable, CHECKOUT, (*TIMED_ARGS, *a.options), prefix=("env", *a.env) if a.env else ())
            for a in ARMS]


def collect(out_dir: Path, *, cycles: int) -> None:
    """Every arm once a cycle, in a fresh random order, one process at a time, into a new folder (one session)."""
    ab.check_repeats(cycles, guard=0, option="--cycles")
    ab.check_out_dir(out_dir, default="a new folder per collection")
    ab.run_interleaved(bench_arms(), repeats=cycles, out_dir=out_dir, session=f"calibration-{files.stamp()}",
                       shuffle=SEED, together=1)


def main(argv: list[str] | None = None) -> int:
    parser, _ = study.parser(PROG, cycles=16)
    args = parser.parse_args(argv)

    def body() -> None:
        if args.command == "collect":
            collect(args.out_dir, cycles=args.cycles)
        else:
            from mnist_ref.reporting import calibration

            study.write_page(PROG, argv, args, calibration.render)

    return study.main("calibration study", body)


if __name__ == "__main__":
    sys.exit(main())
