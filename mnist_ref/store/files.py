"""Reading results files once: bench JSON (pytest-benchmark), seed sweeps, run records; cases grouped."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import stat
from pathlib import Path

from mnist_ref.plumbing.errors import ReportError
from mnist_ref.store.measured import CaseKey, Measured, case_key
from mnist_ref.store.measures import Measure
from mnist_ref.store.provenance import Provenance
from mnist_ref.store.schema import BENCH_SCHEMA, BENCH_SCHEMAS, PATHS, SWEEP_SCHEMA, validate  # noqa: F401 (PATHS re-exported for the renderers)
from mnist_ref.store.session import Session

# The UTC time in the names of results files and folders (run records, A/B runs): 20261130T043000Z.
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"

CASE_FIELDS = ("backend", "device", "batch_size", "mode")


def case_label(key: CaseKey | str) -> str:
    """A case's label; a key that is already a string (a whole file's finding) as it is."""
    return key if isinstance(key, str) else key.label


@dataclasses.dataclass(frozen=True)
class BenchFile:
    """One pytest-benchmark JSON file written by the bench suite."""

    path: Path
    machine: dict
    meta: dict
    benchmarks: list[dict]
    datetime: str

    @functools.cached_property
    def session(self) -> Session:
        """Its session block, typed (store.session): outcome, measure, injections, contention, oracle, ab session."""
        return Session.of(self.meta)

    @property
    def measure(self) -> Measure:
        """What its rounds hold (store.measures): seconds of the full workload (files without the field), instruction
        counts, or seconds of bounded rounds."""
        return Measure(self.session.measure_name)

    @functools.cached_property
    def measured(self) -> list[Measured]:
        """Its benchmarks, typed, in file order."""
        return [Measured.of(bench) for bench in self.benchmarks]

    @property
    def provenance(self) -> Provenance:
        """Where and on what it was measured (its environment block, machine_info.mnist_ref)."""
        return Provenance.of(self.machine.get("mnist_ref"))

    @property
    def partial(self) -> bool:
        """Whether the session that wrote it was interrupted or had failing cases."""
        return self.session.partial


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number in strict JSON")


def load_json(path: Path) -> dict:
    """A JSON object from path, or ReportError saying why it cannot be read. Strict: NaN and Infinity,
    which Python's json would accept, are errors. Only a regular file is read: a FIFO would wait for a writer and
    a device such as /dev/zero never ends."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not stat.S_ISREG(mode):
            raise ReportError(
                f"{path}: not a regular file (a pipe, device or socket); pass a JSON file written by mnist-ref"
            )
        document = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ReportError(f"{path}: nested too deeply to be a results file") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise ReportError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(exc, UnicodeDecodeError):
            raise ReportError(f"{path}: cannot read it ({exc})") from None
        raise ReportError(f"{path}: not strict JSON ({exc})") from None
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: a folder, where a JSON file was expected") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not isinstance(document, dict):
        raise ReportError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def schema_of(document: dict) -> str | None:
    """The mnist-ref schema a document declares, if any."""
    if isinstance(document.get("mnist_ref"), dict):
        return document["mnist_ref"].get("schema")
    return document.get("schema")


def upgrade_v1(document: dict) -> dict:
    """A schema-1 bench document in schema 2: plain params instead of pytest-benchmark's UNSERIALIZABLE case,
    a 'diverged' flag from the accuracy, and the session fields schema 1 did not write (a complete session)."""
    meta = document.get("mnist_ref")
    if (
        not isinstance(meta, dict)
        or meta.get("schema") != BENCH_SCHEMAS[0]
        or not isinstance(document.get("benchmarks"), list)
    ):
        return document
    benchmarks = []
    for bench in document["benchmarks"]:
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if isinstance(info, dict):
            params = {f: info[f] for f in CASE_FIELDS if f in info}
            bench = {**bench, "params": {**params, "replicas": info.get("replicas", 1)}}
            if info.get("path") == "fit" and "diverged" not in info:
                bench["extra_info"] = {**info, "diverged": info.get("test_accuracy") is None}
        benchmarks.append(bench)
    session = {
        "partial": False,
        "outcome": "complete",
        "not_completed": [],
        "injected_slowdown": 1.0,
        "ab_session": None,
    }
    return {**document, "benchmarks": benchmarks, "mnist_ref": {**session, **meta, "schema": BENCH_SCHEMA}}


