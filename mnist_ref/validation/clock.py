"""Validating the timed-ratio estimator (gate/ratio.py) against slowdowns of known size: the default arm, a second
identical arm (the A/A) and the default arm made slower by a known amount, from one interleaved pool.

    python -m mnist_ref.validation.clock collect --cycles 29 --out-dir results/clock-validation
    python -m mnist_ref.validation.clock analyse results/clock-validation --out results/clock-validation.md

collect runs calibration.py's collect with the validation arms only (the same as `python -m
mnist_ref.validation.calibration collect --arms default default-b wait1.03 wait1.05 wait1.10`): one process of each
arm a cycle, in a fresh random order; waitF is the default arm with `--bench-inject-wait F`, every step waiting F - 1
times its own duration, so that a round is F times as long to within one sleep's overshoot.

The rules, fixed before the runs (RULES below):
- cycle 1 is a warm-up of the machine and is discarded, for every arm;
- per process, each path's median round; the ratio of two arms is gate.ratio.ratio() in its paired form (the two arms'
  processes of one cycle are a pair), exact 95%;
- a ratio "differs" where its interval excludes 1, and is "the same" within +-3% where it lies inside [1/1.03, 1.03];
- each level is judged at each budget (processes a side: 8, `ab`'s 16, the versions study's 20) in COMPARISONS
  comparisons of that many cycles drawn from the usable cycles at random (seeded; the pool allows at most one disjoint
  set of 16 or 20, so the draws overlap); truth is 1 for the A/A and F for waitF.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import sys
from pathlib import Path

from mnist_ref.gate.ratio import Ratio, ratio
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.validation import calibration, study
from mnist_ref.validation.calibration import Pool

PROG = "mnist_ref.validation.clock"
ARMS = ("default", "default-b", "wait1.03", "wait1.05", "wait1.10")
PATHS = ("fit", "evaluate", "predict")


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the analysis does, fixed before the runs."""

    warmup_cycles: int = 1
    same_within: float = 0.03
    budgets: tuple[int, ...] = (8, 16, 20)  # processes a side
    comparisons: int = 20
    seed: int = 34
    levels: tuple[tuple[str, str, float], ...] = (
        ("A/A", "default-b", 1.0),
        ("1.03x wait", "wait1.03", 1.03),
        ("1.05x wait", "wait1.05", 1.05),
        ("1.10x wait", "wait1.10", 1.10),
    )

    @property
    def study_budget(self) -> int:
        """The versions study's processes a side: the budget the headline is about."""
        return max(self.budgets)


RULES = Rules()


@dataclasses.dataclass(frozen=True)
class Level:
    """One known truth on one path judged in repeated comparisons of `budget` cycles, and once on the whole pool."""

    name: str
    arm: str
    truth: float
    path: str
    budget: int
    ratios: tuple[Ratio, ...]  # each comparison's
    whole: Ratio  # on every usable cycle

    @property
    def coverage(self) -> float:
        return sum(r.low <= self.truth <= r.high for r in self.ratios) / len(self.ratios)

    @property
    def different(self) -> float:
        return sum(r.low > 1 or r.high < 1 for r in self.ratios) / len(self.ratios)

    @property
    def median_half_width(self) -> float:
        return statistics.median(r.half_width for r in self.ratios)


@dataclasses.dataclass(frozen=True)
class Validation:
    pool: Pool
    rules: Rules
    levels: tuple[Level, ...]

    def at(self, *, path: str, budget: int) -> list[Level]:
        return [lv for lv in self.levels if lv.path == path and lv.budget == budget]

    def minutes(self, budget: int) -> float:
        """Machine minutes of one comparison at a budget: two arms' processes, start-up included."""
        return 2 * budget * self.pool.process_wall_s / 60


def collect(out_dir: Path, *, cycles: int) -> None:
    calibration.collect(out_dir, cycles=cycles, names=list(ARMS))


def analyse(folder: Path, rules: Rules = RULES) -> Validation:
    """Every level on every path at every budget: the comparisons drawn under the rules, and the whole pool."""
    pool = calibration.read_pool(folder, ARMS, warmup_cycles=rules.warmup_cycles, least=rules.study_budget)
    rng = random.Random(rules.seed)
    draws = {b: [sorted(rng.sample(pool.usable, b)) for _ in range(rules.comparisons)] for b in rules.budgets}
    levels = []
    for name, arm, truth in rules.levels:
        for path in PATHS:

            def between(cycles, path=path, arm=arm) -> Ratio:
                return ratio(pool.medians("default", path, cycles), pool.medians(arm, path, cycles), paired=True)

            whole = between(pool.usable)
            levels += [
                Level(name, arm, truth, path, b, tuple(between(d) for d in draws[b]), whole) for b in rules.budgets
            ]
    return Validation(pool, rules, tuple(levels))


def _hw(x: float) -> str:
    return f"+-{100 * x:.1f}%"


