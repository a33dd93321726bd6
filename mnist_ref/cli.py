"""The mnist-ref command: parses arguments, calls the library, prints; errors become one line.

Every import is here at the top: no module of the package imports TensorFlow, JAX, torch, Dask or matplotlib when it is
imported (mnist_ref.core.framework does, once a command asks for a backend), so `--help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

from mnist_ref import __version__
from mnist_ref.core import book, dataset, environment, framework, walkthrough
from mnist_ref.core.config import (
    BOOK_BATCH_SIZE,
    BOOK_EPOCHS,
    DEFAULT_SEED,
    KERAS_SGD_DEFAULT_LEARNING_RATE,
    MODES,
    Config,
)
from mnist_ref.gate import ab, baseline, compare
from mnist_ref.gate.compare import Gate
from mnist_ref.plumbing import atomic, interrupts
from mnist_ref.plumbing.checkout import portable
from mnist_ref.plumbing.errors import ConfigError, ExitCode, MnistRefError, OutputError, ReportError, most_severe
from mnist_ref.reference import oracle
from mnist_ref.reporting import compare as compare_report
from mnist_ref.reporting import index, pages
from mnist_ref.reporting import oracle as oracle_report
from mnist_ref.scale import cluster, data_parallel, launch, sweep
from mnist_ref.store import files, record

PROG = "mnist-ref"


class Outputs:
    """What a command has written so far, for the line an interrupt prints (nothing else reads it)."""

    def __init__(self):
        self.paths: list = []


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


# Each command's --help: what it answers, its exit codes, one example (a test holds the manual and this to each other).
ABOUT = {
    "train": (
        "Does this stack reproduce the book? Walks the seven steps (dataset, model, compile, fit, history, evaluate, "
        "predict), prints what the book prints and one verdict line, and writes a run record.",
        "0 trained (the last line says whether the test accuracy is inside the band); 4 a data-parallel worker failed "
        "or hung; 2 bad input (data, options, device, backend); 130/143 interrupted",
        "mnist-ref train --seed 42",
    ),
    "sweep": (
        "How does the test accuracy spread over seeds? Trains the book's model once per seed (here, or as Dask tasks) "
        "and records each accuracy and the band they give.",
        "0 every configuration has a band; 4 a configuration had too few seeds that trained (the others written); 2 "
        "bad input",
        "mnist-ref sweep --seeds 12 --batch-size 32 128 --jobs 2",
    ),
    "report": (
        "What do these bench and sweep files say? Markdown tables and plots, written all or none.",
        "0 pages written; 2 bad input or a page that cannot be written (nothing replaced)",
        "mnist-ref report results/bench/cpu-tensorflow-1.json --out-dir /tmp/pages",
    ),
    "versions": (
        "What changed between TensorFlow versions? Merges the tox envs' results into results/tf-versions.md.",
        "0 written; 2 bad input",
        "mnist-ref versions results/tox --envs tf215 tf221",
    ),
    "compare": (
        "Did a new run get slower, less accurate or stop reproducing? Judges it against a baseline, case by case.",
        "0 no regression; 1 slower (under --perf fail); 2 bad input, or a case or path missing from a side; "
        "3 incorrect (band, divergence, prediction, weights, oracle); 5 not judged here and now (a contended "
        "machine, too few rounds): rerun",
        "mnist-ref compare /tmp/new.json   (against the committed baseline)",
    ),
    "ab": (
        "Is environment B slower than A on this machine? Counts both sides' instructions (work), then runs a timed "
        "guard (wall over CPU: waiting; the clock decides between two stacks), into a new folder, and compares "
        "exactly those runs, each verdict naming its measure.",
        "0 no change; 1 slower (under --perf fail); 2 bad input; 3 incorrect (as "
        "compare); 5 not judged (a contended guard process, too few processes): rerun",
        "mnist-ref ab --a .tox/tf220 --b .venv",
    ),
    "baseline": (
        "Make a bench run the committed baseline: prints what changed, refuses a run that would hide regressions "
        "(partial, injected, empty, counted, contended, incorrect, or narrower without --allow-narrower).",
        "0 replaced; 2 refused (the current baseline untouched)",
        "mnist-ref baseline /tmp/b.json",
    ),
    "oracle": (
        "Does this backend compute the book's math? One Keras SGD step against the hand-written NumPy reference.",
        "0 matches; 3 differs; 2 bad input",
        "mnist-ref oracle --backend jax",
    ),
    "env": (
        "What environment would a record carry? The capture (versions, CPU, GPUs, commit) as JSON.",
        "0; 2 bad input",
        "mnist-ref env --backend torch",
    ),
}


def _command_parser(sub, name: str, *, help: str) -> argparse.ArgumentParser:
    """A subcommand whose --help opens with what it answers and ends with its exit codes and an example."""
    answers, codes, example = ABOUT[name]
    return sub.add_parser(
        name,
        help=help,
        description=answers,
        epilog=f"exit codes: {codes}\nexample: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_backend_option(parser: argparse.ArgumentParser, *, grid: bool = False) -> None:
    parser.add_argument(
        "--backend",
        default=None,
        **({"nargs": "+"} if grid else {}),
        help="Keras 3 backend"
        + ("s" if grid else "")
        + ": tensorflow, jax or torch (default: $KERAS_BACKEND or tensorflow)",
    )


def _add_placement_options(parser: argparse.ArgumentParser) -> None:
    """--device, --replicas and --data-dir, the same for every command that trains."""
    parser.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N (default: %(default)s)")
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="data-parallel devices per process (CPU: that many logical devices); the global batch stays --batch-size",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="directory with the MNIST IDX files or mnist.npz (default: $MNIST_REF_DATA, else Keras' download)",
    )


def _add_run_options(parser: argparse.ArgumentParser, *, grid: bool = False) -> None:
    """The options of one run; with grid, --batch-size and --backend take several values (a sweep's grid)."""
    several = {"nargs": "+"} if grid else {}
    parser.add_argument("--epochs", type=int, default=BOOK_EPOCHS, help="training epochs (book: %(default)s)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=[BOOK_BATCH_SIZE] if grid else BOOK_BATCH_SIZE,
        **several,
        help="batch size" + ("s, one output file each" if grid else "") + f" (book: {BOOK_BATCH_SIZE})",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=KERAS_SGD_DEFAULT_LEARNING_RATE,
        help="SGD learning rate (Keras default: %(default)s)",
    )
    _add_backend_option(parser, grid=grid)
    _add_placement_options(parser)
    parser.add_argument(
        "--mode", default="book", choices=MODES, help="book: Keras defaults; tuned: steps_per_execution + XLA"
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="force deterministic kernels (TensorFlow op determinism, torch deterministic algorithms, XLA "
        "deterministic GPU ops for JAX)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""

    parser = _Parser(
        prog=PROG,
        description="The classic Keras MNIST model as a reproducible, measurable reference: does my stack "
        "reproduce the book, how fast is it here, what changed between versions, CPU or GPU at which batch size.",
        epilog="exit codes: 0 ok; 1 slower (compare, ab); 2 bad input or something missing; 3 incorrect "
        "(compare, ab, oracle); 4 incomplete: a worker failed (train), too few seeds (sweep); "
        "5 not judged, rerun (compare, ab); 130/143 interrupted\nexample: mnist-ref train --seed 42",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = _command_parser(sub, "train", help="walk the book's seven steps and write a run record")
    _add_run_options(train)
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for every generator (default: %(default)s)")
    train.add_argument(
        "--validation-split",
        type=float,
        default=0.0,
        help="fraction of the training set held out for validation (book: 0)",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run record path (default: results/runs/<time>-seed<seed>-<fingerprint>.json)",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=1,
        help="data-parallel worker processes (jax backend); alone: started on this host; with --coordinator: this is "
        "one of them",
    )
    train.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="address of worker 0 in a multi-host run (default: $MNIST_REF_COORDINATOR)",
    )
    train.add_argument(
        "--process-id",
        type=int,
        default=None,
        help="this worker's index, 0 on the coordinator's host (default: $MNIST_REF_PROCESS_ID)",
    )
    train.add_argument(
        "--worker-timeout",
        type=_bounded(float, 1, 7 * 24 * 3600),
        default=None,
        help="seconds after which workers started here are stopped (default: 3600)",
    )

    sweep_cmd = _command_parser(
        sub, "sweep", help="train several seeds and record their test accuracies (derives the bands)"
    )
    _add_run_options(sweep_cmd, grid=True)
    sweep_cmd.add_argument(
        "--seeds", type=_bounded(int, 2, 10_000), default=12, help="number of seeds, 0..N-1 (default: %(default)s)"
    )
    sweep_cmd.add_argument(
        "--jobs",
        type=_bounded(int, 1, 256),
        default=None,
        help="run seeds as Dask tasks on a local cluster of this many worker processes (default: one after another "
        "here)",
    )
    sweep_cmd.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run seeds as Dask tasks on a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (needs mnist-ref[cluster])",
    )
    sweep_cmd.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON path of a one-configuration sweep (default: OUT_DIR/bs<batch>-<backend>-<mode>.json)",
    )
    sweep_cmd.add_argument(
        "--out-dir", type=Path, default=None, help="folder of the per-configuration files (default: results/seed-sweep)"
    )
    sweep_cmd.add_argument(
        "--fresh",
        action="store_true",
        help="ignore the completed seeds of an interrupted sweep (OUT.partial.json) and start over",
    )

    report = _command_parser(sub, "report", help="turn bench and sweep JSON files into markdown tables and plots")
    report.add_argument(
        "files",
        nargs="+",
        type=Path,
        help="pytest-benchmark JSON from bench/, mnist-ref sweep JSON, or folders of them",
    )
    report.add_argument(
        "--allow-partial", action="store_true", help="accept bench files of interrupted or failed sessions"
    )
    report.add_argument(
        "--out-dir",
        type=Path,
        default=Path("results"),
        help="where the markdown and PNG files go (default: %(default)s)",
    )
    report.add_argument(
        "--name",
        type=_page_name,
        default="bench",
        help="base name of the bench table and plots, a plain file name (default: %(default)s)",
    )
    page = report.add_mutually_exclusive_group()
    page.add_argument(
        "--backends",
        dest="kind",
        action="store_const",
        const="backends",
        default="bench",
        help="write results/backends.md instead: backends side by side, runs of a case compared",
    )
    page.add_argument(
        "--distributed",
        dest="kind",
        action="store_const",
        const="distributed",
        help="write results/distributed.md instead: data-parallel runs against one device (speed-up, efficiency)",
    )
    page.add_argument(
        "--history",
        dest="kind",
        action="store_const",
        const="history",
        help="write results/history.md and history.png instead: each case's fit over the runs, in time order, "
        "with what changed and what the gate would have said",
    )

    versions = _command_parser(sub, "versions", help="merge per-tox-env results into the cross-version table")
    versions.add_argument("results_dir", type=Path, help="directory holding one folder per tox env (results/tox)")
    versions.add_argument("--envs", nargs="+", required=True, help="tox env names, in table order")
    versions.add_argument(
        "--out", type=Path, default=Path("results") / "tf-versions.md", help="markdown path (default: %(default)s)"
    )
    versions.add_argument(
        "--allow-partial", action="store_true", help="accept bench files of interrupted or failed sessions"
    )
    versions.add_argument(
        "--study",
        type=Path,
        default=None,
        help="the folder of an interleaved stacks study (python -m mnist_ref.validation.stacks collect): the "
        "speed section and headline come from it, with 95%% intervals (default: none)",
    )

    _add_compare_parsers(sub)

    oracle_cmd = _command_parser(
        sub, "oracle", help="check one Keras SGD step against the hand-written NumPy reference (exit 3 on a mismatch)"
    )
    _add_backend_option(oracle_cmd)
    _add_placement_options(oracle_cmd)
    oracle_cmd.add_argument(
        "--steps",
        type=_bounded(int, 0, 100_000),
        default=100,
        help="steps of the reported trajectory, 0 for none (default: %(default)s)",
    )
    oracle_cmd.add_argument(
        "--seed", type=int, default=None, help="seed of the initial weights (default: the run default)"
    )
    oracle_cmd.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")

    env = _command_parser(sub, "env", help="print the environment capture as JSON")
    _add_backend_option(env)
    return parser


