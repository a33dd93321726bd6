"""The gate's exit code means what it says: strict reading, nothing skipped in silence, a verdict never hidden
behind an unwritable report, pages written all or none. Every input is a mutated copy of a real bench JSON."""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_ref import cli
from mnist_ref.plumbing import atomic, interrupts
from mnist_ref.plumbing.errors import ExitCode, most_severe

BASELINE = ROOT / "results" / "baseline" / "cpu-tensorflow-smoke.json"
SAMPLE = ROOT / "tests" / "data" / "bench-sample.json"


@pytest.fixture
def real() -> dict:
    return json.loads(BASELINE.read_text())


def write(tmp_path: Path, name: str, document: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def bench_of(document: dict, path: str, mode: str = "book") -> dict:
    return next(
        b for b in document["benchmarks"] if b["extra_info"]["path"] == path and b["extra_info"]["mode"] == mode
    )


def slower(document: dict, factor: float = 3.0) -> dict:
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        bench["stats"]["data"] = [t * factor for t in bench["stats"]["data"]]
        bench["stats"]["median"] *= factor
    return doc


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("mnist-ref: error")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_precedence_of_exit_codes():
    assert most_severe(ExitCode.OK, ExitCode.BAD_INPUT) == ExitCode.BAD_INPUT
    assert most_severe(ExitCode.BAD_INPUT, ExitCode.SLOWER) == ExitCode.SLOWER
    assert most_severe(ExitCode.SLOWER, ExitCode.INCORRECT, ExitCode.BAD_INPUT) == ExitCode.INCORRECT
    assert most_severe() == ExitCode.OK


# --- 1. a failed write never replaces the verdict ---------------------------------------------------------


@pytest.fixture
def blocked(tmp_path) -> Path:
    """An output path under a plain file, which no one can write."""
    (tmp_path / "afile").write_text("x")
    return tmp_path / "afile" / "report.md"


def test_unwritable_out_keeps_a_correctness_verdict(tmp_path, real, blocked, capsys):
    wrong = copy.deepcopy(real)
    bench_of(wrong, "fit")["extra_info"]["test_accuracy"] = 0.5
    code = cli.main(
        ["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", wrong)), "--out", str(blocked)]
    )
    assert code == ExitCode.INCORRECT
    line = one_line_error(capsys, str(blocked))
    assert ".tmp" not in line


