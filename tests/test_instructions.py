"""The steady measure: callgrind's client requests from Python, its dumps, and what the gate does with counts."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

from mnist_ref.core.model import extra_widths
from mnist_ref.gate import compare
from mnist_ref.measure import instructions
from mnist_ref.plumbing.errors import ConfigError, ReportError
from mnist_ref.store.files import load_bench

BASELINE = ROOT / "results" / "baseline" / "cpu-tensorflow-smoke.json"


def test_client_requests_do_nothing_natively():
    assert instructions.on_valgrind() is False
    counter = instructions.Counter()
    assert counter() == 0  # reading the total touches nothing


def test_a_dump_total_is_read_and_a_dump_without_one_is_an_error(tmp_path):
    dump = tmp_path / "callgrind.1.1"
    dump.write_text("version: 1\ncmd: python\npart: 1\nevents: Ir\nsummary: 12\ntotals: 627881791\n")
    assert instructions.dump_total(dump) == 627_881_791
    dump.write_text("version: 1\nevents: Ir\n")
    with pytest.raises(ConfigError, match="without a totals line"):
        instructions.dump_total(dump)


def test_counting_outside_callgrind_says_how_to_run_it(monkeypatch):
    monkeypatch.delenv(instructions.OUT_ENV, raising=False)
    counter = instructions.Counter()
    counter.open = True  # as after start(); stop() then needs the dump folder
    with pytest.raises(ConfigError, match="--bench-measure instructions"):
        counter.stop()


def test_valgrind_command_and_a_missing_valgrind(monkeypatch, tmp_path):
    if shutil.which("valgrind"):
        command = instructions.valgrind_command(["python", "-c", "pass"], tmp_path)
        assert "--instr-atstart=no" in command and command[-3:] == ["python", "-c", "pass"]
        assert f"--callgrind-out-file={tmp_path}/callgrind.%p" in command
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install valgrind"):
        instructions.valgrind_command(["python"], tmp_path)


@pytest.mark.parametrize(("products", "widths"), [(0, []), (1, [64]), (0.5, [32]), (2.25, [64, 64, 16]), (0.001, [])])
def test_extra_work_widths(products, widths):
    assert extra_widths(products) == widths


COUNT_SCRIPT = """
import sys
import numpy as np
from mnist_ref.measure.instructions import counter
a = np.random.default_rng(0).random((128, 128))
for _ in range(5):
    a @ a  # warm-up: first-use costs stay out of the regions
for n in map(int, sys.argv[1:]):
    counter.start()
    for _ in range(n):
        a @ a
    counter.stop()
    print(counter.total)
