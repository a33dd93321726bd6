"""The bench plugin's registration: pytest's hooks, each handing its job to the module that does it (bench_options:
the options and their checks; bench_matrix: the cases; bench_counting: the rerun under Valgrind; bench_record: the
session's outcome and its JSON; bench_fixtures: what each benchmark takes)."""

from __future__ import annotations

import os

import bench_matrix
import bench_options
import bench_record
import pytest
from bench_counting import count_instructions
from bench_fixtures import (  # noqa: F401 (fixtures, found by pytest in this module)
    case,
    extra_steps,
    extra_work,
    matmul_flops,
    mnist,
    oracle_verdict,
    slowdown,
    trained,
    wait,
    workload,
)

from mnist_ref.core import framework
from mnist_ref.core.config import Config
from mnist_ref.plumbing import interrupts
from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.scale import data_parallel
from mnist_ref.store import files


def pytest_addoption(parser):
    bench_options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Check the options, rerun under callgrind when counting, pick the backend, and send pytest-benchmark's
    JSON to a temporary file (first, so that pytest-benchmark's own configure reads the changed option)."""
    config.addinivalue_line(
        "markers", "floor: the reference floor's benchmarks (NumPy, one case per batch size, no Keras backend)"
    )
    bench_options.check(config)
    if bench_options.counting(config):
        count_instructions(config)
    # SIGTERM ends the session like Ctrl-C: pytest finishes it as interrupted and the JSON goes to NAME.partial.json.
    interrupts.raise_on_sigterm()
    session = bench_record.start(config)
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


def pytest_generate_tests(metafunc):
    bench_matrix.parametrize(metafunc)


def pytest_sessionstart(session):
    """Wrap pytest's own unraisable hook, and note what the machine is doing (contention.snapshot), unless counting: a
    count does not move with the load."""
    from mnist_ref.measure import contention

    # pytest's unraisableexception plugin replaced sys.unraisablehook after pytest_configure above installed the
    # redelivering one; an interrupt dropped in a gc callback (JAX's, XLA's) would become a test error and the session
    # would go on. Installed again, the redelivering hook wraps pytest's.
    interrupts.raise_on_sigterm()

    if not bench_options.counting(session.config):
        bench_record.bench_session(session.config).machine_start = contention.snapshot()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    bench_record.note_report(item.config, (yield).get_result())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Decide whether this session is complete before pytest-benchmark's own wrapper writes its JSON."""
    bench_record.finish(session, exitstatus)
    yield


def pytest_unconfigure(config):
    bench_record.publish(config)


def pytest_benchmark_update_machine_info(config, machine_info):
    from mnist_ref.core import environment

    machine_info["mnist_ref"] = environment.capture()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["mnist_ref"] = bench_record.mnist_ref_block(config, bench_options.measure_record(config))
    output_json.update(files.recorded_only(output_json))  # an interrupted case's rounds, never recorded, go
