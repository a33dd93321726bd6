"""The stacks study's arithmetic: ratios between arms with the one estimator (gate.ratio: paired by cycle from 6 cycles,
else two-sample), '~' where an interval spans 1, and the headline naming real changes and the steps that are the same;
the arms and their interpreters."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_ref.analysis import stacks as stack_study
from mnist_ref.gate import ratio
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.reporting import stacks
from mnist_ref.store.provenance import Provenance
from mnist_ref.validation import stacks as collect

POSITIVE = st.lists(st.floats(0.5, 2.0), min_size=4, max_size=8)


def arm(name: str, per_step: list[float], version: str = "2.21") -> stack_study.Arm:
    env = Provenance.of({"framework": {"backend": "tensorflow", "tensorflow": version, "keras": "3"}})
    return stack_study.Arm(
        name, env, {"fit": per_step}, {"fit": per_step}, {}, None, None, None, tuple(range(1, len(per_step) + 1))
    )


@settings(max_examples=40, deadline=None)
@given(a=POSITIVE, b=POSITIVE)
def test_the_interval_holds_the_estimate(a, b):
    r = stack_study.timed_ratio(arm("a", a), arm("b", b), "fit")
    assert r.low <= r.estimate <= r.high
    assert r.paired == (min(len(a), len(b)) >= ratio.fewest_processes(paired=True))  # rounds both arms ran


def test_the_same_processes_span_one_and_a_real_shift_does_not():
    a = [1.00, 1.02, 0.98, 1.01, 0.99]
    assert stacks.interval_cell(stack_study.timed_ratio(arm("a", a), arm("b", a), "fit")).startswith("~1.000x")
    slower = stack_study.timed_ratio(arm("a", a), arm("b", [x * 1.3 for x in a]), "fit")
    assert slower.low > 1 and stacks.interval_cell(slower) == slower.cell()


def test_the_headline_names_real_changes_and_the_same(monkeypatch):
    base = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99]
    study = stack_study.StackStudy(
        None,
        {
            "tf215": arm("tf215", base, "2.15"),
            "tf216": arm("tf216", [x * 1.3 for x in base], "2.16"),
            "tf217": arm("tf217", [x * 1.3 * (1 + 0.002 * (-1) ** i) for i, x in enumerate(base)], "2.17"),
        },
        8,
    )
    changes = stack_study.consecutive_changes(study)
    assert [c.answer for c in changes] == [ratio.Answer.SLOWER, ratio.Answer.SAME]
    headline = stacks.speed_headline(study)
    assert "real changes: fit 2.15 -> 2.16 slower by 1.300x" in headline
    assert "the same within +-3%: fit 2.16 -> 2.17" in headline and "0 of 2 steps cannot be told" in headline


def test_cycles_added_to_two_arms_are_said_and_pair_on_the_cycles_both_ran():
    base = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99]
    more = base + [1.0, 0.995, 1.005, 1.0]
    arms = {
        "tf215": arm("tf215", more, "2.15"),
        "tf216": arm("tf216", [x * 1.3 for x in more], "2.16"),
        "tf217": arm("tf217", [x * 1.3 for x in base], "2.17"),
    }
    study = stack_study.StackStudy(None, arms, 8, (), {"tf215": 12, "tf216": 12, "tf217": 8})
    assert study.added() == {"tf215": 12, "tf216": 12}
    assert "8 processes a version (12 for tf215 and tf216: cycles 9-12 added" in stacks.speed_headline(study)
    step, after = stack_study.consecutive_changes(study)
    assert (step.ratio.n_a, after.ratio.n_a) == (12, 8), "12 cycles in common, then the 8 all three ran"


def test_adding_cycles_to_an_arm_the_study_did_not_run_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no timed runs of tf215; add cycles to arms the study collected"):
        collect.add(tmp_path, cycles=2, names=["tf215"], toxworkdir=tmp_path)


def test_an_unknown_arm_or_a_missing_env_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown arm nope; the arms are book"):
        collect.arms_for(["nope"])
    with pytest.raises(ConfigError, match="tox -e tf215 --notest"):
        collect.python_of(collect.arms_for(["tf215"])[0], tmp_path)


def test_every_question_names_two_known_arms():
    names = {a.name for a in collect.ARMS}
    assert all(q.a in names and q.b in names for q in stack_study.QUESTIONS)
    assert set(stack_study.VERSION_ENVS) <= names


def test_version_questions_are_timed_in_the_versions_study_and_counted_where_counted():
    def counted(name, per_step, count, version="2.21"):
        return dataclasses.replace(
            arm(name, per_step, version), instructions_per_step=count, instructions_per_sample=count / 32
        )

    few = [1.0, 1.02, 0.98, 1.01, 0.99]
    many = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99]
    main = stack_study.StackStudy(
        Path("stacks"),
        {
            # the same stack in tuned mode: counted, but another case, so never tf221's count
            "tuned": dataclasses.replace(counted("tuned", few, 2.5e6), case=("tuned",)),
            "book": counted("book", few, 5e6),
            "tf220": counted("tf220", few, 4e6, "2.20"),
            "tf221": arm("tf221", few),
        },
        5,
    )
    versions = stack_study.StackStudy(
        Path("stacks-versions"),
        {
            "tf220": arm("tf220", many, "2.20"),
            "tf221": arm("tf221", [x * 1.25 * (1 + 0.01 * (-1) ** k) for k, x in enumerate(many)]),
        },
        8,
    )
    answers = {v.question.text: v for v in stack_study.validity(main, versions)}
    step = answers["TensorFlow 2.20 -> 2.21"]
    assert step.a is versions.arms["tf220"] and (step.timed.n_a, step.timed.n_b) == (8, 8)
    assert step.timed.low > 1 and step.counted == pytest.approx(1.25)  # tf221 counted as book: the very same stack
    assert step.agreement == stack_study.AGREES
    alone = {v.question.text: v for v in stack_study.validity(main)}["TensorFlow 2.20 -> 2.21"]
    assert alone.a is main.arms["tf220"] and alone.timed.n_a == 5