def recorded_only(document: dict) -> dict:
    """A partial session's document without the benchmarks it never finished recording (a case interrupted between
    its rounds: pytest-benchmark keeps its rounds, but the bench never wrote what they measured), those named under
    not_completed; any other document as it is."""
    meta, benchmarks = document.get("mnist_ref"), document.get("benchmarks")
    if not isinstance(meta, dict) or not meta.get("partial") or not isinstance(benchmarks, list):
        return document
    kept = [
        b
        for b in benchmarks
        if isinstance(b, dict) and isinstance(b.get("extra_info"), dict) and "path" in b["extra_info"]
    ]
    if len(kept) == len(benchmarks):
        return document
    cut = [str(b.get("name", "?")) for b in benchmarks if b not in kept and isinstance(b, dict)]
    not_completed = list(meta.get("not_completed") or [])
    not_completed += [n for n in cut if n not in not_completed]
    return {**document, "benchmarks": kept, "mnist_ref": {**meta, "not_completed": not_completed}}


def parse_bench(path: Path, document: dict) -> BenchFile:
    """Validate a bench document (schema 1 read as schema 2, a partial one without its unrecorded benchmarks) and wrap
    it; ReportError names the file, entry and field."""
    document = recorded_only(upgrade_v1(document))
    validate(path, document, "bench")
    bench_file = BenchFile(
        Path(path),
        document["machine_info"],
        document["mnist_ref"],
        document["benchmarks"],
        document.get("datetime", ""),
    )
    check_measure(bench_file)
    return bench_file


def check_measure(bench_file: BenchFile) -> None:
    """ReportError when a file's benchmarks disagree with its one measure (mnist_ref.measure, "time" when absent): a
    benchmark that says it counted instructions in a timed file, or a counted file's benchmark without a positive
    count a step. Counts read as seconds (or seconds as counts) would give every verdict the wrong sign."""
    measure = bench_file.measure
    for bench in bench_file.benchmarks:
        info = bench["extra_info"]
        said = info.get("measure", "time")
        if said != measure:
            raise ReportError(
                f"{bench_file.path}: benchmark {bench['name']!r} measured {said}, but the file's measure "
                f"(mnist_ref.measure) is {measure}{'' if bench_file.session.measure else ' (absent)'}; "
                "the file is inconsistent: rewrite it by rerunning the bench"
            )
        per_step = info.get("instructions_per_step")
        if measure == "instructions" and per_step is None:
            raise ReportError(
                f"{bench_file.path}: benchmark {bench['name']!r} counts instructions but records no "
                "instructions_per_step; rerun the bench with --bench-measure instructions"
            )
        if measure != "instructions" and per_step is not None:
            raise ReportError(
                f"{bench_file.path}: benchmark {bench['name']!r} records instructions_per_step in a timed file; "
                "the file is inconsistent: rewrite it by rerunning the bench"
            )


def check_complete(
    bench_file: BenchFile, *, hint: str = "rerun the bench, or pass --allow-partial to use it as it is"
) -> None:
    """ReportError when a bench file is partial, naming what it lacks and (hint) what to do."""
    if bench_file.partial:
        missing = bench_file.session.not_completed
        listed = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        what = f"{len(missing)} test(s) did not complete ({listed})" if missing else "its session did not complete"
        raise ReportError(f"{bench_file.path}: a partial bench file ({bench_file.session.outcome}): {what}; {hint}")


def load(path: Path, *, allow_partial: bool = False) -> BenchFile | dict:
    """A bench file (BenchFile) or a seed sweep (dict), or ReportError naming what the file is not."""
    document = load_json(path)
    schema = schema_of(document)
    if schema in BENCH_SCHEMAS:
        bench_file = parse_bench(path, document)
        if not allow_partial:
            check_complete(bench_file)
        return bench_file
    if schema == SWEEP_SCHEMA:
        validate(path, document, "sweep")
        return document
    raise ReportError(
        f"{path}: not an mnist-ref benchmark file or seed sweep (schema {schema!r}); write one with "
        "`pytest bench/ --benchmark-only --benchmark-json=FILE` or `mnist-ref sweep`"
    )


