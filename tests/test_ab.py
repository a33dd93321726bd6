"""Same-machine A/B runs: which interpreter each side runs, and the interleaved order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mnist_ref import ab
from mnist_ref.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_ab_schedule_alternates_which_side_goes_first():
    a, b = (ab.Arm(name, "python", ROOT) for name in "AB")
    assert [(i, arm.name) for i, arm in ab.schedule([a, b], 3)] == [(1, "A"), (1, "B"), (2, "B"), (2, "A"), (3, "A"), (3, "B")]


def test_a_side_is_an_interpreter_a_virtualenv_or_a_checkout(tmp_path):
    assert ab.resolve_python(sys.executable) == sys.executable
    venv = Path(sys.executable).parent.parent
    assert ab.resolve_python(str(venv)) == str(venv / "bin" / "python")
    with pytest.raises(ConfigError, match="not a Python interpreter"):
        ab.resolve_python(str(tmp_path))


def test_a_side_runs_the_bench_of_the_checkout_its_mnist_ref_comes_from():
    assert ab.project_root(sys.executable) == ROOT


def test_no_repeats_is_refused():
    with pytest.raises(ConfigError, match="at least 1"):
        ab.schedule([ab.Arm("A", "python", ROOT)], 0)