def headline(result: Validation) -> str:
    rules = result.rules
    budget = rules.study_budget
    fits = result.at(path="fit", budget=budget)
    aa = next(lv for lv in fits if lv.truth == 1.0)
    known = [lv for lv in fits if lv.truth != 1.0]
    smaller = "; ".join(
        f"+-{100 * statistics.median(lv.median_half_width for lv in result.at(path='fit', budget=b)):.1f}% at {b}"
        for b in rules.budgets
        if b != budget
    )
    return (
        f"At {budget} processes a side (the versions study's budget), paired by cycle (about "
        f"{result.minutes(budget):.0f} minutes of machine a comparison), the fit's 95% interval held the truth in "
        f"{min(lv.coverage for lv in fits):.0%}-{max(lv.coverage for lv in fits):.0%} of {rules.comparisons} "
        f"comparisons per level, called the A/A different in {aa.different:.0%}, and was "
        f"{_hw(statistics.median(lv.median_half_width for lv in fits))} wide (median; {smaller}); it called "
        + ", ".join(f"the {lv.name} slower in {lv.different:.0%}" for lv in known)
        + "."
    )


def _budget_rows(result: Validation) -> list[list[str]]:
    return [
        [
            lv.name,
            str(lv.budget),
            f"{lv.truth:.2f}",
            f"{lv.coverage:.0%}",
            f"{lv.different:.0%}",
            _hw(lv.median_half_width),
            f"{result.minutes(lv.budget):.0f}",
        ]
        for b in result.rules.budgets
        for lv in result.at(path="fit", budget=b)
    ]


def _path_rows(result: Validation) -> list[list[str]]:
    budget = result.rules.study_budget
    return [
        [
            lv.name,
            lv.path,
            f"{lv.truth:.2f}",
            f"{lv.coverage:.0%}",
            f"{lv.different:.0%}",
            _hw(lv.median_half_width),
            lv.whole.cell(),
            lv.whole.sentence(result.rules.same_within).split(" (")[0],
        ]
        for path in PATHS
        for lv in result.at(path=path, budget=budget)
    ]


def _sets(n: int, size: int) -> str:
    return f"{n} disjoint set{'' if n == 1 else 's'} of {size}"


def _method(result: Validation) -> str:
    rules, pool = result.rules, result.pool
    return (
        "The estimator (`mnist_ref/gate/ratio.py`): per process the median round of each path; the ratio of two arms "
        "is the Hodges-Lehmann estimate of the shift in log medians, with its exact distribution-free 95% interval, "
        "in the paired (Wilcoxon signed-rank) form, the two arms' processes of one cycle being a pair. The truth: 1 "
        "for two identical arms (A/A); F for an arm whose every step waits F - 1 times its own duration "
        "(`--bench-inject-wait F`, exact over a round to within one sleep's overshoot). A process timed "
        f"{pool.rounds_a_process('fit')} fit rounds and {pool.rounds_a_process('evaluate')} of evaluate and predict, "
        f"300 steps each. Each level was judged at {', '.join(map(str, rules.budgets))} processes a side, in "
        f"{rules.comparisons} comparisons of that many cycles drawn at random from the {len(pool.usable)} usable ones "
        f"(seed {rules.seed}; they hold "
        + ", ".join(_sets(len(pool.usable) // b, b) for b in rules.budgets)
        + ", so the draws overlap and the coverage is of overlapping comparisons), and once on all "
        f"{len(pool.usable)}. 'Different': the interval excludes 1; 'the same': it lies within "
        f"+-{100 * rules.same_within:.0f}%. Rules fixed before the runs (`mnist_ref/validation/clock.py`)."
    )


def render(folder: Path, *, command: str) -> str:
    result = analyse(folder)
    pool, budget = result.pool, result.rules.study_budget
    lines = [
        "# Validation: the timed ratio against slowdowns of known size",
        "",
        headline(result),
        "",
        _method(result),
        "",
        "The fit at each budget:",
        "",
        table(
            _budget_rows(result),
            [
                "level",
                "processes a side",
                "truth",
                "interval held the truth",
                "called different",
                "median half-width",
                "minutes a comparison",
            ],
            label_columns=2,
        ),
        "",
        f"Every path at {budget} processes a side, and on the whole pool:",
        "",
        table(
            _path_rows(result),
            [
                "level",
                "path",
                "truth",
                "interval held the truth",
                "called different",
                "median half-width",
                f"all {len(pool.usable)} cycles",
                "answer",
            ],
            label_columns=2,
        ),
        "",
        f"A process takes about {pool.process_wall_s:.0f} s here, start-up included.",
        "",
    ]
    return "\n".join(lines + provenance(pool.generated_by(command, prog=PROG)))


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "clock validation",
        argv,
        cycles=29,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles),
        pages=study.one_page(render),
    )


if __name__ == "__main__":
    sys.exit(main())
