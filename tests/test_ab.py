"""Same-machine A/B runs: which interpreter each side runs, and the interleaved order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import ROOT

from mnist_ref.gate import ab
from mnist_ref.plumbing.errors import ConfigError


def test_ab_schedule_alternates_which_side_goes_first():
    a, b = (ab.Arm(name, "python", ROOT) for name in "AB")
    assert [(i, arm.name) for i, arm in ab.schedule([a, b], 3)] == [
        (1, "A"),
        (1, "B"),
        (2, "B"),
        (2, "A"),
        (3, "A"),
        (3, "B"),
    ]


def test_a_side_is_an_interpreter_a_virtualenv_or_a_checkout(tmp_path):
    assert ab.resolve_python(sys.executable) == sys.executable
    venv = Path(sys.executable).parent.parent
    assert ab.resolve_python(str(venv)) == str(venv / "bin" / "python")
    with pytest.raises(ConfigError, match="not a Python interpreter"):
        ab.resolve_python(str(tmp_path))


def test_a_side_runs_the_bench_of_the_checkout_its_mnist_ref_comes_from():
    assert ab.project_root(sys.executable) == ROOT


def test_no_repeats_is_refused():
    with pytest.raises(ConfigError, match="1 to"):
        ab.schedule([ab.Arm("A", "python", ROOT)], 0)


FAKE_BENCH = """#!/bin/sh
# Stands in for a side's python: writes the --benchmark-json file after a second, logging start and end.
for arg in "$@"; do case "$arg" in --benchmark-json=*) out="${arg#--benchmark-json=}";; esac; done
echo "start $(date +%s.%N)" >> "$LOG"
sleep 1
echo '{}' > "$out"
echo "end $(date +%s.%N)" >> "$LOG"
"""


def _overlaps(log: Path) -> bool:
    """Whether two processes ran at the same time: a second start before the first end."""
    events = [line.split()[0] for line in log.read_text().splitlines()]
    return events[:2] == ["start", "start"]


@pytest.mark.slow
@pytest.mark.parametrize("together", [1, 2])
def test_counting_runs_both_sides_at_once_timing_one_at_a_time(tmp_path, monkeypatch, together):
    fake = tmp_path / "python"
    fake.write_text(FAKE_BENCH)
    fake.chmod(0o755)
    monkeypatch.setenv("LOG", str(tmp_path / "events.log"))
    arms = [ab.Arm(name, str(fake), tmp_path) for name in "AB"]
    written = ab.run_interleaved(
        arms, repeats=2, out_dir=tmp_path / "out", together=together, progress=lambda line: None
    )
    assert [p.name for p in written["A"]] == ["run-1.json", "run-2.json"] and len(written["B"]) == 2
    assert _overlaps(tmp_path / "events.log") is (together == 2)


def test_ab_b_extra_goes_to_the_b_side_only(monkeypatch, tmp_path):
    from mnist_ref import cli

    seen = {}

    def fake_run(arms, **kwargs):
        seen.update({a.name: a.bench_args for a in arms}, together=kwargs["together"])
        raise KeyboardInterrupt

    monkeypatch.setattr(ab, "run_interleaved", fake_run)
    monkeypatch.setattr(ab, "check_bench_args", lambda arms: None)  # a real bench collection each: test below
    assert (
        cli.main(["ab", "--b", sys.executable, "--b-extra", "--bench-inject-steps 0.05", "--out-dir", str(tmp_path)])
        == 130
    )
    assert seen["B"][-2:] == ("--bench-inject-steps", "0.05") and "--bench-inject-steps" not in seen["A"]
    assert ("--bench-measure", "instructions") == seen["A"][-2:] and seen["together"] == 2


@pytest.mark.slow
def test_bench_arguments_that_select_no_case_are_refused_before_any_run():
    """Each side's bench is collected once before anything runs: arguments that select nothing are one ConfigError."""
    arm = ab.arm("B", sys.executable, bench_args=(*ab.DEFAULT_BENCH_ARGS, "-k", "no_such_case"))
    with pytest.raises(ConfigError, match="select no case"):
        ab.check_bench_args([arm])