def test_unwritable_out_after_a_clean_comparison_is_exit_2(tmp_path, real, blocked, capsys):
    base = write(tmp_path, "a.json", real)
    assert cli.main(["compare", str(base), str(base), "--out", str(blocked)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, str(blocked))


def test_unwritable_summary_is_named_and_out_is_not_written(tmp_path, real, blocked, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(blocked))
    base, out = write(tmp_path, "a.json", real), tmp_path / "report.md"
    assert (
        cli.main(["compare", str(base), str(write(tmp_path, "b.json", slower(real))), "--out", str(out)])
        == ExitCode.SLOWER
    )
    one_line_error(capsys, "$GITHUB_STEP_SUMMARY")
    assert not out.exists()


# --- 2. NaN, infinity, zero and negative times ------------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "-1.0", "0"])
def test_a_bad_round_time_is_bad_input(tmp_path, real, capsys, value):
    text = json.dumps(slower(real))
    doc = json.loads(text)
    bench_of(doc, "fit")["stats"]["data"][1] = "@@"
    bad = write(tmp_path, "bad.json", json.dumps(doc).replace('"@@"', value))
    assert cli.main(["compare", str(write(tmp_path, "a.json", real)), str(bad)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "bad.json")


def test_baseline_refuses_nan(tmp_path, real, capsys):
    doc = copy.deepcopy(real)
    bench_of(doc, "predict")["stats"]["data"] = ["@@"]
    bad = write(tmp_path, "bad.json", json.dumps(doc).replace('"@@"', "NaN"))
    assert cli.main(["baseline", str(bad), "--dir", str(tmp_path / "base")]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "NaN")
    assert not (tmp_path / "base").exists()


# --- 3. parsable but wrong content: one line, never a traceback -------------------------------------------


def _set(doc: dict, dotted: str, value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    *parents, last = dotted.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return doc


WRONG = [
    ("benchmarks.0.stats.data.0", "slow"),
    ("benchmarks.0.stats.data.0", None),
    ("benchmarks.0.stats.data.0", {}),
    ("benchmarks", [1, 2]),
    ("benchmarks.0.extra_info", None),
    ("benchmarks.0.extra_info.batch_size", "32"),
    ("benchmarks.0.extra_info.test_accuracy", "0.93"),
    ("benchmarks.0.extra_info.band", "wide"),
    ("benchmarks.0.extra_info.fingerprint", 12345),
    ("machine_info.mnist_ref", []),
    ("benchmarks.0.extra_info.path", "train"),
    ("benchmarks.0.stats.data", []),
    ("benchmarks.0.stats", "fast"),
    ("mnist_ref.oracle", {"matches": "yes"}),
    ("benchmarks.1.extra_info.test_accuracy", 7),
]


@pytest.mark.parametrize("field, value", WRONG)
@pytest.mark.parametrize("command", ["compare", "report", "baseline"])
def test_wrong_content_is_one_line_and_exit_2(tmp_path, real, capsys, command, field, value):
    bad = write(tmp_path, "bad.json", _set(real, field, value))
    args = {
        "compare": ["compare", str(write(tmp_path, "a.json", real)), str(bad)],
        "report": ["report", str(bad), "--out-dir", str(tmp_path / "out")],
        "baseline": ["baseline", str(bad), "--dir", str(tmp_path / "base")],
    }[command]
    assert cli.main(args) == ExitCode.BAD_INPUT
    one_line_error(capsys, "bad.json")


def test_deeply_nested_json_is_one_line(tmp_path, real, capsys):
    bad = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    assert cli.main(["compare", str(write(tmp_path, "a.json", real)), str(bad)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "deep.json")


# --- 4. nothing skipped in silence ------------------------------------------------------------------------


def test_rounds_missing_from_the_new_run_block_a_pass(tmp_path, real, capsys):
    doc = copy.deepcopy(real)
    del bench_of(doc, "predict")["stats"]["data"]
    code = cli.main(["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", doc))])
    assert code == ExitCode.BAD_INPUT
    assert "no round times" in capsys.readouterr().out


def test_a_path_missing_from_the_new_run_blocks_a_pass(tmp_path, real, capsys):
    doc = copy.deepcopy(real)
    doc["benchmarks"].remove(bench_of(doc, "evaluate", "tuned"))
    assert (
        cli.main(["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", doc))])
        == ExitCode.BAD_INPUT
    )
    assert "missing from the new run" in capsys.readouterr().out


def test_a_baseline_case_the_new_run_lacks_blocks_unless_only_common(tmp_path, real, capsys):
    doc = copy.deepcopy(real)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["extra_info"]["mode"] == "book"]
    base, new = write(tmp_path, "a.json", real), write(tmp_path, "b.json", doc)
    assert cli.main(["compare", str(base), str(new)]) == ExitCode.BAD_INPUT
    assert "not measured by the new run" in capsys.readouterr().out
    assert cli.main(["compare", str(base), str(new), "--only-common"]) == ExitCode.OK


def test_a_new_case_without_baseline_still_has_its_band_checked(tmp_path, real):
    doc = copy.deepcopy(real)
    for bench in doc["benchmarks"]:
        if bench["extra_info"]["mode"] == "tuned":
            bench["extra_info"]["batch_size"] = 64
    bench_of(doc, "fit", "tuned")["extra_info"]["test_accuracy"] = 0.5
    base = copy.deepcopy(real)
    base["benchmarks"] = [b for b in base["benchmarks"] if b["extra_info"]["mode"] == "book"]
    assert (
        cli.main(["compare", str(write(tmp_path, "a.json", base)), str(write(tmp_path, "b.json", doc))])
        == ExitCode.INCORRECT
    )


