"""The gate's newer surfaces cannot lie or lose data: `ab`'s folder, `baseline`'s acceptance rule, too few rounds,
one measure per file, `portable`'s rewrite, the counted table's columns, the bench's options and Valgrind's
leftovers. Inputs are mutated copies of the committed baseline (a real smoke-bench JSON)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, process_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from mnist_ref import cli
from mnist_ref.gate import ab, compare
from mnist_ref.plumbing.checkout import CHECKOUT, portable_path
from mnist_ref.plumbing.errors import ConfigError, ExitCode, ReportError
from mnist_ref.store import files
from mnist_ref.store import portable as portable_files
from mnist_ref.store.schema import PATHS

BASELINE = ROOT / "results" / "baseline" / "cpu-tensorflow-smoke.json"
REAL = json.loads(BASELINE.read_text())
PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def write(folder: Path, name: str, document: dict) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def scaled(document: dict, factor: float, *, rounds: int | None = None) -> dict:
    """document with every round `factor` times as long, cut to `rounds` rounds a benchmark."""
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        data = [t * factor for t in bench["stats"]["data"]][:rounds]
        bench["stats"].update(data=data, median=sorted(data)[len(data) // 2])
    return doc


def error_line(capsys, prefix: str = "mnist-ref: error") -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    return lines[0]


# --- 1. ab writes only into a new or empty folder, and compares exactly the runs it wrote ------------------------


def fake_ab(monkeypatch, *, stale: dict | None = None) -> dict:
    """`mnist-ref ab` without processes: each side's run is a copy of the real baseline; with stale, a 3x slower file
    also appears beside them (as an earlier session's would). What compare was given is recorded."""
    seen: dict = {"compared": [], "ran": False}

    def run_interleaved(arms, *, repeats, out_dir, **_):
        seen["ran"] = True
        written = {
            a.name: [write(out_dir / a.name, f"run-{i}.json", REAL) for i in range(1, repeats + 1)] for a in arms
        }
        if stale:
            for name in written:
                write(out_dir / name, "run-9.json", stale)
        return written

    real_compare = compare.compare

    def spy(base, new, policy=compare.Policy()):  # noqa: B008
        seen["compared"].append((len(base), len(new)))
        return real_compare(base, new, policy)

    monkeypatch.setattr(
        ab, "arm", lambda name, spec, *, bench_args: ab.Arm(name, sys.executable, ROOT, tuple(bench_args))
    )
    monkeypatch.setattr(ab, "run_interleaved", run_interleaved)
    monkeypatch.setattr(ab, "check_measure", lambda measure: None)
    monkeypatch.setattr(ab, "check_bench_args", lambda arms: None)
    monkeypatch.setattr(compare, "compare", spy)
    return seen


NAMES = st.sampled_from(["A/run-1.json", "A/run-2.json", "B/run-2.json", "B/run-1.log", "compare.md", "notes.txt"])


@PROPERTY
@given(existing=st.lists(NAMES, max_size=3, unique=True), repeats=st.integers(1, 3))
def test_ab_refuses_a_folder_that_holds_anything_and_compares_only_its_own_runs(
    tmp_path_factory, monkeypatch, capsys, existing, repeats
):
    out_dir = tmp_path_factory.mktemp("ab") / "out"
    for name in existing:
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text("{}")
    seen = fake_ab(monkeypatch, stale=scaled(REAL, 3.0))
    code = cli.main(["ab", "--b", sys.executable, "--repeats", str(repeats), "--out-dir", str(out_dir)])
    if existing:
        assert code == ExitCode.BAD_INPUT and not seen["ran"]
        assert "already holds" in error_line(capsys)
        assert "bench runs per side" not in capsys.readouterr().out
    else:
        assert code == ExitCode.OK, capsys.readouterr()
        # the counts, then the timed guard's runs (ab.GUARD_REPEATS a side)
        assert seen["compared"] == [(repeats, repeats), (ab.GUARD_REPEATS, ab.GUARD_REPEATS)], (
            "the stale 3x slower run-9.json was read"
        )


def test_ab_refuses_before_any_run_starts(tmp_path, monkeypatch, capsys):
    seen = fake_ab(monkeypatch)
    for argv, needle in (
        (["--repeats", "0"], "--repeats takes 1 to"),
        (["--out", str(tmp_path)], "is a folder"),
        (["--out", str(tmp_path / "new" / "A" / "report.md"), "--out-dir", str(tmp_path / "new")], "or inside one"),
    ):
        assert cli.main(["ab", "--b", sys.executable, *argv]) == ExitCode.BAD_INPUT
        captured = capsys.readouterr()
        assert needle in captured.err and "bench runs per side" not in captured.out and "Traceback" not in captured.err
    assert not seen["ran"]


def test_ab_without_valgrind_says_to_pass_its_own_flag(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="pass --measure time"):
        ab.check_measure("instructions")
    ab.check_measure("time")


def test_a_failed_run_names_its_cause_and_a_run_without_json_says_so(tmp_path):
    log = tmp_path / "run-1.log"
    log.write_text("collected 0 items\nERROR: --bench-batch-sizes takes whole numbers separated by commas, got 'x'\n\n")
    assert ab.cause(log) == "ERROR: --bench-batch-sizes takes whole numbers separated by commas, got 'x'"
    log.write_text(
        "! _pytest.outcomes.Exit: mnist-ref bench: no local MNIST data !\nmnist-ref bench: the session did not "
        "complete\n"
    )
    assert ab.cause(log) == "mnist-ref bench: no local MNIST data"
    quiet = tmp_path / "python"
    quiet.write_text("#!/bin/sh\nexit 0\n")
    quiet.chmod(0o755)
    with pytest.raises(ConfigError, match=r"ended \(exit 0\) without writing .*--benchmark-json"):
        ab.run_interleaved(
            [ab.Arm("B", str(quiet), tmp_path)], repeats=1, out_dir=tmp_path / "out", progress=lambda line: None
        )


# --- 2. baseline refuses a run that would hide regressions ---------------------------------------------------------


def cases_and_paths(document: dict) -> set:
    return {(files.case_key(b["extra_info"]), b["extra_info"]["path"]) for b in document["benchmarks"]}


@PROPERTY
@given(
    slowdown=st.sampled_from([1.0, 2.0]),
    work=st.sampled_from([0, 0.5]),
    steps=st.sampled_from([0, 0.05]),
    outcome=st.sampled_from(["complete", "interrupted"]),
    partial=st.booleans(),
    keep=st.integers(0, len(REAL["benchmarks"])),
    verdict=st.sampled_from(["steady", "contended"]),
    busy=st.sampled_from([0.0, 1.5]),
    allow_narrower=st.booleans(),
)
def test_baseline_accepts_only_a_clean_complete_steady_run_as_wide_as_the_current_one(
    tmp_path_factory, capsys, slowdown, work, steps, outcome, partial, keep, verdict, busy, allow_narrower
):
    folder = tmp_path_factory.mktemp("baseline")
    current = write(folder / "base", "cpu-tensorflow-smoke.json", REAL)
    before = current.read_bytes()
    doc = copy.deepcopy(REAL)
    doc["benchmarks"] = doc["benchmarks"][:keep]
    doc["mnist_ref"].update(
        injected_slowdown=slowdown,
        injected_work=work,
        injected_steps=steps,
        outcome=outcome,
        partial=partial,
        contention={
            "verdict": verdict,
            "reasons": [],
            "other_busy_cores": busy,
            "steal_share": 0.0,
            "probe_drift": 1.0,
        },
    )
    new = write(folder, "new.json", doc)
    argv = ["baseline", str(new), "--dir", str(current.parent), *(["--allow-narrower"] if allow_narrower else [])]
    code = cli.main(argv)
    clean = (slowdown, work, steps, outcome, partial, verdict, busy) == (
        1.0,
        0,
        0,
        "complete",
        False,
        "steady",
        0.0,
    ) and keep > 0
    narrower = cases_and_paths(doc) < cases_and_paths(REAL)
    if clean and (allow_narrower or not narrower):
        assert code == ExitCode.OK
        assert json.loads(current.read_text()) == doc
        if narrower:
            assert "dropped from the baseline" in capsys.readouterr().out
    else:
        assert code == ExitCode.BAD_INPUT
        error_line(capsys)
        assert current.read_bytes() == before, "a refused run leaves the current baseline as it was"


def test_baseline_refuses_an_incorrect_run(tmp_path, capsys):
    doc = copy.deepcopy(REAL)
    fit = next(b for b in doc["benchmarks"] if b["extra_info"]["path"] == "fit")
    fit["extra_info"]["test_accuracy"] = 0.5
    assert (
        cli.main(["baseline", str(write(tmp_path, "bad.json", doc)), "--dir", str(tmp_path / "base")])
        == ExitCode.BAD_INPUT
    )
    assert "outside the band" in error_line(capsys)


# --- 3. too few rounds cannot pass a slowdown ----------------------------------------------------------------------


def test_the_smallest_p_decides_how_many_rounds_can_judge():
    assert compare.smallest_p(3, 3) == pytest.approx(0.05) and compare.smallest_p(4, 4) == pytest.approx(1 / 70)
    assert compare.smallest_p(1, 30) == 1.0
    assert compare.fewest_a_side() == 4


@pytest.mark.parametrize("rounds, factor", [(1, 3.0), (2, 1.5), (3, 2.0)])
def test_too_few_rounds_is_cannot_judge_not_a_pass(tmp_path, capsys, rounds, factor):
    base = write(tmp_path, "base.json", scaled(REAL, 1.0, rounds=rounds))
    new = write(tmp_path, "new.json", scaled(REAL, factor, rounds=rounds))
    assert cli.main(["compare", str(base), str(new), "--perf", "fail"]) == ExitCode.NOT_JUDGED
    assert "cannot judge" in capsys.readouterr().out
    assert cli.main(["compare", str(base), str(new), "--perf", "warn"]) == ExitCode.OK


def test_four_rounds_a_side_still_catch_a_slowdown(tmp_path):
    base, new = (
        write(tmp_path, "base.json", scaled(REAL, 1.0, rounds=4)),
        write(tmp_path, "new.json", scaled(REAL, 3.0, rounds=4)),
    )
    assert cli.main(["compare", str(base), str(new), "--perf", "fail"]) == ExitCode.SLOWER


# --- 4. one measure a file ----------------------------------------------------------------------------------------


def counted(document: dict) -> dict:
    doc = copy.deepcopy(document)
    doc["mnist_ref"]["measure"] = {"name": "instructions", "unit": "instructions"}
    for bench in doc["benchmarks"]:
        bench["extra_info"].update(measure="instructions", instructions_per_step=bench["stats"]["median"] * 1e8)
    return doc


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: d["mnist_ref"].pop("measure"), "file's measure (mnist_ref.measure) is time (absent)"),
        (lambda d: d["mnist_ref"].update(measure={"name": "time"}), "inconsistent"),
        (lambda d: d["benchmarks"][0]["extra_info"].pop("instructions_per_step"), "records no instructions_per_step"),
        (lambda d: d["benchmarks"][0]["extra_info"].update(instructions_per_step=-1.0), "instructions_per_step"),
    ],
)
def test_a_file_whose_measure_is_not_one_thing_is_bad_input(tmp_path, capsys, damage, needle):
    doc = counted(REAL)
    damage(doc)
    path = write(tmp_path, "counted.json", doc)
    for argv in (
        ["compare", str(path), str(path)],
        ["report", "--history", str(path), "--out-dir", str(tmp_path / "pages")],
    ):
        assert cli.main(argv) == ExitCode.BAD_INPUT, "never a false 'diverged' (3) or counts read as seconds"
        assert needle in error_line(capsys)