def _bounded(kind, low, high):
    """An argparse type: a finite number of kind (int or float) from low to high, else one usage line."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:  # NaN and infinity fail the comparison
            raise argparse.ArgumentTypeError(
                f"takes a {'whole ' if kind is int else ''}number from {low:g} to {high:g}, got {text!r}"
            )
        return value

    return parse


def _page_name(text: str) -> str:
    """argparse type of report --name: a plain file name that is not the index's."""

    try:
        return index.check_page_name(text)
    except MnistRefError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--name {text!r}: ")) from None


def _threshold(text: str) -> float:
    """argparse type of --threshold: a finite ratio above 1."""
    try:
        return compare.check_threshold(float(text))
    except (ValueError, MnistRefError):
        raise argparse.ArgumentTypeError(
            f"takes a finite time ratio above 1 (1.2 = 20% slower), got {text!r}"
        ) from None


def _add_compare_parsers(sub) -> None:
    def policy_options(parser):
        parser.add_argument(
            "--perf",
            choices=compare.POLICIES,
            default="fail",
            help="a slowdown on the same machine kind: fail (exit 1), warn or off (default: %(default)s)",
        )
        parser.add_argument(
            "--perf-across-machines",
            choices=compare.POLICIES,
            default="warn",
            help="a slowdown measured against another machine (default: %(default)s)",
        )
        parser.add_argument(
            "--threshold",
            type=_threshold,
            default=None,
            help="time ratio new/base, finite and above 1, from which a path can be slower (default: by kind of "
            "comparison)",
        )
        parser.add_argument(
            "--only-common",
            action="store_true",
            help="judge only the cases both sides measured; the baseline's others are listed instead of blocking a "
            "pass",
        )
        parser.add_argument(
            "--out", type=Path, default=None, help="also write the markdown report here (not one of the inputs)"
        )

    cmp = _command_parser(
        sub,
        "compare",
        help="regression verdict: a new bench run against a baseline (exit 0 ok, 1 slower, 2 bad input, 3 incorrect, "
        "5 not judged)",
    )
    cmp.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="[BASELINE] NEW",
        help="bench JSON files or folders; with one argument the committed baseline (results/baseline) is BASELINE",
    )
    cmp.add_argument(
        "--allow-partial", action="store_true", help="accept bench files of interrupted or failed sessions"
    )
    policy_options(cmp)

    run_ab = _command_parser(
        sub, "ab", help="interleaved A/B bench runs of two environments on this machine, then compare"
    )
    run_ab.add_argument(
        "--a",
        default=None,
        help="baseline side: interpreter, virtualenv, tox env folder or checkout (default: this one)",
    )
    run_ab.add_argument("--b", required=True, help="new side, the same kinds")
    run_ab.add_argument(
        "--measure",
        choices=ab.MEASURES,
        default=ab.MEASURES[0],
        help="instructions: count them under callgrind, both sides at once (steady, not time), then the timed "
        "guard (--guard-repeats); time: the clock of 300-step rounds of every path (the bench's "
        "--bench-measure steps), interleaved one process at a time, judged by the Hodges-Lehmann ratio "
        f"with its exact 95%% interval, processes added up to {ab.TIME_BUDGET} a side where it cannot "
        "tell (default: %(default)s)",
    )
    run_ab.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="bench processes per side (default: " + ", ".join(f"{k} {v}" for k, v in ab.DEFAULT_REPEATS.items()) + ")",
    )
    run_ab.add_argument(
        "--guard-repeats",
        type=int,
        default=None,
        help="with --measure instructions, timed-guard processes per side after the counts (--bench-measure "
        "steps: wall over CPU sees a step that waits; the clock judges two stacks); 0 leaves waiting "
        f"unseen (default: {ab.GUARD_REPEATS})",
    )
    run_ab.add_argument("--out-dir", type=Path, default=None, help="where the runs go (default: results/ab/<time>/)")
    run_ab.add_argument(
        "--bench-args",
        default=" ".join(ab.DEFAULT_BENCH_ARGS),
        help="pytest arguments of every run (default: %(default)r)",
    )
    run_ab.add_argument(
        "--b-extra",
        default="",
        metavar="ARGS",
        help="pytest arguments for the B side only, e.g. '--bench-inject-steps 0.05' to check that the gate "
        "sees a known 5%% more work (default: none)",
    )
    policy_options(run_ab)

    base = _command_parser(sub, "baseline", help="make a bench run the committed baseline, printing what changed")
    base.add_argument("new", type=Path, help="bench JSON of a complete run (the smoke bench)")
    base.add_argument("--dir", type=Path, default=None, help="baseline folder (default: results/baseline)")
    base.add_argument(
        "--allow-narrower",
        action="store_true",
        help="accept a run that measures fewer cases or paths than the current baseline (they are listed and dropped)",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the mnist-ref console script."""

    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # a file name that is not valid UTF-8 prints as an escape, not a crash
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    args.argv = argv
    outputs = Outputs()

    def kept() -> str:
        written = outputs.paths
        return f"written before the interrupt: {', '.join(map(str, written))}" if written else "no output was replaced"

    return interrupts.guarded(PROG, lambda: _COMMANDS[args.command](args, outputs), kept=kept)


def _command(args) -> str:
    """The command line as typed, for the pages that record how they were made."""
    return portable(shlex.join([PROG, *args.argv]))


def _cmd_env(args, outputs: Outputs) -> int:
    framework.select_backend(args.backend)
    print(json.dumps(environment.capture(), indent=2))
    return 0


def _config(args, **overrides):
    """The run's Config and data-parallel layout, with the backend selected and the replicas readied."""

    cfg = Config(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        device=args.device,
        deterministic=args.deterministic,
        mode=args.mode,
        replicas=args.replicas,
        **overrides,
    )
    layout = data_parallel.layout(
        cfg, process_id=getattr(args, "process_id", None), coordinator=getattr(args, "coordinator", None)
    )
    data_parallel.select(args.backend, cfg, layout)
    return cfg, layout


def _print_walkthrough(result, band, path) -> None:
    """What the book prints after fit, then one verdict line."""
    print("## training loss and acc ##")
    print(result.history["loss"])
    print(result.history["accuracy"])
    print("## evaluation loss and_metrics ##")
    print([result.evaluate["loss"], result.evaluate["accuracy"]])
    print("## yhat ##")
    print(result.first_prediction)
    accuracy = result.evaluate["accuracy"]
    verdict = (
        "no band for this configuration"
        if band is None
        else (f"band {band.describe()}: {'inside' if band.contains(accuracy) else 'OUTSIDE'}")
    )
    print(
        f"test accuracy {accuracy:.4f}, {verdict}; predicted {result.first_predicted_class} for the first test image; "
        f"fingerprint {result.fingerprint[:16]}; record: {path}"
    )


def _cmd_train(args, outputs: Outputs) -> int:
    if launch.starts_workers(args.workers, args.coordinator):
        print(
            launch.start_here(
                args.argv,
                backend=args.backend,
                replicas=args.replicas,
                workers=args.workers,
                batch_size=args.batch_size,
                mode=args.mode,
                timeout_s=args.worker_timeout,
            ),
            end="",
        )
        return 0
    cfg, layout = _config(args, seed=args.seed, validation_split=args.validation_split, workers=args.workers)
    data_parallel.start(layout)
    raw = dataset.load_raw(args.data_dir)
    # Keras' live progress bar on a terminal; one line per epoch when the output is a file or a pipe.
    verbose = (1 if sys.stdout.isatty() else 2) if layout.chief else 0
    result = walkthrough.run(cfg, raw, verbose=verbose, placement=data_parallel.placement(framework.backend(), layout))
    if not layout.chief:
        return 0  # worker 0 writes the one run record
    document = record.build(result, raw=raw, environment=environment.capture())
    path = files.write_document(args.out or record.default_path(result), document, "run record")
    outputs.paths = [path]
    _print_walkthrough(result, book.band_for(cfg), path)
    return 0


def _cmd_sweep(args, outputs: Outputs) -> int:
    if args.jobs is not None and args.scheduler:
        raise ConfigError("--jobs starts a local Dask cluster and --scheduler uses a running one; pass one of them")
    sweep.check_seed_count(args.seeds)
    cells = _sweep_cells(args)
    raw = dataset.load_raw(args.data_dir)
    with _sweep_executor(args, raw) as execute:
        try:
            outcomes = sweep.run(
                cells, raw, seeds=range(args.seeds), execute=execute, progress=print, resume=not args.fresh
            )
        except KeyboardInterrupt:
            kept = sweep.kept_checkpoints(cells)
            if kept:
                outputs.paths = [
                    f"{', '.join(map(str, kept))} (the completed seeds; the same command resumes from them)"
                ]
            raise
    for outcome, path in sweep.publish(outcomes):
        outputs.paths.append(path)
        print(sweep.summary_line(outcome))
    errors = [o.error for o in outcomes if o.error]
    for error in errors:
        print(f"{PROG}: error: {error}", file=sys.stderr)
    return ExitCode.INCOMPLETE if errors else ExitCode.OK  # some configuration had too few seeds for a band


def _sweep_cells(args):
    """The grid of a sweep: every batch size on every backend, each with its output file."""
    base = Config(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        device=args.device,
        deterministic=args.deterministic,
        mode=args.mode,
        replicas=args.replicas,
    )
    return sweep.grid(
        base, batch_sizes=args.batch_size, backends=args.backend or [None], out=args.out, out_dir=args.out_dir
    )


@contextlib.contextmanager
def _sweep_executor(args, raw):
    if args.jobs is None and not args.scheduler:
        yield sweep.Serial(raw)
        return

    with cluster.connect(jobs=args.jobs, scheduler=args.scheduler) as client:
        yield cluster.DaskExecutor(client, raw)


def _cmd_report(args, outputs: Outputs) -> int:
    loaded = pages.load_inputs(args.files, allow_partial=args.allow_partial)
    rendered = pages.report_pages(loaded, args.out_dir, name=args.name, kind=args.kind, command=_command(args))
    outputs.paths = atomic.write_many(rendered)
    _print_written(outputs.paths)
    return 0


def _print_written(paths: list[Path]) -> None:
    """What a page command wrote, and the index it left alone where a README.md there is not one of ours."""

    print("wrote " + ", ".join(map(str, paths)))
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        if folder / index.INDEX_NAME not in paths:
            print(f"left {folder / index.INDEX_NAME} as it is: it is not a results index")


def _cmd_versions(args, outputs: Outputs) -> int:
    envs = [e for arg in args.envs for e in arg.replace(",", " ").split()]
    outputs.paths = atomic.write_many(
        pages.versions_pages(args.results_dir, envs, args.out, allow_partial=args.allow_partial, study=args.study)
    )
    _print_written(outputs.paths)
    return 0


def _publish_comparison(
    result, outputs: Outputs, *, command: str, out: Path | None, refresh: str, inputs: list[Path]
) -> int:
    """Print the verdict, write the markdown (--out, $GITHUB_STEP_SUMMARY); the most severe of the comparison's
    exit code and a failed write (2), so a verdict is never hidden behind an unwritable report."""
    if isinstance(result, Gate):
        print(compare_report.render_gate_terminal(result))
        markdown = compare_report.render_gate_markdown(result, command=command, refresh=refresh)
    else:
        print(compare_report.render_terminal(result))
        markdown = compare_report.render_markdown(result, command=command, refresh=refresh)
    try:
        _write_reports(markdown, out, inputs=inputs)
    except MnistRefError as exc:
        print(
            f"{PROG}: error: {exc} (the verdict above stands: exit "
            f"{int(most_severe(result.exit_code, exc.exit_code))})",
            file=sys.stderr,
        )
        return most_severe(result.exit_code, exc.exit_code)
    if out:
        outputs.paths.append(out)
        print(f"markdown report: {out}")
    return result.exit_code


def _write_reports(markdown: str, out: Path | None, *, inputs: list[Path]) -> None:
    """--out (atomically) and $GITHUB_STEP_SUMMARY (appended), both or neither where it can be told in advance:
    the summary is opened before --out is written."""

    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    try:
        handle = (
            open(summary, "a", encoding="utf-8", errors="backslashreplace") if summary else contextlib.nullcontext()
        )
        with handle:
            if out:
                _check_not_input(out, inputs)
                atomic.write_text(out, markdown)  # its own errors are OutputError, naming --out
            if summary:
                handle.write(markdown + "\n")
    except OSError as exc:  # only the summary's open, write or close raise these
        raise OutputError(f"cannot append to $GITHUB_STEP_SUMMARY ({summary}): {exc.strerror or exc}") from None


def _check_not_input(out: Path, inputs: list[Path]) -> None:
    """ConfigError when --out names one of the files being compared."""
    target = Path(out).resolve()
    if any(target == p.resolve() for p in files.expand(inputs)):
        raise ConfigError(f"--out {out} is one of the input files; choose another path for the markdown report")


def _cmd_compare(args, outputs: Outputs) -> int:
    if len(args.files) > 2:
        raise ConfigError(
            f"compare takes BASELINE and NEW (files or folders), got {len(args.files)} arguments; "
            "put the files of one side in a folder"
        )
    base_arg, new_arg = args.files if len(args.files) == 2 else [baseline.default_dir(), args.files[0]]
    base = baseline.load_side(base_arg, allow_partial=args.allow_partial)
    new = baseline.load_side(new_arg, allow_partial=args.allow_partial)
    result = compare.compare(base, new, _policy(args))
    refresh = baseline.refresh_command(new_arg if len(args.files) == 1 else None)
    return _publish_comparison(
        result, outputs, command=_command(args), out=args.out, refresh=refresh, inputs=[base_arg, new_arg]
    )


def _policy(args):
    """The gate's policy from the options compare and ab share (policy_options)."""
    return compare.Policy(
        perf=args.perf,
        perf_across_machines=args.perf_across_machines,
        threshold=args.threshold,
        only_common=args.only_common,
    )


def _cmd_ab(args, outputs: Outputs) -> int:
    plan = ab.plan(ab.Request(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ab.Request)}))
    print(plan.describe())
    outputs.paths = [f"{plan.out_dir} (the runs that completed, and a log per run; no comparison)"]  # if interrupted
    result, outputs.paths = ab.run(plan, _policy(args))
    return _publish_comparison(
        result,
        outputs,
        command=_command(args),
        out=plan.out,
        refresh=baseline.refresh_command(None),
        inputs=plan.inputs,
    )


