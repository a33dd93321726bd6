"""The stacks study's arithmetic: ratios between arms with bootstrap intervals, '~' where an interval spans 1, and the
headline naming only the changes whose interval excludes 1; the arms and their interpreters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.reporting import stacks
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import stacks as collect

POSITIVE = st.lists(st.floats(0.5, 2.0), min_size=3, max_size=8)


@settings(max_examples=40, deadline=None)
@given(a=POSITIVE, b=POSITIVE)
def test_the_interval_holds_the_ratio_of_medians(a, b):
    ratio, low, high = stacks.ratio_interval(a, b)
    assert low <= ratio <= high
    assert stacks.ratio_interval(a, b) == (ratio, low, high), "a fixed seed gives the same interval"


def test_the_same_processes_span_one_and_a_real_shift_does_not():
    a = [1.00, 1.02, 0.98, 1.01, 0.99]
    assert stacks.interval_cell(*stacks.ratio_interval(a, a)).startswith("~1.00x")
    slower = [x * 1.3 for x in a]
    ratio, low, high = stacks.ratio_interval(a, slower)
    assert low > 1 and stacks.interval_cell(ratio, low, high) == f"{ratio:.2f}x [{low:.2f}, {high:.2f}]"


def arm(name: str, per_step: list[float], version: str) -> stacks.Arm:
    env = Provenance.of({"framework": {"backend": "tensorflow", "tensorflow": version, "keras": "3"}})
    return stacks.Arm(name, env, {"fit": per_step}, {"fit": per_step}, {}, None, None, None)


def test_the_headline_names_only_real_changes(monkeypatch):
    base = [1.0, 1.01, 0.99, 1.02, 0.98]
    study = stacks.StackStudy(None, {"tf215": arm("tf215", base, "2.15"), "tf216": arm("tf216", [x * 1.3 for x in base], "2.16"),
                                     "tf217": arm("tf217", [x * 1.3 * (1 + 0.01 * (-1) ** i) for i, x in enumerate(base)], "2.17")}, 5)
    real, not_real = stacks.consecutive_changes(study)
    assert len(real) == 1 and real[0].startswith("fit got 1.30x slower") and len(not_real) == 1
    headline = stacks.speed_headline(study)
    assert "between consecutive releases, real changes: fit got 1.30x slower from 2.15 to 2.16" in headline
    assert "(1 of 2 steps within their interval)" in headline


def test_an_unknown_arm_or_a_missing_env_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown arm nope; the arms are book"):
        collect.arms_for(["nope"])
    with pytest.raises(ConfigError, match="tox -e tf215 --notest"):
        collect.python_of(collect.arms_for(["tf215"])[0], tmp_path)


def test_every_question_names_two_known_arms():
    names = {a.name for a in collect.ARMS}
    assert all(a in names and b in names for _, a, b, _ in stacks.QUESTIONS)
    assert set(stacks.VERSION_ENVS) <= names
