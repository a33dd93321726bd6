"""Does the steady measure (instruction counts) catch small real slowdowns, without false alarms?

    python -m mnist_ref.validation.steady calibrate --out results/steady-validation/calibration.json
    python -m mnist_ref.validation.steady collect --levels steps=0.03 steps=0.05 work=0.125 steps=1 --cycles 10 \
        --out-dir results/steady-validation
    python -m mnist_ref.validation.steady analyse results/steady-validation --out results/steady-validation.md

calibrate: what a level of injected work (model.extra_work_layer: N extra products in every step, weights
bit-identical) costs in *time*, all cores, as users run it: one process holds a model per level and trains
an epoch of each in turn, cycle after cycle (the order rotating), so drift hits every level alike; each
level's median epoch over the book model's is its true size.
collect: bench processes counting instructions (`--bench-measure instructions`, the book's batch-32 fit), per
cycle two unchanged ones (same1, same2) and one per level, two at a time (one a core). A level is either
work=N (N extra products in every step: real CPU work inside the step; the smallest, 0.125, already costs
about 12% of the step's time here, since any extra operation costs its dispatch) or steps=F (F more batches
a round: more of the step's own work in its own mix, true size F by construction; how 3% and 5% are made).
analyse: every comparison through `mnist-ref compare`'s own code, with the thresholds fixed in
gate/compare.py before the runs were collected.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from mnist_ref.gate import ab, compare
from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import CHECKOUT
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.reporting.tables import provenance, table
from mnist_ref.store import rounds
from mnist_ref.store.files import BenchFile
from mnist_ref.store.measures import Measure
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import gate as gate_validation
from mnist_ref.validation import study

PROG = "mnist_ref.validation.steady"
BENCH_ARGS = ab.bench_args(select="test_fit and not floor", measure=Measure.INSTRUCTIONS)
KINDS = {"work": "--bench-inject-work", "steps": "--bench-inject-steps"}
CALIBRATION_LEVELS = (0.125, 0.25, 0.5, 1.0, 4.0)
SAME = ("same1", "same2")


def level_name(products: float) -> str:
    return f"work{products:g}"


def parse_level(text: str) -> tuple[str, float]:
    """'steps=0.05' or 'work=0.125' -> (kind, amount)."""
    kind, _, amount = text.partition("=")
    if kind not in KINDS:
        raise MnistRefError(f"a level is steps=FRACTION or work=PRODUCTS, got {text!r}")
    return kind, float(amount)


def calibrate(levels: tuple[float, ...], *, cycles: int) -> dict:
    """Seconds of one full book epoch (60,000 images, batch 32) per level of extra work, interleaved in one process."""
    from mnist_ref.core import dataset, framework
    from mnist_ref.core.config import Config
    from mnist_ref.core.model import build_model, compile_model
    from mnist_ref.core.walkthrough import fit_epoch

    cfg = Config()
    data = dataset.prepare(dataset.load_raw())
    framework.set_seed(cfg.seed)
    models = {}
    for level in (0.0, *levels):
        model = build_model(extra_work=level)
        compile_model(model, cfg)
        fit_epoch(model, data, cfg, epoch=0)  # warm-up: tracing
        models[level] = model
    seconds: dict[float, list[float]] = {level: [] for level in models}
    order = list(models)
    for cycle in range(cycles):
        for level in order[cycle % len(order) :] + order[: cycle % len(order)]:
            start = time.perf_counter()
            fit_epoch(models[level], data, cfg, epoch=cycle + 1)
            seconds[level].append(time.perf_counter() - start)
        print(
            f"cycle {cycle + 1}/{cycles}: " + ", ".join(f"{level:g}: {s[-1]:.2f} s" for level, s in seconds.items()),
            flush=True,
        )
    book = statistics.median(seconds[0.0])
    from mnist_ref.core import environment

    return {
        "what": "seconds of one book epoch (60,000 images, batch 32, all cores) per level of extra products, "
        "interleaved in one process",
        "environment": environment.capture(),
        "cycles": cycles,
        "levels": [
            {
                "products": level,
                "seconds": s,
                "median_s": statistics.median(s),
                "time_ratio": statistics.median(s) / book,
            }
            for level, s in seconds.items()
        ],
    }


def arms(python: str, root: Path, levels: list[str]) -> list[ab.Arm]:
    out = [ab.Arm(name, python, root, BENCH_ARGS) for name in SAME]
    for text in levels:
        kind, amount = parse_level(text)
        out.append(ab.Arm(f"{kind}{amount:g}", python, root, (*BENCH_ARGS, f"{KINDS[kind]}={amount:g}")))
    return out


def _judge(base: list[BenchFile], new: list[BenchFile]) -> compare.Result:
    return compare.compare(base, new, compare.Policy(only_common=True))


def _fit(result: compare.Result) -> compare.PathVerdict:
    return next(v for v in result.paths if v.path == "fit" and not v.key.floor)


def comparisons(all_runs: dict[str, list[BenchFile]], *, per_side: int) -> dict[str, list[compare.Result]]:
    """arm -> results. One process a side (separate runs): A/A is same1[i] vs same2[i], same2[i] vs
    same1[i + 1] and same1[i] vs same1[i + 1]; a level is its process of cycle i against same1[i], same2[i]
    and same1[i + 1]. Distinct pairs of processes, each once; pairs share processes, so n counts comparisons,
    not independent samples. Two a side (`ab`):
    the processes of cycles i and i + 1 against the unchanged ones of the same cycles, A/A same1 vs same2."""
    same1, same2 = all_runs.get("same1", []), all_runs.get("same2", [])
    n = min(len(same1), len(same2))
    out: dict[str, list[compare.Result]] = {}
    if per_side == 1:
        out["A/A"] = (
            [_judge([same1[i]], [same2[i]]) for i in range(n)]
            + [_judge([same2[i]], [same1[i + 1]]) for i in range(n - 1)]
            + [_judge([same1[i]], [same1[i + 1]]) for i in range(n - 1)]
        )
        for arm, files in all_runs.items():
            if arm not in SAME:
                out[arm] = [
                    _judge([base], [files[i]])
                    for i in range(min(n, len(files)))
                    for base in (same1[i], same2[i], *(same1[i + 1 : i + 2] if i + 1 < n else []))
                ]
        return out
    windows = [range(i, i + per_side) for i in range(0, n - per_side + 1)]
    out["A/A"] = [_judge([same1[j] for j in w], [same2[j] for j in w]) for w in windows]
    for arm, files in all_runs.items():
        if arm not in SAME:
            out[arm] = [_judge([same1[j] for j in w], [files[j] for j in w]) for w in windows if w[-1] < len(files)]
    return out


def _expected(arm: str) -> str:
    return "no change" if arm == "A/A" else "slower"


def _tally(arm: str, results: list[compare.Result]) -> study.Tally:
    return study.Tally.of(arm, [_fit(r).verdict for r in results], _expected(arm))


def tally(result: SteadyStudy, arm: str, *, per_side: int = 1) -> study.Tally:
    """One arm's verdicts with per_side processes a side, as the page's count column gives them (other pages quote
    it)."""
    return _tally(arm, result.comparisons[per_side][arm])


def _row(arm: str, results: list[compare.Result], truth: dict[str, str]) -> list[str]:
    expected = _expected(arm)
    verdicts = [_fit(r).verdict for r in results]
    ratios = [_fit(r).ratio for r in results]
    counts = ", ".join(f"{v} {verdicts.count(v)}" for v in dict.fromkeys(sorted(verdicts)))
    return [
        arm,
        truth.get(arm, "1.00x" if arm == "A/A" else ""),
        str(len(results)),
        f"{verdicts.count(expected)}/{len(verdicts)}",
        counts,
        f"{min(ratios):.4f}x - {max(ratios):.4f}x" if ratios else "",
    ]


@dataclasses.dataclass(frozen=True)
class SteadyStudy:
    """What the collected runs say, before any of it is written: the environment, the time calibration (when made),
    each arm's median count, each level's true size, the first unchanged processes, and every comparison with one
    and with two processes a side."""

    folder: Path
    env: Provenance
    calibration: dict | None
    counts: dict[str, float]  # arm -> median over processes of each process' median round
    book: float  # the unchanged processes' median
    truth: dict[str, str]  # arm -> its true size, in words
    first_same: list[float]  # the first unchanged processes' median rounds
    comparisons: dict[int, dict[str, list[compare.Result]]]  # processes a side -> arm -> results


def analyse(folder: Path) -> SteadyStudy:
    """Every comparison of a collected folder through `mnist-ref compare`'s own code, and the sizes they are judged
    against."""
    all_runs = study.runs(folder)
    if "same1" not in all_runs or "same2" not in all_runs:
        raise MnistRefError(f"{folder}: no same1/ and same2/ runs; collect them first")
    calibration_path = folder / "calibration.json"
    calibration = json.loads(calibration_path.read_text()) if calibration_path.is_file() else None
    truth: dict[str, str] = {}
    for level in (calibration or {}).get("levels", []):
        truth[level_name(level["products"])] = f"{level['time_ratio']:.3f}x (time, calibrated)"
    unchanged_steps = _steps(all_runs["same1"][0])
    for arm, files in all_runs.items():
        if arm.startswith("steps"):
            truth[arm] = (
                f"{_steps(files[0]) / unchanged_steps:.3f}x ({_steps(files[0])} counted steps for {unchanged_steps})"
            )
    return SteadyStudy(
        folder,
        all_runs["same1"][0].provenance,
        calibration,
        {arm: statistics.median(_median_fit(f) for f in files) for arm, files in all_runs.items()},
        statistics.median([_median_fit(f) for f in all_runs["same1"] + all_runs["same2"]]),
        truth,
        [_median_fit(f) for f in all_runs["same1"][:5]],
        {per_side: comparisons(all_runs, per_side=per_side) for per_side in (1, 2)},
    )


def render(folder: Path, *, command: str) -> str:
    """results/steady-validation.md from a collected folder: analyse, then page, quoting the timed gate's study beside
    it (results/gate-validation/) from its data, where there is one."""
    timed = folder.parent / "gate-validation"
    seconds = gate_validation.contrast(gate_validation.analyse(timed)) if (timed / "same1").is_dir() else None
    return page(analyse(folder), command=command, seconds=seconds)


def _contrast(c: gate_validation.Contrast | None) -> str:
    if c is None:
        return "No study of the timed gate lies beside this one (gate-validation/)."
    caught = " and ".join(f"{t.fraction} {t.expect} of {t.name}" for t in c.caught)
    clean = (
        f"interleaved runs needed {c.clean_width} processes a side to keep every A/A window clean"
        if c.clean_width
        else "no interleaved window width kept every A/A window clean"
    )
    return (
        f"[gate-validation.md](gate-validation.md) measured the timed gate on the same VM type ({c.processes} "
        f"processes, {c.started}): unchanged code moved by up to {c.widest_aa:.2f}x in fit between two processes, "
        f"two separate runs gave {caught}, and {clean}. Its slowdowns were sleeps; no fresh all-cores set was "
        "collected beside these counts."
    )


def page(result: SteadyStudy, *, command: str, seconds: gate_validation.Contrast | None = None) -> str:
    """The study's page: a headline, what each level costs, then the verdicts with one and two processes a side."""
    folder, env, calibration, counts, book, truth = (
        result.folder,
        result.env,
        result.calibration,
        result.counts,
        result.book,
        result.truth,
    )
    calibration_rows = [
        [
            f"{level['products']:g}",
            f"{level['median_s']:.3f}",
            f"{min(level['seconds']):.3f} - {max(level['seconds']):.3f}",
            f"{level['time_ratio']:.3f}x",
        ]
        for level in (calibration or {}).get("levels", [])
    ]
    separate = [_tally(arm, rs) for arm, rs in result.comparisons[1].items() if rs]
    lines = [
        "# Does the steady measure catch small real slowdowns?",
        "",
        f"**Instruction counts, one process a side, on the book's fit: {study.verdict_summary(separate)}.**",
        "",
        "Each process is `pytest bench --benchmark-only "
        + " ".join(BENCH_ARGS)
        + "`: under callgrind, single-threaded, the book's batch-32 fit counted from its second batch to its last (39 "
        "steps a round, 4 rounds after an uncounted warm-up epoch). Arms per cycle, two processes at a time: `same1`, "
        "`same2` unchanged; `workN` with N extra products in every step (`--bench-inject-work N`: real CPU work "
        "inside the step, weights bit-identical); `stepsF` with F more batches a round (`--bench-inject-steps F`: "
        "more of the step's own work in its own mix; whole batches, so 0.03 of 40 batches is 1 batch, 2.6% of the 39 "
        "counted steps, and 0.05 is 2 batches, 5.1%).",
        "",
        "The rules were fixed in code (`INSTRUCTION_THRESHOLDS` in mnist_ref/gate/compare.py, "
        + ", ".join(f"{p} {t:g}x" for p, t in compare.INSTRUCTION_THRESHOLDS.items())
        + ", with the one-sided Mann-Whitney test at alpha 0.05) and committed before these runs were collected.",
        "",
        "## What each level costs: time (all cores) and instructions",
        "",
    ]
    if calibration_rows:
        lines += [
            "True size in time, from `calibrate` (one process, every level's model trained an epoch in turn, "
            f"{calibration['cycles']} cycles, all cores, as users run it):",
            "",
            table(
                calibration_rows, ["extra products", "median epoch (s)", "range (s)", "time / book"], label_columns=1
            ),
            "",
        ]
    count_rows = [[arm, f"{counts[arm] / 1e6:.2f}", f"{counts[arm] / book:.4f}x"] for arm in counts]
    lines += [
        "Counted (median over processes of each process' median round):",
        "",
        table(count_rows, ["arm", "M instructions a round", "count / unchanged"], label_columns=1),
        "",
    ]
    same1 = [m / 1e6 for m in result.first_same]
    lines += [
        f"The first {len(same1)} unchanged processes (`same1`), median round: "
        + ", ".join(f"{m:.2f}" for m in same1)
        + f" M instructions; max / min {max(same1) / min(same1):.4f}x.",
        "",
    ]
    for per_side, title in (
        (1, "One process a side (`mnist-ref compare A.json B.json`, and what `mnist-ref ab` counts by default)"),
        (2, "Two processes a side (`mnist-ref ab --repeats 2`)"),
    ):
        results = result.comparisons[per_side]
        rows = [_row(arm, rs, truth) for arm, rs in results.items() if rs]
        how = (
            "A/A: same1 against same2 of a cycle, same2 against the next cycle's same1, same1 against the next same1; "
            "a level: its process against same1 and same2 of its cycle and the next cycle's same1. "
            if per_side == 1
            else "Two consecutive cycles a side: A/A same1 against same2, a level against same1, in sliding windows. "
        )
        lines += [
            f"## {title}",
            "",
            how + "Pairs share processes, so n counts comparisons, not independent samples. "
            "'expected verdict' counts 'no change' for A/A and 'slower' for the levels (the book's fit).",
            "",
            table(
                rows,
                ["comparison", "true size", "n", "expected verdict", "verdicts (book fit)", "count ratio new/base"],
                label_columns=2,
            ),
            "",
        ]
    lines += [
        "## For contrast: seconds, all cores",
        "",
        _contrast(seconds),
        "",
    ]
    lines += provenance(
        f"Generated by `{command}` from the bench JSON under `{folder.name}/` (one folder per arm). Machine: "
        f"{env.machine}; Python {env.python}, Keras {env.keras}, {env.backend} {env.backend_version}."
    )
    return "\n".join(lines)