print(sum(counter.parts.values()), counter.parts["math kernels"])
"""


@pytest.mark.long  # a minute under Valgrind; .ci/run's A/A count check covers the path in the default run's time
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_counts_repeat_and_grow_with_the_work(tmp_path):
    """Under callgrind, the same region counts the same to within 0.5%, and twice the work counts about twice."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    command = instructions.valgrind_command([sys.executable, "-c", COUNT_SCRIPT, "50", "50", "100"], folder)
    env = {
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        instructions.OUT_ENV: str(folder),
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    *totals, (parts, kernels) = [list(map(int, line.split())) for line in out.stdout.splitlines()]
    totals = [t for (t,) in totals]
    assert parts == totals[-1], "the dumps' instructions by part sum to their totals"
    assert kernels > parts / 2, "matrix products run mostly in the BLAS kernels"
    first, second, double = totals[0], totals[1] - totals[0], totals[2] - totals[1]
    assert first > 1_000_000
    assert abs(second / first - 1) < 0.005
    assert 1.8 < double / first < 2.2
    assert not list(folder.glob("callgrind.*.*")), "each dump is deleted once read"


# --- the gate on counted runs ----------------------------------------------------------------------


def counted(document: dict, *, scale: float = 1.0, contended: bool = False) -> dict:
    """The committed baseline as if counted: four rounds within 0.3% of each other (as counts are), the measure
    recorded, no accuracy (a counted run trains a bounded number of steps)."""
    doc = copy.deepcopy(document)
    doc["mnist_ref"]["measure"] = {"name": "instructions", "unit": "instructions"}
    if contended:
        doc["mnist_ref"]["contention"] = {"verdict": "contended", "reasons": ["another process used 1.9 cores"]}
    for bench in doc["benchmarks"]:
        bench["stats"]["data"] = [185.6e6 * (1 + 0.001 * i) * scale for i in range(4)]
        bench["stats"]["median"] = 185.75e6 * scale
        info = bench["extra_info"]
        info["measure"] = "instructions"
        info["instructions_per_step"] = bench["stats"]["median"] / info["steps_per_round"]
        if info["path"] == "fit":
            info.update(test_accuracy=None, test_loss=None, band=None, in_band=None)
    return doc


def judge(tmp_path, base: dict, new: dict, **options) -> compare.Result:
    a, b = tmp_path / "base.json", tmp_path / "new.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(new))
    return compare.compare([load_bench(a)], [load_bench(b)], compare.Policy(**options))


@pytest.fixture
def real() -> dict:
    return json.loads(BASELINE.read_text())


def test_counts_against_counts_use_the_count_thresholds_and_ignore_load(tmp_path, real):
    base = counted(real)
    same = judge(tmp_path, base, counted(real, contended=True))
    assert same.comparison.counted and not same.comparison.contended
    assert same.comparison.thresholds == compare.INSTRUCTION_THRESHOLDS
    assert same.exit_code == compare.EXIT_OK, "a count has no accuracy to judge, and load does not move it"
    slower = judge(tmp_path, base, counted(real, scale=1.05))
    assert slower.exit_code == compare.EXIT_PERFORMANCE
    assert {v.path for v in slower.slower} >= {"fit"}


def test_counts_and_seconds_are_never_compared(tmp_path, real, capsys):
    with pytest.raises(ReportError, match="same --bench-measure"):
        judge(tmp_path, real, counted(real))
    from mnist_ref import cli

    (tmp_path / "a.json").write_text(json.dumps(real))
    (tmp_path / "b.json").write_text(json.dumps(counted(real)))
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "seconds and instruction counts are not compared" in err and "Traceback" not in err


def test_a_counted_run_is_not_a_baseline(tmp_path, real, capsys):
    from mnist_ref import cli

    path = tmp_path / "counted.json"
    path.write_text(json.dumps(counted(real)))
    assert cli.main(["baseline", str(path), "--dir", str(tmp_path / "baseline")]) == 2
    assert "the committed baseline is the timed smoke bench" in capsys.readouterr().err
    assert not (tmp_path / "baseline").exists()


def test_the_steady_validation_judges_each_arm_with_the_gate(tmp_path, real):
    from mnist_ref.validation import steady as steady_validation

    for arm, scale in (("same1", 1.0), ("same2", 1.001), ("steps0.05", 1.05)):
        for i in (1, 2, 3):
            folder = tmp_path / arm
            folder.mkdir(exist_ok=True)
            doc = counted(real, scale=scale * (1 + 0.0005 * i))
            for bench in doc["benchmarks"]:
                bench["extra_info"]["steps_per_round"] = 41 if arm.startswith("steps") else 39
            (folder / f"run-{i}.json").write_text(json.dumps(doc))
    page = steady_validation.render(tmp_path, command="analyse")
    separate = page.split("## One process a side")[1].split("## Two processes")[0]
    assert "| A/A          | 1.00x" in separate and "7/7" in separate  # 3 same-cycle pairs and 4 across cycles
    assert "1.051x (41 counted steps for 39)" in separate and "8/8" in separate


def test_counts_of_different_stacks_are_not_called_slower_or_faster(tmp_path, real, capsys):
    """A count sees work, not waiting: between two stacks (here another Keras) it is shown, never judged, and under
    --perf fail the gate cannot pass on it (exit 2, saying how to compare them timed)."""
    other = counted(real, scale=1.5)
    other["machine_info"]["mnist_ref"]["framework"]["keras"] = "2.21.0"
    result = judge(tmp_path, counted(real), other)
    assert result.comparison.counted and result.comparison.stacks_differ and result.comparison.thresholds is None
    assert not result.paths and result.exit_code == compare.EXIT_USAGE
    assert all("--measure time" in n.why for n in result.not_compared if n.path != "every path")
    assert result.comparison.label.endswith("different stacks")
    same_stack = judge(tmp_path, counted(real), counted(real, scale=1.5))
    assert not same_stack.comparison.stacks_differ and same_stack.exit_code == compare.EXIT_PERFORMANCE
