"""The benchmark matrix: backend (one per process) x device x batch size x mode, and what every result records."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path

import pytest
from timing import COUNTING, MEASURES, Measure

from mnist_ref.core import framework
from mnist_ref.core.config import MODES, Config
from mnist_ref.gate.ab import SESSION_ENV
from mnist_ref.plumbing import atomic, interrupts
from mnist_ref.plumbing.checkout import portable
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.scale import data_parallel
from mnist_ref.store import files
from mnist_ref.store.files import CASE_FIELDS
from mnist_ref.store.schema import BENCH_SCHEMA, FLOOR_MODE

DEFAULT_BATCH_SIZES = "32,128,512,2048"
SMOKE_BATCH_SIZES = "32"
DEFAULT_DEVICES = "cpu,gpu"
# The reference floor (bench/test_reference_floor.py): the book's training in NumPy, one case per batch size.
FLOOR_BACKEND = "numpy"
# What a session that never reached pytest_sessionfinish counts as.
UNFINISHED = {"partial": True, "outcome": "interrupted", "not_completed": []}


@dataclasses.dataclass
class BenchSession:
    """What one bench session knows beyond pytest-benchmark's own session, kept in config.stash: the backend that
    cannot run here (and why), the cases skipped, each test's outcome, the machine before and after, the oracle's
    verdict, and where the JSON goes (a temporary first, then the target or NAME.partial.json)."""

    backend_missing: tuple[str, str] | None = None
    skipped: dict[str, dict] = dataclasses.field(default_factory=dict)  # case id -> the case and why it was skipped
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)  # nodeid -> passed / skipped / failed
    outcome: dict = dataclasses.field(default_factory=lambda: dict(UNFINISHED))
    machine_start: dict | None = None
    contention: dict | None = None
    oracle: dict | None = None
    json: tuple[Path, Path] | None = None  # (temporary, target)


SESSION = pytest.StashKey[BenchSession]()


def bench_session(config) -> BenchSession:
    """This process's BenchSession (an empty one before pytest_configure made it)."""
    return config.stash.get(SESSION, None) or BenchSession()
@dataclasses.dataclass(frozen=True)
class Case:
    """One cell of the matrix."""

    backend: str
    device: str
    batch_size: int
    mode: str
    # Data-parallel replicas of the session (--bench-replicas), from this case's device on.
    replicas: int = 1

    @property
    def id(self) -> str:
        """The pytest id: backend-device-bs<batch>-mode, with -x<replicas> for a data-parallel case."""
        return f"{self.backend}-{self.device.replace(':', '')}-bs{self.batch_size}-{self.mode}" + (f"-x{self.replicas}" if self.replicas > 1 else "")

    def config(self) -> Config:
        """The book's configuration with this case's batch size, mode, device and replicas (the floor: book mode)."""
        return Config(batch_size=self.batch_size, mode="book" if self.mode == FLOOR_MODE else self.mode, device=self.device,
                      replicas=self.replicas)

    @property
    def layout(self) -> data_parallel.Layout:
        """The case's data-parallel layout: its replicas in this one process."""
        return data_parallel.Layout(self.replicas)

    def scope(self):
        """Where this case's model is built, trained and timed: its device, or the strategy over its replicas."""
        return data_parallel.scope(self.backend, self.layout, self.device)