def seed_status(run: dict) -> str:
    """ok, diverged (null accuracy) or failed (not trained, with a reason); sweeps written before the field are
    read from their accuracy."""
    return run.get("status") or ("diverged" if run.get("test_accuracy") is None else "ok")


def load_bench(path: Path, *, allow_partial: bool = False) -> BenchFile:
    """Load one bench JSON file; anything else is a ReportError."""
    loaded = load(path, allow_partial=allow_partial)
    if not isinstance(loaded, BenchFile):
        raise ReportError(f"{path}: a seed sweep, where a benchmark file was expected")
    return loaded


def load_sweep(path: Path) -> dict:
    """Load one seed-sweep JSON file; anything else is a ReportError."""
    loaded = load(path)
    if isinstance(loaded, BenchFile):
        raise ReportError(f"{path}: a benchmark file, where a seed sweep was expected")
    return loaded


def load_document(path: Path, kind: str) -> dict:
    """A run record or oracle result, validated; ReportError names the file, entry and field."""
    document = load_json(path)
    validate(path, document, kind)
    return document


def stamp() -> str:
    """Now, in UTC, as results file and folder names carry it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(STAMP_FORMAT)


def partial_path(target: Path) -> Path:
    """Where the incomplete counterpart of a results file goes (an interrupted bench session, a sweep's completed
    seeds): NAME.partial.json beside NAME.json."""
    target = Path(target)
    return target.with_name(f"{target.stem}.partial{target.suffix or '.json'}")


def partial_files(folder: Path) -> list[Path]:
    """The NAME.partial.json files of interrupted sessions in a folder (which expand() leaves out)."""
    return sorted(p for p in Path(folder).glob("*.partial.json") if not p.name.startswith("."))


def expand(arguments: list[Path]) -> list[Path]:
    """Files as given, folders as their *.json files (sorted); partial files and hidden temporaries left out
    of folders; a file named twice (or also inside a folder named) read once. A path that does not exist is a
    ReportError."""
    paths: list[Path] = []
    for arg in arguments:
        arg = Path(arg)
        if arg.is_dir():
            paths += [
                p for p in sorted(arg.glob("*.json")) if not p.name.startswith(".") and p not in partial_files(arg)
            ]
        elif arg.exists():
            paths.append(arg)
        else:
            raise ReportError(f"{arg}: no such file or folder")
    seen: set[Path] = set()
    return [p for p in paths if not (p.resolve() in seen or seen.add(p.resolve()))]


def cells(files: list[BenchFile]) -> dict[CaseKey, dict[str, Measured]]:
    """Measured paths grouped by case, then by hot path (later files win)."""
    out: dict[CaseKey, dict[str, Measured]] = {}
    for bench_file in files:
        for measured in bench_file.measured:
            out.setdefault(measured.key, {})[measured.path] = measured
    return out


def skipped(files: list[BenchFile]) -> dict[CaseKey, str]:
    """Cases the suite skipped, with the reason."""
    return {case_key(s): s["reason"] for f in files for s in f.meta.get("skipped", [])}


def case_order(key: CaseKey):
    """Sort key: backend, CPU before GPUs, device, mode, batch size."""
    backend, device, batch, mode = key
    return (backend, not device.startswith("cpu"), device, mode, batch)


def write_document(path: Path, document: dict, kind: str) -> Path:
    """Write a results document (a run record, a seed sweep, an oracle result) atomically, after checking it against
    its kind's schema: the writer and the reader hold to one definition, and a document the readers would refuse is
    never written. A violation is a bug in the writer (RuntimeError), not bad input."""
    from mnist_ref.plumbing import atomic

    try:
        validate(Path(path), document, kind)
    except ReportError as exc:
        raise RuntimeError(f"mnist-ref wrote a {kind} its own schema refuses: {exc}") from None
    return atomic.write_json(path, document)


def runs_by_arm(folder: Path) -> dict[str, list[BenchFile]]:
    """A study's folder read back: arm name -> its bench files (ARM/run-N.json, as gate.ab writes them) in run order."""
    out = {}
    for arm_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        found = sorted(arm_dir.glob("run-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        if found:
            out[arm_dir.name] = [load_bench(p) for p in found]
    return out
