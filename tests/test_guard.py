"""The timed guard beside the counts: wall over CPU decides within one stack (a step that waits is slower, more work
is not), the clock across stacks; `ab` runs the counts and then the guard, and says which measure decided. Inputs are
mutated copies of the committed baseline (a real smoke-bench JSON) turned into guard files; the callgrind parser reads
a dump written in callgrind's own format."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_gate_surfaces import PROPERTY, REAL, error_line, fake_ab, write

from mnist_ref import cli
from mnist_ref.gate import ab, compare
from mnist_ref.gate.compare import Quantity, Verdict
from mnist_ref.measure import instructions
from mnist_ref.plumbing.errors import ExitCode
from mnist_ref.reporting import compare as compare_report
from mnist_ref.store import files


def guard_file(
    folder: Path,
    name: str,
    *,
    wall: float = 1.0,
    cpu: float = 1.0,
    session: str = "s1",
    keras: str | None = None,
    jitter: float = 0.0,
    floor: float = 1.0,
) -> files.BenchFile:
    """A guard file (--bench-measure steps) from the baseline: every round `wall` times as long, its CPU seconds
    such that wall over CPU is 0.8 * wall / cpu; jitter moves the rounds a little apart; the NumPy floor's rounds
    `floor` times as long again."""
    doc = copy.deepcopy(REAL)
    doc["mnist_ref"]["measure"] = {"name": "steps", "unit": "s", "steps_per_round": 300}
    doc["mnist_ref"]["ab_session"] = session
    if keras:
        doc["machine_info"]["mnist_ref"]["framework"]["keras"] = keras
    for bench in doc["benchmarks"]:
        scale = wall * (floor if bench["extra_info"]["mode"] == "floor" else 1.0)
        data = [t * scale * (1 + jitter * i) for i, t in enumerate(bench["stats"]["data"])]
        bench["stats"].update(data=data, median=sorted(data)[len(data) // 2])
        bench["extra_info"].update(measure="steps", round_cpu_s=[t * cpu / (0.8 * wall) for t in data])
    return files.load_bench(write(folder, name, doc))


def side(folder: Path, label: str, n: int = 4, **kwargs) -> list[files.BenchFile]:
    return [guard_file(folder, f"{label}-{i}.json", jitter=0.001 * (i + 1), **kwargs) for i in range(n)]


def fit(result: compare.Result, quantity: Quantity) -> compare.PathVerdict:
    return next(
        v
        for v in result.paths
        if v.path == "fit" and not v.key.floor and v.key.mode == "book" and v.quantity is quantity
    )


def test_a_step_that_waits_is_slower_and_more_work_is_not(tmp_path):
    base = side(tmp_path, "a")
    waits = side(tmp_path, "w", wall=1.5)  # 1.5x the wall, the same CPU seconds
    work = side(tmp_path, "k", wall=1.05, cpu=1.05)  # more work: wall and CPU alike
    waiting = compare.compare(base, waits)
    assert fit(waiting, Quantity.WAITING).verdict is Verdict.SLOWER and fit(waiting, Quantity.WAITING).decides
    assert fit(waiting, Quantity.SECONDS).decides is False, "within one stack the clock is shown, not deciding"
    assert waiting.exit_code == ExitCode.SLOWER
    more = compare.compare(base, work)
    assert fit(more, Quantity.WAITING).verdict is Verdict.NO_CHANGE
    aa = compare.compare(base, side(tmp_path, "b"))
    assert aa.exit_code == ExitCode.OK and not aa.slower


def test_across_stacks_the_clock_decides_and_wall_over_cpu_is_shown(tmp_path):
    base = side(tmp_path, "a")
    other = side(tmp_path, "o", wall=1.5, cpu=1.5, keras="9.9.9")  # slower on the clock, same wall over CPU
    result = compare.compare(base, other)
    assert result.comparison.stacks_differ and result.comparison.guard
    clock = fit(result, Quantity.SECONDS)
    assert clock.decides and clock.verdict is Verdict.SLOWER and result.exit_code == ExitCode.SLOWER
    assert not fit(result, Quantity.WAITING).decides
    assert "the clock decides" in result.comparison.why


def test_ab_measure_time_lets_the_clock_decide_within_one_stack(tmp_path):
    base = side(tmp_path, "a", n=8)
    work = side(tmp_path, "k", n=8, wall=1.05, cpu=1.05)  # 5% slower on the clock, wall over CPU unchanged
    written = [{"A": [f.path for f in base], "B": [f.path for f in work]}]
    result = compare.judge_ab(written, guard=False, counting=False, policy=compare.Policy())
    clock = fit(result, Quantity.SECONDS)
    assert clock.decides and clock.verdict is Verdict.SLOWER and result.exit_code == ExitCode.SLOWER
    assert clock.interval.low <= 1.05 + 1e-9 and clock.interval.high >= 1.05 - 1e-9
    assert not fit(result, Quantity.WAITING).decides
    assert compare.compare(base, work).exit_code == ExitCode.OK, "the timed guard after counts: wall over CPU decides"


def test_the_floors_clock_is_shown_and_never_decides(tmp_path):
    base = side(tmp_path, "a", n=8)
    moved = side(tmp_path, "f", n=8, floor=1.10)  # the fit as it was, the NumPy floor 1.10x on the clock
    written = [{"A": [f.path for f in base], "B": [f.path for f in moved]}]
    result = compare.judge_ab(written, guard=False, counting=False, policy=compare.Policy())
    floor = next(v for v in result.paths if v.key.floor and v.quantity is Quantity.SECONDS)
    assert floor.verdict is Verdict.SLOWER and not floor.decides, "shown with its verdict, not deciding"
    assert fit(result, Quantity.SECONDS).verdict is Verdict.NO_CHANGE and result.exit_code == ExitCode.OK
    slower = side(tmp_path, "s", n=8, wall=1.10)  # the fit 1.10x as well: it decides
    written = [{"A": [f.path for f in base], "B": [f.path for f in slower]}]
    assert compare.judge_ab(written, guard=False, counting=False, policy=compare.Policy()).exit_code == ExitCode.SLOWER


def test_counts_of_two_stacks_do_not_block_when_the_clock_judges_them(tmp_path):
    counted = copy.deepcopy(REAL)
    counted["mnist_ref"]["measure"] = {"name": "instructions", "unit": "instructions"}
    for bench in counted["benchmarks"]:
        bench["extra_info"].update(measure="instructions", instructions_per_step=1e6)
    other = copy.deepcopy(counted)
    other["machine_info"]["mnist_ref"]["framework"]["keras"] = "9.9.9"
    base = [files.load_bench(write(tmp_path, f"c{i}.json", counted)) for i in range(4)]
    new = [files.load_bench(write(tmp_path, f"d{i}.json", other)) for i in range(4)]
    alone = compare.compare(base, new)
    assert alone.exit_code == ExitCode.BAD_INPUT, "alone, counts of two stacks cannot pass"
    beside = compare.compare(base, new, compare.Policy(clock_elsewhere=True))
    assert beside.exit_code == ExitCode.OK and not beside.unchecked
    assert any("clock decides" in n.why for n in beside.not_compared)


@PROPERTY
@given(wait=st.floats(1.25, 3.0), work=st.floats(1.0, 1.3))
def test_wall_over_cpu_moves_with_waiting_only(tmp_path_factory, wait, work):
    folder = tmp_path_factory.mktemp("guard")
    base = side(folder, "a")
    new = side(folder, "n", wall=wait * work, cpu=work)
    verdict = fit(compare.compare(base, new), Quantity.WAITING)
    assert verdict.verdict is Verdict.SLOWER and verdict.ratio == pytest.approx(wait, rel=0.01)


def test_the_report_says_which_measure_decided(tmp_path):
    base, waits = side(tmp_path, "a"), side(tmp_path, "w", wall=1.5)
    gate = compare.Gate(
        (("instruction counts (work)", compare.compare(base, base)), ("timed guard", compare.compare(base, waits)))
    )
    assert gate.exit_code == ExitCode.SLOWER
    line = compare_report.gate_summary(gate)
    assert line.startswith("SLOWER: ") and "tensorflow cpu:0 bs32 book fit in wall/CPU (1.500x)" in line, line
    assert line.endswith("judged on wall/CPU; exit 1"), (
        "both parts here compare guard files: only wall over CPU decides"
    )
    markdown = compare_report.render_gate_markdown(gate, command="mnist-ref ab", refresh="x")
    assert "## timed guard" in markdown and "fit (seconds)" in markdown and "(shown)" in markdown


def test_ab_counts_then_guards_and_a_guard_of_too_few_is_refused(tmp_path, monkeypatch, capsys):
    seen = fake_ab(monkeypatch)
    code = cli.main(["ab", "--b", sys.executable, "--out-dir", str(tmp_path / "out")])
    assert code == ExitCode.OK, capsys.readouterr()
    assert seen["compared"] == [(1, 1), (ab.GUARD_REPEATS, ab.GUARD_REPEATS)]
    assert (tmp_path / "out" / "guard" / "A" / "run-1.json").is_file()
    assert "== timed guard" in capsys.readouterr().out
    code = cli.main(["ab", "--b", sys.executable, "--guard-repeats", "2", "--out-dir", str(tmp_path / "other")])
    assert code == ExitCode.BAD_INPUT and "--guard-repeats takes 0" in error_line(capsys)


def test_the_guard_arm_measures_steps_with_the_same_selection():
    a = ab.Arm(
        "B", sys.executable, Path("."), ("-k", "fit", "--bench-measure", "instructions", "--bench-inject-wait", "1.5")
    )
    assert ab.guard_arm(a).bench_args == ("-k", "fit", "--bench-inject-wait", "1.5", "--bench-measure", "steps")


def test_rotated_schedule_puts_every_arm_in_every_place():
    arms = [ab.Arm(n, "python", Path(".")) for n in "ABC"]
    plan = ab.schedule(arms, 3, rotate=True)
    orders = ["".join(a.name for i, a in plan if i == r) for r in (1, 2, 3)]
    assert orders == ["ABC", "BCA", "CAB"]


DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
cmd: python
events: Ir
ob=/usr/lib/libpython3.11.so.1.0
fl=ceval.c
fn=_PyEval_EvalFrameDefault
10 500
cob=/opt/tf/_pywrap_tensorflow_internal.so
cfl=matmul.cc
cfn=Eigen::internal::gebp_kernel
calls=2 20
11 9000
ob=/opt/tf/_pywrap_tensorflow_internal.so
fl=matmul.cc
fn=Eigen::internal::gebp_kernel
20 9000
fn=tensorflow::EagerExecute
+1 300
* 200
ob=/lib/x86_64-linux-gnu/libc.so.6
fl=memcpy.S
fn=__memcpy_avx_unaligned
5 40
fn=malloc
6 60
ob=???
fn=0x00000000deadbeef
0 7

totals: 10107
"""