def test_no_environment_block_means_speed_cannot_be_compared(tmp_path, real, capsys):
    doc = slower(real)
    del doc["machine_info"]["mnist_ref"]
    bench_of(doc, "fit")["extra_info"]["fingerprint"] = "0" * 64
    assert (
        cli.main(["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", doc))])
        == ExitCode.BAD_INPUT
    )
    out = capsys.readouterr().out
    assert "unknown environment" in out and "speed cannot be compared" in out and "weights changed" in out
    assert (
        cli.main(
            ["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", doc)), "--perf", "warn"]
        )
        == ExitCode.OK
    )


# --- 5. validated options ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1", "-2", "nan", "inf", "fast"])
def test_threshold_must_be_a_finite_ratio_above_one(tmp_path, real, capsys, value):
    base = write(tmp_path, "a.json", real)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", str(base), str(base), "--threshold", value])
    assert exit_info.value.code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--threshold" in err[0]


def test_out_may_not_be_an_input(tmp_path, real, capsys):
    base, new = write(tmp_path, "a.json", real), write(tmp_path, "b.json", real)
    before = new.read_bytes()
    assert cli.main(["compare", str(base), str(new), "--out", str(new)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "is one of the input files")
    assert new.read_bytes() == before


# --- 6. report and versions: all pages or none ------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_report_with_a_blocked_page_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "bench-training.png").mkdir(parents=True)
    assert cli.main(["report", str(SAMPLE), "--out-dir", str(out)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "bench-training.png")
    assert _snapshot(out) == {}


def test_an_interrupted_report_keeps_the_old_pages(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert cli.main(["report", str(SAMPLE), "--out-dir", str(out)]) == 0
    for page in out.iterdir():
        page.write_bytes(b"old")
    before = _snapshot(out)

    def interrupt(name):
        if name == "write":
            raise KeyboardInterrupt

    monkeypatch.setattr(interrupts, "stage", interrupt)
    assert cli.main(["report", str(SAMPLE), "--out-dir", str(out)]) == interrupts.EXIT_SIGINT
    assert _snapshot(out) == before and len(before) == 4
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert "no output was replaced" in capsys.readouterr().err


def test_report_on_nothing_usable_is_exit_2(tmp_path, real, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["report", str(empty), "--out-dir", str(tmp_path / "out")]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "no bench or sweep JSON")
    doc = copy.deepcopy(real)
    doc["mnist_ref"].update(partial=True, outcome="interrupted")
    write(empty, "run.partial.json", doc)
    assert cli.main(["report", str(empty), "--out-dir", str(tmp_path / "out")]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "1 partial file(s) left out")
    assert not (tmp_path / "out").exists()


def test_versions_on_a_missing_or_empty_folder_is_exit_2(tmp_path, capsys):
    out = tmp_path / "tf-versions.md"
    assert cli.main(["versions", str(tmp_path / "nowhere"), "--envs", "tf221", "--out", str(out)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "no such folder")
    assert cli.main(["versions", str(tmp_path), "--envs", "tf221", "--out", str(out)]) == ExitCode.BAD_INPUT
    one_line_error(capsys, "left results")
    assert not out.exists()


# --- 7. small things --------------------------------------------------------------------------------------


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = atomic.write_text(tmp_path / "fresh.md", "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.md"
        kept.write_text("x")
        kept.chmod(0o664)
        atomic.write_text(kept, "y")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o664
    finally:
        os.umask(old)


def test_baseline_on_a_partial_file_does_not_offer_a_missing_option(tmp_path, real, capsys):
    doc = copy.deepcopy(real)
    doc["mnist_ref"].update(partial=True, outcome="interrupted")
    assert (
        cli.main(["baseline", str(write(tmp_path, "cut.json", doc)), "--dir", str(tmp_path / "b")])
        == ExitCode.BAD_INPUT
    )
    line = one_line_error(capsys, "complete session")
    assert "--allow-partial" not in line


def test_a_file_name_that_is_not_utf8_is_printed_and_written_safely(tmp_path, real, capsys):
    name = os.fsdecode(b"run-\xff.json")
    path = write(tmp_path, name, real)
    assert cli.main(["compare", str(path), str(path), "--out", str(tmp_path / "r.md")]) == ExitCode.OK
    assert cli.main(["report", str(path), "--out-dir", str(tmp_path / "out")]) == ExitCode.OK
    assert "\\udcff" in (tmp_path / "out" / "bench.md").read_text()


def test_every_committed_results_file_passes_the_reader():
    from mnist_ref.store import files

    bench_files = [p for p in (ROOT / "results").rglob("*.json") if "benchmarks" in p.read_text()[:100_000]]
    assert len(bench_files) > 30
    for path in bench_files:
        bench = files.load_bench(path, allow_partial=True)
        for entry in bench.benchmarks:  # plain params, so pytest-benchmark can group by them
            assert set(entry["params"]) == {"backend", "device", "batch_size", "mode", "replicas"}, path
    for path in (ROOT / "results" / "seed-sweep").glob("*.json"):
        files.load_sweep(path)
    for path in [
        *(ROOT / "results" / "tox").glob("*/run.json"),
        *(ROOT / "results" / "gpu-h200" / "runs").glob("*.json"),
    ]:
        files.load_document(path, "run record")
    for path in (ROOT / "results" / "tox").glob("*/oracle.json"):
        files.load_document(path, "oracle result")


# --- property: any mutation of a real bench file --------------------------------------------------------

_REAL = json.loads(BASELINE.read_text())


def _pointers(node, prefix=()):
    """Every place in a document (as key paths), skipping the long per-epoch histories' elements."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _pointers(value, (*prefix, key))
    elif isinstance(node, list) and (not prefix or prefix[-1] != "history"):
        for index, value in enumerate(node[:6]):
            yield from _pointers(value, (*prefix, index))


POINTERS = [p for p in _pointers(_REAL) if p]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _mutate(document: dict, pointer: tuple, action: str, value) -> dict:
    doc = copy.deepcopy(document)
    *parents, last = pointer
    target = doc
    for part in parents:
        target = target[part]
    if action == "delete":
        del target[last]
    elif action == "scale" and isinstance(target[last], (int, float)) and not isinstance(target[last], bool):
        target[last] = target[last] * 3
    else:
        target[last] = value
    return doc


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    pointer=st.sampled_from(POINTERS),
    action=st.sampled_from(["delete", "replace", "scale"]),
    value=JSON_VALUES,
    mutate_baseline=st.booleans(),
)
def test_no_mutation_gives_a_traceback_or_a_pass_without_comparing_everything(
    tmp_path_factory, pointer, action, value, mutate_baseline
):
    from mnist_ref.gate import compare
    from mnist_ref.store import files

    folder = tmp_path_factory.mktemp("mutated")
    mutated = _mutate(_REAL, pointer, action, value)
    a, b = (
        write(folder, "a.json", mutated if mutate_baseline else _REAL),
        write(folder, "b.json", _REAL if mutate_baseline else mutated),
    )
    code = cli.main(["compare", str(a), str(b), "--perf", "fail", "--perf-across-machines", "fail"])
    assert code in set(ExitCode)
    if code == ExitCode.OK:
        result = compare.compare(
            [files.load_bench(a)], [files.load_bench(b)], compare.Policy(perf_across_machines="fail")
        )
        judged = {(v.key, v.path) for v in result.paths}
        expected = {(k, p) for k, paths in files.cells([files.load_bench(a)]).items() for p in paths}
        assert judged == expected


def test_pytest_benchmark_groups_committed_files_by_their_params():
    import subprocess
    import sys

    files = [ROOT / "results" / "tox" / "tf215" / "bench.json", ROOT / "results" / "distributed" / "jax-x2.json"]
    for group in ("param:batch_size", "param:replicas"):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from pytest_benchmark.cli import main; main()",
                "compare",
                f"--group-by={group}",
                *map(str, files),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert f"benchmark '{group.split(':')[1]}=" in proc.stdout  # the group header, e.g. benchmark 'replicas=2'
    assert "benchmark 'replicas=2'" in proc.stdout and "benchmark 'replicas=1'" in proc.stdout
