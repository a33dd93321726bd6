"""The bench's command-line options: declared, checked while pytest configures (each bad value one usage line, never a
traceback or a value recorded and not applied), and read back as this session's batch sizes, modes and devices."""

from __future__ import annotations

import pytest
from timing import COUNTING, MEASURES, STEPS

from mnist_ref.core import framework
from mnist_ref.core.config import MODES
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.store.measures import Measure

DEFAULT_BATCH_SIZES = "32,128,512,2048"
SMOKE_BATCH_SIZES = "32"
DEFAULT_DEVICES = "cpu,gpu"


def add_options(parser) -> None:
    """The --bench-* options, in one group of pytest's help."""
    group = parser.getgroup("mnist-ref", "mnist-ref benchmark matrix")
    group.addoption(
        "--bench-backend", default=None, help="Keras backend for this process (default: $KERAS_BACKEND or tensorflow)"
    )
    group.addoption(
        "--bench-devices", default=DEFAULT_DEVICES, help="comma list of cpu, gpu, gpu:N (default: %(default)s)"
    )
    group.addoption(
        "--bench-batch-sizes",
        default=None,
        help=f"comma list (default: {DEFAULT_BATCH_SIZES}; smoke: {SMOKE_BATCH_SIZES})",
    )
    group.addoption("--bench-modes", default=",".join(MODES), help="comma list of book, tuned (default: %(default)s)")
    group.addoption("--bench-smoke", action="store_true", help="CI mode: batch 32 only")
    group.addoption(
        "--bench-replicas",
        type=int,
        default=1,
        help="train every case data-parallel on this many devices of the process (CPU: logical devices; default: "
        "%(default)s)",
    )
    group.addoption(
        "--bench-measure",
        choices=MEASURES,
        default="time",
        help="time: seconds of the full workload (what users get; moves with the machine's load). instructions: "
        "instructions counted by Valgrind's callgrind over a bounded number of steps a round, single-threaded "
        "(repeatable to a fraction of a percent whatever the machine does; not time; the bench reruns "
        f"itself under valgrind). steps: seconds and CPU seconds of {STEPS.steps} steps a round, all cores (the "
        "regression gate's timed guard: wall over CPU shows a step that waits) (default: %(default)s)",
    )
    group.addoption(
        "--bench-fit-rounds",
        type=int,
        default=None,
        metavar="N",
        help="with --bench-measure steps, time N fit rounds of 300 steps instead of 11 (a calibration study sets it; "
        "default: 11)",
    )
    group.addoption(
        "--bench-inject-work",
        type=float,
        default=0,
        metavar="N",
        help="put N extra (batch x 784) @ (784 x 64) products, forward and backward, into every step of the Keras "
        "model (model.extra_work_layer: real CPU work, bit-identical weights; a fraction is a product with that "
        "share of the 64 columns), for measuring whether a timing responds to a known amount of work; "
        "recorded in the JSON (default: 0)",
    )
    group.addoption(
        "--bench-inject-steps",
        type=float,
        default=0,
        metavar="FRACTION",
        help="train every fit round on that fraction more batches of the same data (0.05: 5%% more steps, rounded to "
        "whole batches): more of the step's own work, in its own mix, for calibrating a measure; recorded in the JSON "
        "(default: 0)",
    )
    group.addoption(
        "--bench-inject-wait",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="make every step of fit, evaluate and predict take FACTOR times as long while doing no more CPU work: a "
        "callback sleeps FACTOR - 1 times the batch's own duration at its end (for validating that the regression "
        "gate sees waiting; recorded in the JSON; default: 1)",
    )
    group.addoption(
        "--bench-inject-slowdown",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="make every timed Keras call take FACTOR times as long, by sleeping inside the timed call "
        "after it returns (for validating the regression gate; recorded in the JSON; default: 1)",
    )


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise pytest.UsageError(f"{option} takes whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise pytest.UsageError(f"{option} needs batch sizes of at least 1, got {text!r}")
    return values


def check(config) -> None:
    """Every option value checked while pytest configures, each bad one a UsageError of one line (not a traceback
    from collection, not a value recorded and never applied)."""
    from mnist_ref.core.model import check_extra_work

    if not 1 <= config.getoption("--bench-inject-slowdown") <= 10:  # NaN and infinity fail this too
        raise pytest.UsageError("--bench-inject-slowdown takes a factor between 1 and 10 (1 = no slowdown)")
    if not 1 <= config.getoption("--bench-inject-wait") <= 10:
        raise pytest.UsageError(
            "--bench-inject-wait takes a factor between 1 and 10 (1 = no wait, 1.5 = every step half as long again)"
        )
    try:
        check_extra_work(config.getoption("--bench-inject-work"))
    except MnistRefError as exc:
        raise pytest.UsageError(f"--bench-inject-work: {exc}") from None
    if not 0 <= config.getoption("--bench-inject-steps") <= 10:
        raise pytest.UsageError("--bench-inject-steps takes a fraction of extra batches between 0 and 10")
    fit_rounds = config.getoption("--bench-fit-rounds")
    if fit_rounds is not None and (measure(config) is not Measure.STEPS or not 1 <= fit_rounds <= 100):
        raise pytest.UsageError("--bench-fit-rounds takes 1 to 100 rounds, with --bench-measure steps only")
    if config.getoption("--bench-replicas") < 1:
        raise pytest.UsageError(
            f"--bench-replicas takes a number of devices of at least 1, got {config.getoption('--bench-replicas')}"
        )
    batch_sizes(config)
    modes(config)
    devices = device_names(config)
    if counting(config) and any(not d.startswith("cpu") for d in devices):
        raise pytest.UsageError(
            "--bench-measure instructions counts CPU instructions under Valgrind, which sees no GPU; "
            "pass --bench-devices cpu (or measure the GPU with --bench-measure time)"
        )
    if counting(config) and config.getoption("--bench-inject-slowdown") > 1:
        raise pytest.UsageError(
            "--bench-inject-slowdown sleeps, and a sleep executes no instructions; "
            "use --bench-inject-work with --bench-measure instructions"
        )


def measure(config) -> Measure:
    """This session's measure (--bench-measure)."""
    return Measure(config.getoption("--bench-measure"))


def counting(config) -> bool:
    """Whether this session counts instructions rather than timing."""
    return measure(config).counted


def batch_sizes(config) -> list[int]:
    """This session's batch sizes."""
    default = SMOKE_BATCH_SIZES if config.getoption("--bench-smoke") else DEFAULT_BATCH_SIZES
    return _int_list(config.getoption("--bench-batch-sizes") or default, "--bench-batch-sizes")


def modes(config) -> list[str]:
    """This session's modes; UsageError naming an unknown one."""
    chosen = [m for m in config.getoption("--bench-modes").split(",") if m]
    unknown = set(chosen) - set(MODES)
    if unknown or not chosen:
        raise pytest.UsageError(f"--bench-modes accepts {', '.join(MODES)}, got {config.getoption('--bench-modes')!r}")
    return chosen


def device_names(config) -> list[str]:
    """This session's devices as named (cpu, gpu, gpu:N); UsageError when none is named."""
    names = [d.strip() for d in config.getoption("--bench-devices").split(",") if d.strip()]
    if not names:
        raise pytest.UsageError(
            f"--bench-devices takes a comma list of cpu, gpu, gpu:N, got {config.getoption('--bench-devices')!r}"
        )
    return names


def measure_record(config) -> dict:
    """The measure and its settings, as the JSON records them."""
    chosen = measure(config)
    if chosen is Measure.STEPS:
        return {"name": chosen.value, "unit": chosen.unit, "steps_per_round": STEPS.steps}
    if not chosen.counted:
        return {"name": chosen.value, "unit": chosen.unit}
    from mnist_ref.measure import instructions

    return {
        "name": chosen.value,
        "unit": chosen.unit,
        "steps_per_round": COUNTING.steps,
        "tool": instructions.tool_version(),
        "options": list(instructions.VALGRIND_OPTIONS),
        "threads": framework.single_thread_environment(),
    }