# --- 5. portable keeps every distinction and rewrites all or nothing ------------------------------------------------

SEGMENT = st.text(alphabet="abcxyz019_-", min_size=1, max_size=6)
ABSOLUTE = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@PROPERTY
@given(
    inside=st.lists(ABSOLUTE, min_size=1, max_size=5, unique=True), outside=st.lists(ABSOLUTE, max_size=3, unique=True)
)
def test_portable_paths_are_relative_and_never_merge(inside, outside):
    """Paths of the checkout's folder become relative to the checkout; system paths stay as they are; none merge."""
    here = [f"{CHECKOUT.parent}{p}" for p in inside]
    system = [f"/proc{p}" for p in outside]
    rewritten = [portable_path(p) for p in here + system]
    assert len(set(rewritten)) == len(here + system)
    assert all(
        os.path.normpath(os.path.join(CHECKOUT, r)) == p for p, r in zip(here, rewritten[: len(here)], strict=True)
    )
    assert rewritten[len(here) :] == system


@PROPERTY
@given(paths=st.lists(ABSOLUTE, min_size=2, max_size=4, unique=True))
def test_a_rewritten_json_keeps_its_keys_and_list_entries_apart(tmp_path_factory, paths):
    folder = tmp_path_factory.mktemp("portable")
    target = write(folder, "runs.json", {"by_path": {p: i for i, p in enumerate(paths)}, "listed": paths})
    assert portable_files.main([str(target)]) == 0
    document = json.loads(target.read_text())
    assert len(document["by_path"]) == len(paths) and len(set(document["listed"])) == len(paths)
    assert sorted(document["by_path"].values()) == list(range(len(paths)))