def _steps(f: BenchFile) -> int:
    return next(m.info.steps_per_round for m in f.measured if m.path == "fit")


def _median_fit(f: BenchFile) -> float:
    return next(rounds.median(m.rounds) for m in f.measured if m.path == "fit" and not m.key.floor)


def collect(out_dir: Path, *, cycles: int, levels: list[str]) -> None:
    ab.run_interleaved(
        arms(sys.executable, CHECKOUT, levels),
        repeats=cycles,
        out_dir=out_dir,
        session="steady-validation",
        alternate=False,
        together=2,
    )


def _options(sub) -> dict:
    sub.choices["collect"].add_argument(
        "--levels", nargs="+", required=True, help="steps=FRACTION or work=PRODUCTS, each an arm"
    )
    cal = sub.add_parser("calibrate")
    cal.add_argument("--levels", type=float, nargs="+", default=list(CALIBRATION_LEVELS))
    cal.add_argument("--cycles", type=int, default=8)
    cal.add_argument("--out", type=Path, required=True)

    def calibrate_command(args) -> None:
        atomic.write_text(args.out, json.dumps(calibrate(tuple(args.levels), cycles=args.cycles), indent=2) + "\n")
        print(f"wrote {args.out}")

    return {"calibrate": calibrate_command}


def main(argv: list[str] | None = None) -> int:
    return study.main(
        PROG,
        "steady validation",
        argv,
        cycles=12,
        collect=lambda args: collect(args.out_dir, cycles=args.cycles, levels=args.levels),
        pages=study.one_page(render),
        options=_options,
    )


if __name__ == "__main__":
    sys.exit(main())
