"""A measured hot path of one case, read once from a bench file's pytest-benchmark entry: what the gate, the reports,
the history and the validations use instead of the raw dict (stats, extra_info)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

from mnist_ref.store import rounds
from mnist_ref.store.schema import FLOOR_MODE


class CaseKey(NamedTuple):
    """One bench case: which backend on which device(s), at which batch size, in which mode."""

    backend: str
    device: str
    batch_size: int
    mode: str

    @property
    def label(self) -> str:
        """How tables and messages name the case: 'tensorflow cpu:0 bs32 book'."""
        return f"{self.backend} {self.device} bs{self.batch_size} {self.mode}"

    @property
    def floor(self) -> bool:
        """Whether this is the framework-free NumPy floor (no Keras model: no band, evaluate or predict)."""
        return self.mode == FLOOR_MODE


def case_key(info: dict) -> CaseKey:
    """(backend, device, batch_size, mode) of a benchmark's extra_info or a skipped entry; a data-parallel case's
    device reads 'cpu:0 x2' (2 replicas from cpu:0 on), so that it is neither matched with nor shown as one device."""
    replicas = int(info.get("replicas", 1))
    device = info["device"] if replicas == 1 else f"{info['device']} x{replicas}"
    return CaseKey(info["backend"], device, int(info["batch_size"]), info["mode"])


@dataclasses.dataclass(frozen=True)
class Info:
    """A benchmark's extra_info, typed: every field the bench writes (store/schema.py), None where a file lacks it."""

    path: str
    backend: str
    device: str
    batch_size: int
    mode: str
    replicas: int = 1
    strategy: str | None = None
    measure: str | None = None  # "instructions" for counted rounds, "steps" for the timed guard's; absent for seconds
    samples_per_round: int | None = None
    steps_per_round: int | None = None
    flops_per_round: int | None = None
    samples_per_s: float | None = None
    steps_per_s: float | None = None
    p95_s: float | None = None
    warmup_s: float | None = None
    compile_s: float | None = None
    round_spread: float | None = None
    wall_over_cpu: float | None = None
    round_cpu_s: tuple[float, ...] | None = None  # CPU seconds of each round, all threads (timed rounds)
    cpu_per_step_s: float | None = None
    main_thread_cpu_per_step_s: float | None = None
    main_thread_off_cpu_share: float | None = None
    voluntary_switches_per_step: float | None = None
    involuntary_switches_per_step: float | None = None
    matmul_flops_per_s: float | None = None
    speed_of_light_s: float | None = None
    speed_of_light_pct: float | None = None
    harness_overhead_pct: float | None = None
    instructions_per_step: float | None = None
    instructions_per_sample: float | None = None
    instructions_by_part: dict[str, float] | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    diverged: bool | None = None
    band: tuple[float, float] | None = None
    in_band: bool | None = None
    fingerprint: str | None = None
    predicted_class: int | None = None
    history: dict[str, list] | None = None

    @classmethod
    def of(cls, extra_info: dict) -> Info:
        """The typed view of an extra_info dict (fields it does not know are left out)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in extra_info.items() if k in known}
        for name in ("band", "round_cpu_s"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def number(self, field: str) -> float | None:
        """A numeric field by its name in the file (for tables that take the field as a parameter)."""
        value = getattr(self, field)
        return None if value is None else float(value)

    @property
    def counted(self) -> bool:
        """Whether the rounds are instruction counts."""
        return self.measure == "instructions"

    @property
    def bounded(self) -> bool:
        """Whether a round was a bounded number of steps (counted, or the timed guard's): no accuracy to judge."""
        return self.measure is not None


@dataclasses.dataclass(frozen=True)
class Measured:
    """One hot path of one case in one bench file: its rounds (seconds, or instructions when counted), their median
    and spread, and the typed extra info."""

    key: CaseKey
    path: str
    median: float
    rounds: tuple[float, ...]  # every timed round (stats.data); empty in files written without it
    info: Info
    round_count: int  # stats.rounds: how many rounds the median is of (also where the file left out the data)
    name: str = ""

    @classmethod
    def of(cls, benchmark: dict[str, Any]) -> Measured:
        """The typed view of one pytest-benchmark entry (already validated against the bench schema)."""
        info = Info.of(benchmark["extra_info"])
        stats = benchmark["stats"]
        data = tuple(float(t) for t in stats.get("data") or [])
        return cls(
            case_key(benchmark["extra_info"]),
            info.path,
            float(stats["median"]),
            data,
            info,
            int(stats.get("rounds") or len(data)),
            benchmark.get("name", ""),
        )

    @property
    def unit(self) -> str:
        """What a round holds: "instructions" or "s"."""
        return "instructions" if self.info.counted else "s"

    @functools.cached_property
    def waiting(self) -> tuple[float, ...]:
        """Wall over CPU seconds of each round (all threads): above 1, the process waited for part of the round; empty
        where the file recorded no CPU seconds a round."""
        cpu = self.info.round_cpu_s or ()
        if len(cpu) != len(self.rounds) or not all(c > 0 for c in cpu):
            return ()
        return tuple(wall / c for wall, c in zip(self.rounds, cpu, strict=True))

    @functools.cached_property
    def spread(self) -> float | None:
        """The rounds' spread (rounds.spread: IQR over median; None for fewer than two rounds)."""
        return rounds.spread(self.rounds)

    @property
    def iqr(self) -> float:
        """The rounds' interquartile range in their own unit (0 for fewer than two rounds)."""
        return (self.spread or 0.0) * (rounds.median(self.rounds) if self.rounds else self.median)


Runs = list[dict[str, Measured]]  # one case's measured paths, per bench file that measured it (in file order)
