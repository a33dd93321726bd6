"""The benchmark matrix: backend (one per process) x device x batch size x mode (x replicas), each case a test
parameter, with why a case cannot run here."""

from __future__ import annotations

import dataclasses

import pytest
from bench_options import batch_sizes, device_names, modes
from bench_record import bench_session

from mnist_ref.core import framework
from mnist_ref.core.config import Config
from mnist_ref.scale import data_parallel
from mnist_ref.store.files import CASE_FIELDS
from mnist_ref.store.measured import CaseKey, case_key
from mnist_ref.store.schema import FLOOR_MODE

# The reference floor (bench/test_reference_floor.py): the book's training in NumPy, one case per batch size.
FLOOR_BACKEND = "numpy"
PARAMS = (*CASE_FIELDS, "replicas")


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
        return f"{self.backend}-{self.device.replace(':', '')}-bs{self.batch_size}-{self.mode}" + (
            f"-x{self.replicas}" if self.replicas > 1 else ""
        )

    @property
    def key(self) -> CaseKey:
        """The case as the results files name it (store.measured.case_key: one encoding of replicas)."""
        return case_key(dataclasses.asdict(self))

    def config(self) -> Config:
        """The book's configuration with this case's batch size, mode, device and replicas (the floor: book mode)."""
        return Config(
            batch_size=self.batch_size,
            mode="book" if self.mode == FLOOR_MODE else self.mode,
            device=self.device,
            replicas=self.replicas,
        )

    @property
    def layout(self) -> data_parallel.Layout:
        """The case's data-parallel layout: its replicas in this one process."""
        return data_parallel.Layout(self.replicas)

    def scope(self):
        """Where this case's model is built, trained and timed: its device, or the strategy over its replicas."""
        return data_parallel.scope(self.backend, self.layout, self.device)


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


def parametrize(metafunc) -> None:
    """The matrix as plain parameters (backend, device, batch_size, mode, replicas), so that tools reading
    pytest-benchmark JSON (`pytest-benchmark compare --group-by=param:replicas`) see them; the case fixture
    rebuilds the Case. A case that cannot run is a skipped parameter, noted once in the session."""
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