def _cmd_baseline(args, outputs: Outputs) -> int:
    new = [baseline.load_new(args.new)]
    folder = args.dir or baseline.default_dir()
    old = baseline.load_side(folder) if baseline.present(folder) else None
    gone = baseline.check_narrower(old, new[0], allow=args.allow_narrower)
    if gone:
        print(f"dropped from the baseline (--allow-narrower): {', '.join(gone)}")
    if old:
        print("what changed against the current baseline:")
        try:
            print(compare_report.render_terminal(compare.compare(old, new, compare.WARN_ONLY)))
        except ReportError as exc:
            print(f"not comparable with the current baseline: {exc}")
    outputs.paths = [baseline.replace(folder, args.new, allow_narrower=args.allow_narrower)]
    print(f"baseline is now {outputs.paths[0]}")
    return 0


def _cmd_oracle(args, outputs: Outputs) -> int:
    cfg = Config(seed=DEFAULT_SEED if args.seed is None else args.seed, device=args.device, replicas=args.replicas)
    data_parallel.select(args.backend, cfg)
    data = dataset.prepare(dataset.load_raw(args.data_dir))
    document = oracle.run(cfg, data.x_train, data.y_train, steps=max(args.steps, 0))
    print(oracle_report.render(document))
    if args.out:
        outputs.paths = [
            files.write_document(args.out, {**document, "environment": environment.capture()}, "oracle result")
        ]
    return ExitCode.OK if document["matches"] else ExitCode.INCORRECT


_COMMANDS = {
    "train": _cmd_train,
    "sweep": _cmd_sweep,
    "report": _cmd_report,
    "versions": _cmd_versions,
    "compare": _cmd_compare,
    "ab": _cmd_ab,
    "baseline": _cmd_baseline,
    "oracle": _cmd_oracle,
    "env": _cmd_env,
}


def command_names() -> list[str]:
    """Every subcommand, in the order `mnist-ref --help` lists them."""
    return list(_COMMANDS)
