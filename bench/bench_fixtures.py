"""The fixtures every benchmark takes: its case, the session's measure and injections, the data, the oracle's
verdict, the machine's matmul throughput and the models fit trained for evaluate and predict."""

from __future__ import annotations

import dataclasses

import pytest
from bench_matrix import Case
from bench_record import bench_session
from timing import WORKLOAD_OF, Workload

from mnist_ref.plumbing.errors import MnistRefError
from mnist_ref.store.measures import Measure


@pytest.fixture
def case(backend, device, batch_size, mode, replicas) -> Case:
    """This test's cell of the matrix."""
    return Case(backend, device, batch_size, mode, replicas)


@pytest.fixture(scope="session")
def extra_work(request) -> int:
    """Extra products in every step of the Keras model (0: the book's model as it is)."""
    return request.config.getoption("--bench-inject-work")


@pytest.fixture(scope="session")
def workload(request) -> Workload:
    """What a round is and what its number holds: seconds of the full workload, or instructions or seconds over a
    bounded one (--bench-measure), with --bench-fit-rounds applied."""
    workload = WORKLOAD_OF[Measure(request.config.getoption("--bench-measure"))]
    fit_rounds = request.config.getoption("--bench-fit-rounds")
    return dataclasses.replace(workload, rounds={**workload.rounds, "fit": fit_rounds}) if fit_rounds else workload


@pytest.fixture(scope="session")
def extra_steps(request) -> float:
    """The fraction of extra batches in every fit round (0: the book's epoch)."""
    return request.config.getoption("--bench-inject-steps")


@pytest.fixture(scope="session")
def wait(request) -> float:
    """The injected wait factor of every step (1: none)."""
    return request.config.getoption("--bench-inject-wait")


@pytest.fixture(scope="session")
def slowdown(request) -> float:
    """The injected slowdown factor of every timed call (1: none)."""
    return request.config.getoption("--bench-inject-slowdown")


@pytest.fixture(scope="session")
def mnist():
    """The book's dataset ($MNIST_REF_DATA, else Keras' download), prepared once per session."""
    from mnist_ref.core import dataset

    try:
        return dataset.prepare(dataset.load_raw())
    except MnistRefError as exc:
        pytest.exit(f"mnist-ref bench: {exc}", returncode=2)


@pytest.fixture(scope="session")
def oracle_verdict(request, mnist, workload):
    """One SGD step of the book's model against the NumPy reference (mnist-ref oracle), once per session;
    recorded in the JSON so that tables and the regression gate see whether this stack computes the book's math.
    Not over a bounded workload (counting instructions, the steps measure): those runs judge no correctness (the
    time-measured bench does)."""
    from mnist_ref.core.config import Config
    from mnist_ref.reference import oracle

    if workload.bounded_work:
        return None

    checks = oracle.run_checks(oracle.fresh_model(Config()), mnist.x_train[:32], mnist.y_train[:32])
    verdict = {"matches": all(c.ok for c in checks), "differs": [c.quantity for c in checks if not c.ok]}
    bench_session(request.config).oracle = verdict
    return verdict


@pytest.fixture(scope="session")
def matmul_flops(workload):
    """This machine's measured matmul FLOP/s per device, calibrated once per device (None over a bounded workload:
    no speed of light in a count, and the steps measure keeps its process short)."""
    from mnist_ref.measure.speed_of_light import matmul_throughput

    measured: dict[str, float] = {}

    def get(device: str) -> float | None:
        if workload.bounded_work:
            return None
        if device not in measured:
            measured[device] = matmul_throughput(device)
        return measured[device]

    return get


@pytest.fixture(scope="session")
def trained():
    """Models trained by test_fit, keyed by case, for the evaluate and predict benchmarks."""
    return {}
