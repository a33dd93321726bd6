"""What one bench session records beyond pytest-benchmark's own (BenchSession, in config.stash), and the JSON it
leaves: written to a temporary, its mnist_ref block filled in, then moved to the target when the session completed
or to NAME.partial.json when it did not."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from pathlib import Path

import pytest

from mnist_ref.core.config import Config
from mnist_ref.gate.ab import SESSION_ENV
from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.checkout import portable
from mnist_ref.store import files
from mnist_ref.store.schema import BENCH_SCHEMA
from mnist_ref.store.session import Contention, Injections, Oracle, Session

# What a session that never reached pytest_sessionfinish counts as.
UNFINISHED = {"partial": True, "outcome": "interrupted", "not_completed": []}


@dataclasses.dataclass
class BenchSession:
    """The backend that cannot run here (and why), the cases skipped, each test's outcome, the machine before and
    after, the oracle's verdict, and where the JSON goes (a temporary first, then the target or NAME.partial.json)."""

    backend_missing: tuple[str, str] | None = None
    skipped: dict[str, dict] = dataclasses.field(default_factory=dict)  # case id -> the case and why it was skipped
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)  # nodeid -> passed / skipped / failed
    skip_reasons: dict[str, str] = dataclasses.field(default_factory=dict)  # nodeid -> why pytest skipped it
    outcome: dict = dataclasses.field(default_factory=lambda: dict(UNFINISHED))
    machine_start: dict | None = None
    contention: dict | None = None
    oracle: dict | None = None
    json: tuple[Path, Path] | None = None  # (temporary, target)


SESSION = pytest.StashKey[BenchSession]()


def bench_session(config) -> BenchSession:
    """This process's BenchSession (an empty one before pytest_configure made it)."""
    return config.stash.get(SESSION, None) or BenchSession()


def start(config) -> BenchSession:
    """This session's BenchSession, with pytest-benchmark's --benchmark-json pointed at a temporary."""
    session = config.stash[SESSION] = BenchSession()
    session.json = _json_to_temporary(config)
    return session


def _json_to_temporary(config) -> tuple[Path, Path] | None:
    """Point --benchmark-json at a temporary beside the target (atomic.temporary_for), which publish() moves into
    place or to NAME.partial.json; None without --benchmark-json."""
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


def note_report(config, report) -> None:
    """Each test's outcome: a failure in any phase sticks; otherwise the call's outcome."""
    if report.failed or report.when == "call" or (report.when == "setup" and report.skipped):
        outcomes = bench_session(config).outcomes
        if outcomes.get(report.nodeid) != "failed":
            outcomes[report.nodeid] = report.outcome
        if report.skipped and isinstance(report.longrepr, tuple):
            bench_session(config).skip_reasons[report.nodeid] = str(report.longrepr[2]).removeprefix("Skipped: ")


def finish(session, exitstatus) -> None:
    """Whether the session is complete (before pytest-benchmark writes its JSON), and how busy the machine was."""
    bench = bench_session(session.config)
    not_completed = [
        item.nodeid.split("::")[-1]
        for item in session.items
        if bench.outcomes.get(item.nodeid) not in ("passed", "skipped")
    ]
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        outcome = "interrupted"
    elif not_completed:
        outcome = "cases failed"
    elif exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        outcome = "complete"
    else:
        outcome = f"pytest exit {int(exitstatus)}"
    bench.outcome = {"partial": outcome != "complete", "outcome": outcome, "not_completed": not_completed}
    measured = any(o == "passed" for o in bench.outcomes.values())
    if outcome == "complete" and bench.json is not None and not measured:
        # Every selected case was skipped: no file would be written, and exit 0 would say all is well.
        why = "; ".join(sorted(set(bench.skip_reasons.values()))) or "no case was selected"
        sys.stderr.write(
            f"mnist-ref bench: nothing was measured ({why}); {bench.json[1]} was left as it was: "
            "choose cases that run here (-k, --bench-devices, --bench-measure)\n"
        )
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if bench.machine_start is not None:
        from mnist_ref.measure import contention

        bench.contention = contention.assess(bench.machine_start, contention.snapshot())
        if contention.is_contended(bench.contention):
            sys.stderr.write(f"mnist-ref bench: {contention.describe(bench.contention)}\n")


def publish(config) -> None:
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
            sys.stderr.write(
                f"mnist-ref bench: the session did not complete ({outcome['outcome']}) before anything was "
                f"measured; {target} was left as it was\n"
            )
        return
    refused = None if outcome["partial"] else _refused(temporary)
    if not outcome["partial"] and refused is None:
        atomic.publish(temporary, target)
        return
    destination = files.partial_path(target)
    atomic.publish(temporary, destination)
    why = (
        f"its JSON breaks the bench schema ({refused})"
        if refused
        else f"the session did not complete ({outcome['outcome']})"
    )
    sys.stderr.write(
        f"mnist-ref bench: {why}; {target} was left as it was, and what was measured went to {destination}\n"
    )


def _refused(path: Path) -> str | None:
    """Why the readers would refuse the JSON the session wrote (store.files.load_bench), or None: a complete
    session's file replaces the target only when the gate and the reports can read it."""
    from mnist_ref.plumbing.errors import ReportError

    try:
        files.load_bench(path)
    except ReportError as exc:
        return str(exc)
    return None


def mnist_ref_block(config, measure: dict) -> dict:
    """The JSON's mnist_ref block: schema, outcome, command, configuration, skipped cases, injections, measure."""
    bench = bench_session(config)
    injections = Injections(
        slowdown=config.getoption("--bench-inject-slowdown"),
        wait=config.getoption("--bench-inject-wait"),
        work=config.getoption("--bench-inject-work"),
        steps=config.getoption("--bench-inject-steps"),
    )
    return Session(
        schema=BENCH_SCHEMA,
        partial=bench.outcome["partial"],
        outcome=bench.outcome["outcome"],
        not_completed=tuple(bench.outcome["not_completed"]),
        command=portable(shlex.join(["pytest", *sys.argv[1:]])),
        smoke=config.getoption("--bench-smoke"),
        # The book's configuration every case starts from; each case overrides device, batch size and mode.
        config=Config().to_dict(),
        skipped=tuple(bench.skipped.values()),
        replicas=config.getoption("--bench-replicas"),
        injections=injections,
        measure=measure,
        ab_session=os.environ.get(SESSION_ENV),
        oracle=Oracle.of(bench.oracle),
        contention=Contention(bench.contention),
    ).block()