def pytest_addoption(parser):
    group = parser.getgroup("mnist-ref", "mnist-ref benchmark matrix")
    group.addoption("--bench-backend", default=None, help="Keras backend for this process (default: $KERAS_BACKEND or tensorflow)")
    group.addoption("--bench-devices", default=DEFAULT_DEVICES, help="comma list of cpu, gpu, gpu:N (default: %(default)s)")
    group.addoption("--bench-batch-sizes", default=None, help=f"comma list (default: {DEFAULT_BATCH_SIZES}; smoke: {SMOKE_BATCH_SIZES})")
    group.addoption("--bench-modes", default=",".join(MODES), help="comma list of book, tuned (default: %(default)s)")
    group.addoption("--bench-smoke", action="store_true", help="CI mode: batch 32 only")
    group.addoption("--bench-replicas", type=int, default=1,
                    help="train every case data-parallel on this many devices of the process (CPU: logical devices; default: %(default)s)")
    group.addoption(
        "--bench-measure", choices=MEASURES, default="time",
        help="time: seconds of the full workload (what users get; moves with the machine's load). instructions: "
             "instructions counted by Valgrind's callgrind over a bounded number of steps a round, single-threaded "
             "(repeatable to a fraction of a percent whatever the machine does; not time). The bench reruns "
             "itself under valgrind (default: %(default)s)",
    )
    group.addoption(
        "--bench-inject-work", type=float, default=0, metavar="N",
        help="put N extra (batch x 784) @ (784 x 64) products, forward and backward, into every step of the Keras "
             "model (model.extra_work_layer: real CPU work, bit-identical weights; a fraction is a product with that "
             "share of the 64 columns), for measuring whether a timing responds to a known amount of work; "
             "recorded in the JSON (default: 0)",
    )
    group.addoption(
        "--bench-inject-steps", type=float, default=0, metavar="FRACTION",
        help="train every fit round on that fraction more batches of the same data (0.05: 5%% more steps, rounded to whole "
             "batches): more of the step's own work, in its own mix, for calibrating a measure; recorded in the JSON (default: 0)",
    )
    group.addoption(
        "--bench-inject-slowdown", type=float, default=1.0, metavar="FACTOR",
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


def _expand_devices(names: list[str]) -> list[str]:
    """'gpu' means every GPU the backend sees, or gpu:0 (skipped as not present) when it sees none."""
    present = framework.list_devices()
    out: list[str] = []
    for name in names:
        if name == "gpu":
            out += [d for d in present if d.startswith("gpu")] or ["gpu:0"]
        else:
            out.append(framework.normalize_device(name))
    return out


def _count_instructions(config) -> None:
    """--bench-measure instructions: run this very pytest command again under callgrind, single-threaded, as a child
    (once there, count with the instructions timer); this process waits for it, removes its dump folder whatever
    happened, and ends with its exit code. An interrupt stops the child first (interrupts.run_child), which then
    writes what it measured as a partial file."""
    from mnist_ref.measure import instructions

    if config.getoption("--bench-inject-slowdown") > 1:
        raise pytest.UsageError("--bench-inject-slowdown sleeps, and a sleep executes no instructions; "
                                "use --bench-inject-work with --bench-measure instructions")
    if instructions.on_valgrind():
        config.option.benchmark_timer = instructions.TIMER_NAME
        config.option.benchmark_disable_gc = True  # a collection inside one round and not the next moves its count
        return
    folder = instructions.dump_folder()
    try:
        command = instructions.valgrind_command([sys.executable, "-m", "pytest", *config.invocation_params.args], folder)
    except MnistRefError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise pytest.UsageError(str(exc)) from None
    env = {**os.environ, **framework.single_thread_environment(), instructions.OUT_ENV: str(folder)}
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    interrupts.raise_on_sigterm()
    try:
        code = interrupts.run_child(command, env=env, cwd=config.invocation_params.dir)
    except KeyboardInterrupt as exc:
        code = interrupts.exit_code(exc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the child's session was this command's; nothing of this process's own is left to run


def _check_options(config) -> None:
    """Every option value checked while pytest configures, each bad one a UsageError of one line (not a traceback
    from collection, not a value recorded and never applied)."""
    from mnist_ref.core.model import check_extra_work

    if config.getoption("--bench-inject-slowdown") < 1:
        raise pytest.UsageError("--bench-inject-slowdown takes a factor of at least 1 (1 = no slowdown)")
    try:
        check_extra_work(config.getoption("--bench-inject-work"))
    except MnistRefError as exc:
        raise pytest.UsageError(f"--bench-inject-work: {exc}") from None
    if not 0 <= config.getoption("--bench-inject-steps") <= 10:
        raise pytest.UsageError("--bench-inject-steps takes a fraction of extra batches between 0 and 10")
    if config.getoption("--bench-replicas") < 1:
        raise pytest.UsageError(f"--bench-replicas takes a number of devices of at least 1, got {config.getoption('--bench-replicas')}")
    batch_sizes(config)
    modes(config)
    devices = device_names(config)
    if config.getoption("--bench-measure") == "instructions" and any(not d.startswith("cpu") for d in devices):
        raise pytest.UsageError("--bench-measure instructions counts CPU instructions under Valgrind, which sees no GPU; "
                                "pass --bench-devices cpu (or measure the GPU with --bench-measure time)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Check the options, rerun under callgrind when counting, pick the backend, and send pytest-benchmark's
    JSON to a temporary file (first, so that pytest-benchmark's own configure reads the changed option)."""
    config.addinivalue_line("markers", "floor: the reference floor's benchmarks (NumPy, one case per batch size, no Keras backend)")
    _check_options(config)
    if config.getoption("--bench-measure") == "instructions":
        _count_instructions(config)
    # SIGTERM ends the session like Ctrl-C: pytest finishes it as interrupted and the JSON goes to NAME.partial.json.
    interrupts.raise_on_sigterm()
    session = config.stash[SESSION] = BenchSession()
    session.json = _json_to_temporary(config)
    name = config.getoption("--bench-backend") or os.environ.get(framework.BACKEND_ENV) or framework.DEFAULT_BACKEND
    if name in framework.BACKENDS and not framework.backend_installed(name):
        # Reported as skipped cases with the install command, not as an error.
        session.backend_missing = (name, f"not installed: {framework.INSTALL_HINTS[name]}")
        return
    replicas = config.getoption("--bench-replicas")
    limitation = data_parallel.unsupported(name, data_parallel.Layout(replicas))
    if limitation:
        session.backend_missing = (name, f"not supported: {limitation}")
        return
    try:
        data_parallel.select(name, Config(replicas=replicas))
    except MnistRefError as exc:
        raise pytest.UsageError(str(exc)) from None


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
        raise pytest.UsageError(f"--bench-devices takes a comma list of cpu, gpu, gpu:N, got {config.getoption('--bench-devices')!r}")
    return names


def matrix(config) -> list[Case]:
    """Every case of this session's matrix."""
    sizes = batch_sizes(config)
    names = device_names(config)
    missing = bench_session(config).backend_missing
    if missing:
        backend, devices = missing[0], [framework.normalize_device(d) for d in names]
    else:
        backend, devices = framework.backend(), _expand_devices(names)
    replicas = config.getoption("--bench-replicas")
    return [Case(backend, d, bs, m, replicas) for d in devices for bs in sizes for m in modes(config)]


def skip_reason(case: Case, config) -> str | None:
    """Why a case cannot run here (backend not installed, device not present, mode not applicable), or None."""
    missing = bench_session(config).backend_missing
    if missing:
        return missing[1]
    if case.device not in framework.list_devices():
        return f"not present: the {case.backend} backend sees no {case.device}"
    limitation = data_parallel.unsupported(case.backend, case.layout, case.mode)
    if limitation:
        return f"not supported: {limitation}"
    if case.mode == "tuned" and not framework.tuned_supported():
        return f"not applicable: {framework.tuned_unsupported_reason()}"
    return None


PARAMS = (*CASE_FIELDS, "replicas")


def pytest_generate_tests(metafunc):
    """The matrix as plain parameters (backend, device, batch_size, mode, replicas), so that tools reading
    pytest-benchmark JSON (`pytest-benchmark compare --group-by=param:replicas`) see them; the case fixture
    rebuilds the Case."""
    if "case" not in metafunc.fixturenames:
        return
    params = []
    if metafunc.definition.get_closest_marker("floor"):
        cases = [Case(FLOOR_BACKEND, "cpu:0", bs, FLOOR_MODE) for bs in batch_sizes(metafunc.config)]
    else:
        cases = matrix(metafunc.config)
    for case in cases:
        reason = skip_reason(case, metafunc.config)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(*(getattr(case, f) for f in PARAMS), id=case.id, marks=marks))
        if reason:  # once per case, whichever of its paths met it first
            bench_session(metafunc.config).skipped.setdefault(case.id, {**dataclasses.asdict(case), "reason": reason})
    metafunc.parametrize(",".join(PARAMS), params)


@pytest.fixture
def case(backend, device, batch_size, mode, replicas) -> Case:
    """This test's cell of the matrix."""
    return Case(backend, device, batch_size, mode, replicas)


@pytest.fixture(scope="session")
def extra_work(request) -> int:
    """Extra products in every step of the Keras model (0: the book's model as it is)."""
    return request.config.getoption("--bench-inject-work")


@pytest.fixture(scope="session")
def measure(request) -> Measure:
    """What a round's number is: seconds of the full workload, or instructions over a bounded one."""
    return COUNTING if request.config.getoption("--bench-measure") == "instructions" else Measure()


@pytest.fixture(scope="session")
def extra_steps(request) -> float:
    """The fraction of extra batches in every fit round (0: the book's epoch)."""
    return request.config.getoption("--bench-inject-steps")


@pytest.fixture(scope="session")
def slowdown(request) -> float:
    """The injected slowdown factor of every timed call (1: none)."""
    return request.config.getoption("--bench-inject-slowdown")


def _json_to_temporary(config) -> tuple[Path, Path] | None:
    """Point --benchmark-json at a temporary beside the target (atomic.temporary_for), which pytest_unconfigure
    moves into place or to NAME.partial.json; None without --benchmark-json."""
    requested = config.getoption("benchmark_json", None)
    if not requested:
        return None
    opened = hasattr(requested, "write")
    if opened:
        # pytest-benchmark before 5 opens --benchmark-json as a file while parsing options (which empties an
        # existing file: only 5 and later keep it intact until the session succeeds); write to the temporary instead.
        requested.close()
        target = Path(requested.name)
    else:
        target = Path(requested)
    temporary = atomic.temporary_for(target)
    config.option.benchmark_json = open(temporary, "wb") if opened else str(temporary)  # pytest-benchmark closes it
    return temporary, target


def pytest_sessionstart(session):
    """Note what the machine is doing (contention.snapshot), unless counting: a count does not move with the load."""
    from mnist_ref.measure import contention

    if session.config.getoption("--bench-measure") == "time":
        bench_session(session.config).machine_start = contention.snapshot()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's outcome: a failure in any phase sticks; otherwise the call's outcome."""
    report = (yield).get_result()
    if report.failed or report.when == "call" or (report.when == "setup" and report.skipped):
        outcomes = bench_session(item.config).outcomes
        if outcomes.get(report.nodeid) != "failed":
            outcomes[report.nodeid] = report.outcome


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Decide whether this session is complete before pytest-benchmark's own wrapper writes its JSON."""
    bench = bench_session(session.config)
    not_completed = [item.nodeid.split("::")[-1] for item in session.items
                     if bench.outcomes.get(item.nodeid) not in ("passed", "skipped")]
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if interrupted:
        outcome = "interrupted"
    elif not_completed:
        outcome = "cases failed"
    elif exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        outcome = "complete"
    else:
        outcome = f"pytest exit {int(exitstatus)}"
    bench.outcome = {
        "partial": outcome != "complete",
        "outcome": outcome,
        "not_completed": not_completed,
    }
    if bench.machine_start is not None:
        from mnist_ref.measure import contention

        bench.contention = contention.assess(bench.machine_start, contention.snapshot())
        if contention.is_contended(bench.contention):
            sys.stderr.write(f"mnist-ref bench: {contention.describe(bench.contention)}\n")
    yield


def pytest_unconfigure(config):
    """A complete session's JSON replaces the target; any other goes to NAME.partial.json, and says so."""
    bench = bench_session(config)
    if bench.json is None:
        return
    temporary, target = bench.json
    outcome = bench.outcome
    if temporary.exists() and temporary.stat().st_size == 0:  # opened for pytest-benchmark < 5, never written
        temporary.unlink()
    if not temporary.exists():
        if outcome["partial"]:
            sys.stderr.write(f"mnist-ref bench: the session did not complete ({outcome['outcome']}) before anything was "
                             f"measured; {target} was left as it was\n")
        return
    if not outcome["partial"]:
        atomic.publish(temporary, target)
        return
    destination = files.partial_path(target)
    atomic.publish(temporary, destination)
    sys.stderr.write(
        f"mnist-ref bench: the session did not complete ({outcome['outcome']}); {target} was left as it was, "
        f"and what was measured went to {destination}\n"
    )


def pytest_benchmark_update_machine_info(config, machine_info):
    from mnist_ref.core import environment

    machine_info["mnist_ref"] = environment.capture()


def _measure_record(config) -> dict:
    """The measure and its settings, as the JSON records them."""
    if config.getoption("--bench-measure") != "instructions":
        return {"name": "time", "unit": "s"}
    from mnist_ref.measure import instructions

    return {"name": "instructions", "unit": "instructions", "steps_per_round": COUNTING.steps, "tool": instructions.tool_version(),
            "options": list(instructions.VALGRIND_OPTIONS), "threads": framework.single_thread_environment()}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    bench = bench_session(config)
    output_json["mnist_ref"] = {
        "schema": BENCH_SCHEMA,
        **bench.outcome,
        "command": portable(" ".join(["pytest", *sys.argv[1:]])),
        "smoke": config.getoption("--bench-smoke"),
        # The book's configuration every case starts from; each case overrides device, batch size and mode.
        "config": Config().to_dict(),
        "skipped": list(bench.skipped.values()),
        "replicas": config.getoption("--bench-replicas"),
        "injected_slowdown": config.getoption("--bench-inject-slowdown"),
        "injected_work": config.getoption("--bench-inject-work"),
        "injected_steps": config.getoption("--bench-inject-steps"),
        "measure": _measure_record(config),
        "ab_session": os.environ.get(SESSION_ENV),
        "oracle": bench.oracle,
        "contention": bench.contention,
    }


@pytest.fixture(scope="session")
def mnist():
    """The book's dataset ($MNIST_REF_DATA, else Keras' download), prepared once per session."""
    from mnist_ref.core import dataset

    try:
        return dataset.prepare(dataset.load_raw())
    except MnistRefError as exc:
        pytest.exit(f"mnist-ref bench: {exc}", returncode=2)


@pytest.fixture(scope="session")
def oracle_verdict(request, mnist, measure):
    """One SGD step of the book's model against the NumPy reference (mnist-ref oracle), once per session;
    recorded in the JSON so that tables and the regression gate see whether this stack computes the book's math.
    Not when counting instructions: that run judges no correctness (the time-measured bench does)."""
    from mnist_ref.core.config import Config
    from mnist_ref.reference import oracle

    if measure.counting:
        return None

    checks = oracle.run_checks(oracle.fresh_model(Config()), mnist.x_train[:32], mnist.y_train[:32])
    verdict = {"matches": all(c.ok for c in checks), "differs": [c.quantity for c in checks if not c.ok]}
    bench_session(request.config).oracle = verdict
    return verdict


@pytest.fixture(scope="session")
def matmul_flops(measure):
    """This machine's measured matmul FLOP/s per device, calibrated once per device (None when counting
    instructions: no speed of light in a count)."""
    from mnist_ref.measure.speed_of_light import matmul_throughput

    measured: dict[str, float] = {}

    def get(device: str) -> float | None:
        if measure.counting:
            return None
        if device not in measured:
            measured[device] = matmul_throughput(device)
        return measured[device]

    return get


@pytest.fixture(scope="session")
def trained():
    """Models trained by test_fit, keyed by case, for the evaluate and predict benchmarks."""
    return {}
