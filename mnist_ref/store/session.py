"""A bench session's own block (the JSON's `mnist_ref` object), read once into a Session (Session.of) and written from
one (Session.block), beside each other: how the session ended, what it measured and how (the measure, the
injections, the replicas), what the machine was doing (Contention), what the oracle said, and which interleaved
session it belongs to. The gate, the baseline and the pages decide on these fields, never on the dict.

Format history (the block's `schema`):
- mnist-ref/bench/1: schema, command, smoke, config, skipped. Read as a complete session with nothing injected.
- mnist-ref/bench/2: adds partial, outcome, not_completed, injected_slowdown, ab_session; within 2, added later and
  optional: measure ({name, unit, ...}: time, instructions, steps), injected_wait, injected_work, injected_steps,
  replicas, oracle ({matches, differs, ...}), contention ({verdict, reasons, wall_s, steal_share, ...}).
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Another process keeping this many cores busy on average, beside the bench, makes a session contended. A bench process
# of TensorFlow's uses up to every core itself, so a quarter of a core from others already takes time slices from it.
OTHER_BUSY_CORES_LIMIT = 0.25
# Steal (CPU time the hypervisor gave to other guests) above this share of the session's CPU time.
STEAL_LIMIT = 0.02
# The fixed probe taking this much longer at the end of the session than at its start.
PROBE_DRIFT_LIMIT = 1.2


def reasons_from(record: dict) -> list[str]:
    """Why a contention record's numbers make its session contended, in words (none: steady). The verdict a file states
    is never trusted alone: the same rule is applied to the numbers it holds."""
    reasons = []
    other, steal, drift = (record.get(k) for k in ("other_busy_cores", "steal_share", "probe_drift"))
    if isinstance(other, (int, float)) and other > OTHER_BUSY_CORES_LIMIT:
        reasons.append(f"other processes kept {other:.2f} cores busy on average (limit {OTHER_BUSY_CORES_LIMIT})")
    if isinstance(steal, (int, float)) and steal > STEAL_LIMIT:
        reasons.append(f"the hypervisor stole {100 * steal:.1f}% of CPU time (limit {100 * STEAL_LIMIT:.0f}%)")
    if isinstance(drift, (int, float)) and drift > PROBE_DRIFT_LIMIT:
        reasons.append(
            f"the fixed probe ran {drift:.2f}x slower at the end than at the start (limit {PROBE_DRIFT_LIMIT}x)"
        )
    return reasons


def is_contended(record) -> bool:
    """Whether a session's contention record (or None, for files written before it) says contended, by its verdict
    or by its own numbers (a record that says "steady" beside numbers past the limits is contended)."""
    return isinstance(record, dict) and (record.get("verdict") == "contended" or bool(reasons_from(record)))


def describe(record: dict | None) -> str:
    """One phrase for tables and the gate: 'steady', 'contended: REASONS', or 'not recorded'."""
    if not isinstance(record, dict):
        return "not recorded"
    if is_contended(record):
        return "contended: " + "; ".join(reasons_from(record) or record.get("reasons") or ["?"])
    return "steady"


@dataclasses.dataclass(frozen=True)
class Contention:
    """What the machine was doing while the session measured (measure.contention.assess wrote it); None fields where the
    session did not record them."""

    record: dict | None = None

    @property
    def recorded(self) -> bool:
        return isinstance(self.record, dict)

    @property
    def contended(self) -> bool:
        return is_contended(self.record)

    def describe(self) -> str:
        return describe(self.record)

    def get(self, field: str) -> float | None:
        """One number of the record (steal_share, probe_start_s, wall_s, ...), None where absent."""
        value = self.record.get(field) if self.recorded else None
        return value if isinstance(value, (int, float)) else None


@dataclasses.dataclass(frozen=True)
class Injections:
    """What a session injected to test a measure (the bench's --bench-inject-* options); the defaults inject nothing."""

    slowdown: float = 1.0
    wait: float = 1.0
    work: float = 0.0
    steps: float = 0.0

    FIELDS = (
        ("slowdown", "injected_slowdown"),
        ("wait", "injected_wait"),
        ("work", "injected_work"),
        ("steps", "injected_steps"),
    )

    def active(self) -> list[str]:
        """Each injection that is not neutral, as its field and value ('injected_wait 1.5')."""
        neutral = Injections()
        return [
            f"{key} {getattr(self, name)}" for name, key in self.FIELDS if getattr(self, name) != getattr(neutral, name)
        ]


@dataclasses.dataclass(frozen=True)
class Oracle:
    """What the session's oracle check said (`mnist-ref oracle`): whether one SGD step of its stack matches the NumPy
    reference of the book's math, and in what it differs; the record as written."""

    record: dict

    @classmethod
    def of(cls, block) -> Oracle | None:
        return cls(block) if isinstance(block, dict) else None

    @property
    def matches(self) -> bool:
        return self.record.get("matches") is True

    @property
    def failed(self) -> bool:
        return self.record.get("matches") is False

    @property
    def differs(self) -> list[str]:
        return list(self.record.get("differs") or [])


@dataclasses.dataclass(frozen=True)
class Session:
    """A bench session's block, typed."""

    schema: str
    partial: bool = False
    outcome: str = "complete"
    not_completed: tuple[str, ...] = ()
    command: str | None = None
    smoke: bool = False
    config: dict | None = None
    skipped: tuple[dict, ...] = ()
    replicas: int = 1
    injections: Injections = Injections()
    measure: dict | None = None  # {name, unit, ...}; None in files written before the field: seconds
    ab_session: str | None = None
    oracle: Oracle | None = None
    contention: Contention = Contention()

    @property
    def measure_name(self) -> str:
        """What the rounds hold: "time" (seconds; files without the field), "instructions" or "steps"."""
        return self.measure.get("name", "time") if isinstance(self.measure, dict) else "time"

    @property
    def oracle_failed(self) -> bool:
        """Whether the session's own oracle check said its stack does not compute the book's math."""
        return self.oracle is not None and self.oracle.failed

    @classmethod
    def of(cls, block: dict) -> Session:
        """The reader: a validated block (store.schema) as a Session, the defaults for fields an older file lacks."""
        get: Any = block.get
        neutral = Injections()
        injections = Injections(
            **{name: get(key) if get(key) is not None else getattr(neutral, name) for name, key in Injections.FIELDS}
        )
        return cls(
            schema=get("schema"),
            partial=bool(get("partial", False)),
            outcome=get("outcome") or "complete",
            not_completed=tuple(get("not_completed") or ()),
            command=get("command"),
            smoke=bool(get("smoke", False)),
            config=get("config"),
            skipped=tuple(get("skipped") or ()),
            replicas=int(get("replicas") or 1),
            injections=injections,
            measure=get("measure"),
            ab_session=get("ab_session"),
            oracle=Oracle.of(get("oracle")),
            contention=Contention(get("contention")),
        )

    def block(self) -> dict:
        """The writer: the block as the bench writes it (store.schema's bench block)."""
        return {
            "schema": self.schema,
            "partial": self.partial,
            "outcome": self.outcome,
            "not_completed": list(self.not_completed),
            "command": self.command,
            "smoke": self.smoke,
            "config": self.config,
            "skipped": list(self.skipped),
            "replicas": self.replicas,
            **{key: getattr(self.injections, name) for name, key in Injections.FIELDS},
            "measure": self.measure,
            "ab_session": self.ab_session,
            "oracle": None if self.oracle is None else self.oracle.record,
            "contention": self.contention.record,
        }