def test_a_rewrite_that_would_merge_entries_is_refused_and_writes_nothing(tmp_path, capsys):
    inside = str(CHECKOUT / "results" / "a.json")
    first = write(tmp_path, "1.json", {"command": "pytest --benchmark-json=/tmp/x.json"})
    clash = write(tmp_path, "2.json", {inside: 1, "results/a.json": 2})
    before = {p: p.read_bytes() for p in (first, clash)}
    assert portable_files.main([str(tmp_path)]) == ExitCode.BAD_INPUT
    assert "merge two distinct entries" in error_line(capsys, "mnist_ref.store.portable: error")
    assert {p: p.read_bytes() for p in (first, clash)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.json", "2.json"], "no temporaries left"


def test_a_file_that_cannot_be_read_or_renamed_leaves_every_file_as_it_was(tmp_path, monkeypatch, capsys):
    good = [
        write(tmp_path, f"{i}.json", {"command": f"pytest --benchmark-json={CHECKOUT}/out/{i}.json"}) for i in range(3)
    ]
    before = {p: p.read_bytes() for p in good}
    (tmp_path / "3.json").write_bytes(b'{"x": "\xff/tmp/a/b"}')
    assert portable_files.main([str(tmp_path)]) == ExitCode.BAD_INPUT
    assert "not UTF-8" in error_line(capsys, "mnist_ref.store.portable: error")
    (tmp_path / "3.json").unlink()
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    assert portable_files.main([str(tmp_path)]) == ExitCode.BAD_INPUT
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no temporaries left"
    assert {p: p.read_bytes() for p in good} == before, "a failed rename puts back the files renamed before it"


# --- 6. the counted table's cells sit under their headers -----------------------------------------------------------


def tables_by_header(markdown: str) -> list[list[dict[str, str]]]:
    """Every table of a markdown page as rows of {header: cell}, read as a browser would (markdown-it)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables, rows, row, header = [], [], [], []
    for token in tokens:
        if token.type == "table_open":
            rows, header = [], []
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close":
            if header:
                rows.append(dict(zip(header, row, strict=True)))
            else:
                header = row
        elif token.type == "table_close":
            tables.append(rows)
    return tables


def test_the_committed_counted_table_reads_back_by_header():
    page = (ROOT / "results" / "bench.md").read_text()
    section = page.split("## Instruction counts")[1]
    rows = tables_by_header(section)[0]
    counted_file = files.load_bench(ROOT / "results" / "bench" / "cpu-tensorflow-instructions.json")
    expected = {
        (files.case_key(b["extra_info"]).label, b["extra_info"]["path"]): b["extra_info"]
        for b in counted_file.benchmarks
    }
    assert len(rows) == len(expected)
    for row in rows:
        assert row["path"] in PATHS and row["batch"].isdigit()
        backend, device = row["case"].split()
        info = expected[(f"{backend} {device} bs{row['batch']} {row['mode']}", row["path"])]
        assert float(row["M instructions a step"]) == pytest.approx(info["instructions_per_step"] / 1e6, abs=5e-4)
        assert int(row["counted steps a round"]) == info["steps_per_round"]
        assert row["round spread (IQR / median)"].endswith("%")


def test_a_row_that_does_not_fit_its_headers_is_refused():
    from mnist_ref.reporting.tables import table

    with pytest.raises(ValueError, match="3 headers"):
        table([["a", "b"]], ["x", "y", "z"], label_columns=1)


# --- 8. inputs that are not files, and a file named twice -----------------------------------------------------------


def test_a_fifo_or_a_device_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ReportError, match="not a regular file"):
            files.load_json(path)
    assert cli.main(["report", str(fifo), "--out-dir", str(tmp_path / "out")]) == ExitCode.BAD_INPUT
    assert "not a regular file" in error_line(capsys)


def test_a_file_named_twice_is_read_once(tmp_path):
    path = write(tmp_path, "a.json", REAL)
    assert files.expand([path, tmp_path, Path(str(path))]) == [path]


# --- 7. the bench's options, checked while pytest configures ---------------------------------------------------------


# Every bad value is tested in-process (tests/test_bench_plugin.py); this one runs `pytest bench` as users type it.
@pytest.mark.slow
@pytest.mark.parametrize("options, needle", [(["--bench-batch-sizes=-32"], "at least 1")])
def test_a_bad_bench_option_is_one_line(options, needle):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "--benchmark-only", "-p", "no:cacheprovider", "-q", *options],
        capture_output=True,
        text=True,
        env=process_env(),
        cwd=ROOT,
        timeout=300,
    )
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 4 and "Traceback" not in proc.stdout + proc.stderr, output
    assert len(output) == 1 and output[0].startswith("ERROR:") and needle in output[0], output


@pytest.mark.long  # a counted bench process under Valgrind (about a minute)
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_a_counted_session_leaves_no_dump_folder(tmp_path):
    out = tmp_path / "counted.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "bench",
            "--benchmark-only",
            "-p",
            "no:cacheprovider",
            "-q",
            "--bench-smoke",
            "--bench-devices",
            "cpu",
            "-k",
            "floor",
            "--bench-measure",
            "instructions",
            f"--benchmark-json={out}",
        ],
        capture_output=True,
        text=True,
        env=process_env({"TMPDIR": str(tmp_path)}),
        cwd=ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert files.load_bench(out).measure == "instructions"
    assert not list(tmp_path.glob("mnist-ref-callgrind-*"))