def test_a_dumps_instructions_by_part_sum_to_its_total(tmp_path):
    dump = tmp_path / "callgrind.1"
    dump.write_text(DUMP)
    parts = instructions.dump_parts(dump)
    assert sum(parts.values()) == instructions.dump_total(dump) == 10107
    assert parts["math kernels"] == 9000  # by function name, whichever library holds it
    assert parts["Python interpreter"] == 500, "a call's inclusive cost is never counted as the caller's own"
    assert parts["framework runtime and other libraries"] == 500
    assert parts["C/C++ runtime"] == 100 and parts["compiled at run time"] == 7


def test_guard_files_hold_one_measure(tmp_path):
    doc = json.loads(json.dumps(REAL))
    doc["mnist_ref"]["measure"] = {"name": "steps", "unit": "s"}
    with pytest.raises(Exception, match="measured time, but the file's measure"):
        files.load_bench(write(tmp_path, "mixed.json", doc))


def test_a_tuned_count_starts_at_its_second_execution(monkeypatch):
    """Counting, a round holds at least two executions, and the steps counted leave out the first (the call's set-up):
    the tuned mode (100 steps an execution) counts 100 of 200 batches, the book's 39 of 40."""
    from helpers import ROOT

    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import timing

    counting = timing.COUNTING
    assert counting.steps_for(100) == 200 and counting.steps_for(1) == 40
    assert counting.counted_steps(200, "fit", 100) == 100 and counting.counted_steps(40, "fit", 1) == 39
    assert counting.counted_steps(30, "fit", 100) == 30, "fewer than two executions: the whole call is counted"
    assert timing.STEPS.steps_for(100) == 300 and timing.STEPS.bounded_work and not timing.STEPS.counting
    assert timing.Workload().rounds_for("fit", 4) == 4 and not timing.Workload().bounded_work


@pytest.mark.parametrize("contended", [False, True])
def test_ab_adds_processes_only_where_more_could_tell(tmp_path, monkeypatch, capsys, contended):
    """A timed `ab` whose B side swings 0.8x-1.25x between processes cannot tell: it adds TIME_STEP a side up to the
    budget. With one run flagged contended it stops at once (more processes cannot judge it) and says so; exit 5."""
    fake_ab(monkeypatch)
    ran = []

    def run_interleaved(arms, *, repeats, out_dir, first=1, **_):
        ran.append(repeats)
        written = {}
        for a in arms:
            written[a.name] = []
            for i in range(first, first + repeats):
                wall = (0.8 if i % 2 else 1.25) if a.name == "B" else 1.0
                f = guard_file(out_dir / a.name, f"run-{i}.json", wall=wall, jitter=0.001 * i)
                if contended and a.name == "A" and i == 1:
                    doc = json.loads(f.path.read_text())
                    doc["mnist_ref"]["contention"] = {"verdict": "contended", "reasons": ["the hypervisor stole 5%"]}
                    f.path.write_text(json.dumps(doc))
                written[a.name].append(f.path)
        return written

    monkeypatch.setattr(ab, "run_interleaved", run_interleaved)
    code = cli.main(["ab", "--b", sys.executable, "--measure", "time", "--out-dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == ExitCode.NOT_JUDGED, out
    if contended:
        assert ran == [ab.DEFAULT_REPEATS["time"]]
        assert "more processes cannot judge this comparison" in out and "1 of 16 runs" not in out
        assert "measuring A/run-1.json (contended: the hypervisor stole 5%)" in out
    else:
        assert ran == [8, 4, 4] and sum(ran) == ab.TIME_BUDGET
        assert "more processes cannot judge" not in out
