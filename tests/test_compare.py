"""The regression gate: its statistics on small synthetic samples, its verdicts on variants of a real bench JSON
(the committed baseline), and the CLI's exit codes and reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import ROOT

from mnist_ref import cli
from mnist_ref.gate import compare
from mnist_ref.store.files import load_bench

BASELINE = ROOT / "results" / "baseline" / "cpu-tensorflow-smoke.json"
KEY = ("tensorflow", "cpu:0", 32, "book")


# --- statistics -----------------------------------------------------------------------------------


def test_exact_mann_whitney_on_four_rounds_a_side():
    assert compare.mann_whitney_greater([2.0, 2.1, 2.2, 2.3], [1.0, 1.1, 1.2, 1.3]) == pytest.approx(1 / 70)
    assert compare.mann_whitney_greater([1.0, 1.1, 1.2, 1.3], [2.0, 2.1, 2.2, 2.3]) == pytest.approx(1.0)
    assert compare.mann_whitney_greater([1.0], [2.0, 3.0]) is None


@pytest.mark.parametrize(
    "base, new, verdict",
    [
        ([1.0, 1.1, 0.9, 1.05], [1.02, 0.98, 1.1, 0.95], "no change"),
        ([1.0, 1.1, 0.9, 1.05], [2.0, 2.2, 1.8, 2.1], "slower"),
        ([1.0, 1.1, 0.9, 1.05], [0.5, 0.55, 0.45, 0.52], "faster"),
        # median doubled, but two of the new rounds are as fast as the base: not consistent
        ([1.0, 1.1, 0.9, 1.05], [0.95, 2.2, 2.3, 1.0], "noisy"),
        ([1.0, 1.1, 0.9, 1.05], [1.3, 1.35, 1.32, 1.31], "no change"),  # consistent, but below the threshold
    ],
)
def test_magnitude_and_consistency_must_agree(base, new, verdict):
    assert compare.judge_path(KEY, "fit", base, new, threshold=1.5).verdict == verdict


def test_two_rounds_can_never_be_significant():
    # 2 against 2: the smallest one-sided p is 1/6, so a doubling is only 'noisy'
    assert compare.judge_path(KEY, "evaluate", [1.0, 1.1], [2.0, 2.1], threshold=1.5).verdict == "noisy"


# --- variants of a real bench JSON ------------------------------------------------------------------


@pytest.fixture
def real() -> dict:
    """The committed baseline: a real smoke-bench JSON from the 2-core machine."""
    return json.loads(BASELINE.read_text())


def write(tmp_path: Path, name: str, document: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def variant(document: dict, *, path: str | None = None, scale: float = 1.0, **extra_info) -> dict:
    """A copy with the round times of a path (every path when None) scaled and extra_info fields set."""
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        if path is None or info["path"] == path:
            bench["stats"]["data"] = [t * scale for t in bench["stats"]["data"]]
            bench["stats"]["median"] *= scale
            info.update({k: v for k, v in extra_info.items() if info["path"] == "fit" or k == "predicted_class"})
    return doc


def fit_info(document: dict) -> dict:
    return next(b["extra_info"] for b in document["benchmarks"] if b["extra_info"]["path"] == "fit")


def judge(tmp_path, base: dict, new: dict, **options) -> compare.Result:
    a, b = write(tmp_path, "base.json", base), write(tmp_path, "new.json", new)
    return compare.compare([load_bench(a)], [load_bench(b)], compare.Policy(**options))


def test_a_run_against_itself_passes(tmp_path, real):
    result = judge(tmp_path, real, real)
    assert result.exit_code == compare.EXIT_OK
    assert result.comparison.machines is compare.Machines.SAME
    assert {v.verdict for v in result.paths} == {"no change"}


def test_thrice_as_slow_everywhere_is_a_performance_regression(tmp_path, real):
    result = judge(tmp_path, real, variant(real, scale=3.0))
    assert result.exit_code == compare.EXIT_PERFORMANCE
    assert {v.path for v in result.slower} >= {"fit", "predict_one"}


def test_accuracy_outside_the_band_fails_hard(tmp_path, real):
    low = fit_info(real)["band"][0] - 0.01
    result = judge(tmp_path, real, variant(real, test_accuracy=low))
    assert result.exit_code == compare.EXIT_CORRECTNESS
    assert any("outside the band" in f.what and f.failed for f in result.findings)


def test_accuracy_above_the_band_fails_too(tmp_path, real):
    high = fit_info(real)["band"][1] + 0.01
    assert judge(tmp_path, real, variant(real, test_accuracy=high)).exit_code == compare.EXIT_CORRECTNESS


def test_a_diverged_run_fails_hard(tmp_path, real):
    result = judge(tmp_path, real, variant(real, test_accuracy=None, test_loss=None, diverged=True))
    assert result.exit_code == compare.EXIT_CORRECTNESS
    assert any(f.what.startswith("diverged") for f in result.findings)


def test_another_first_prediction_fails_hard(tmp_path, real):
    result = judge(tmp_path, real, variant(real, path="predict_one", predicted_class=1))
    assert result.exit_code == compare.EXIT_CORRECTNESS


def test_changed_weights_fail_in_an_identical_environment(tmp_path, real):
    result = judge(tmp_path, real, variant(real, fingerprint="0" * 64))
    assert result.exit_code == compare.EXIT_CORRECTNESS
    assert any("identical environment" in f.what for f in result.findings)


def test_changed_weights_are_shown_when_the_environment_differs(tmp_path, real):
    new = variant(real, fingerprint="0" * 64)
    new["machine_info"]["mnist_ref"]["framework"]["keras"] = "9.9.9"
    result = judge(tmp_path, real, new)
    assert result.exit_code == compare.EXIT_OK
    shown = [f for f in result.findings if not f.failed]
    assert shown and "keras" in shown[0].what


def test_another_machine_gets_the_loose_threshold_and_only_warns(tmp_path, real):
    new = variant(real, scale=3.5)
    new["machine_info"]["mnist_ref"]["cpu"]["usable_cores"] = 1
    result = judge(tmp_path, real, new)
    assert result.comparison.machines is compare.Machines.DIFFERENT
    assert result.comparison.thresholds == compare.CROSS_MACHINE_THRESHOLDS
    assert result.slower and result.exit_code == compare.EXIT_OK
    strict = judge(tmp_path, real, new, perf_across_machines="fail")
    assert strict.exit_code == compare.EXIT_PERFORMANCE


def test_machines_too_far_apart_are_incomparable(tmp_path, real):
    new = variant(real, scale=3.0)
    new["machine_info"]["mnist_ref"]["cpu"]["arch"] = "aarch64"
    result = judge(tmp_path, real, new, perf_across_machines="fail")
    assert result.comparison.machines is compare.Machines.INCOMPARABLE and not result.paths
    # asked to fail on speed across machines, it cannot pass what it could not compare
    assert result.unchecked and result.exit_code == compare.EXIT_USAGE
    warned = judge(tmp_path, real, new)
    assert not warned.unchecked and warned.not_compared and warned.exit_code == compare.EXIT_OK


def test_runs_of_one_interleaved_session_use_the_tight_threshold(tmp_path, real):
    doc = copy.deepcopy(real)
    doc["mnist_ref"]["ab_session"] = "s1"
    assert judge(tmp_path, doc, doc).comparison.machines is compare.Machines.INTERLEAVED
    assert judge(tmp_path, doc, doc).comparison.thresholds == compare.INTERLEAVED_THRESHOLDS


# --- the command ------------------------------------------------------------------------------------


def test_cli_exit_codes_and_reports(tmp_path, real, capsys, monkeypatch):
    base, slow = write(tmp_path, "base.json", real), write(tmp_path, "slow.json", variant(real, scale=3.0))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert cli.main(["compare", str(base), str(base)]) == 0
    assert cli.main(["compare", str(base), str(slow), "--out", str(tmp_path / "report.md")]) == 1
    report = (tmp_path / "report.md").read_text()
    assert "**SLOWER**" in report and "mnist-ref baseline" in report and "## Environments" in report
    assert summary.read_text().count("# mnist-ref regression check") == 2
    assert cli.main(["compare", str(base), str(slow), "--perf", "warn"]) == 0
    out = capsys.readouterr().out
    assert "slower (warning)" in out


def test_cli_defaults_to_the_committed_baseline(tmp_path, real):
    assert cli.main(["compare", str(write(tmp_path, "new.json", real))]) == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("{oops", "not valid JSON"),
        ('{"benchmarks": [], "machine_info": {}}', "not an mnist-ref benchmark file"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, real, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert cli.main(["compare", str(write(tmp_path, "base.json", real)), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_files_with_no_case_in_common_are_mismatched(tmp_path, real, capsys):
    other = copy.deepcopy(real)
    for bench in other["benchmarks"]:
        bench["extra_info"]["batch_size"] = 512
    assert cli.main(["compare", str(write(tmp_path, "a.json", real)), str(write(tmp_path, "b.json", other))]) == 2
    assert "no case in common" in capsys.readouterr().err


def test_cli_refuses_a_partial_file_unless_asked(tmp_path, real, capsys):
    partial = copy.deepcopy(real)
    partial["mnist_ref"].update(partial=True, outcome="interrupted", not_completed=["test_predict[x]"])
    path = write(tmp_path, "cut.partial.json", partial)
    base = write(tmp_path, "base.json", real)
    assert cli.main(["compare", str(base), str(path)]) == 2
    assert "partial bench file" in capsys.readouterr().err
    assert cli.main(["compare", str(base), str(path), "--allow-partial"]) == 0


def test_four_runs_a_side_are_compared_by_their_medians(tmp_path, real):
    interleaved = copy.deepcopy(real)
    interleaved["mnist_ref"]["ab_session"] = "s2"
    base = [
        load_bench(write(tmp_path, f"a{i}.json", variant(interleaved, scale=s)))
        for i, s in enumerate((1.0, 1.03, 0.97, 1.01))
    ]
    new = [
        load_bench(write(tmp_path, f"b{i}.json", variant(interleaved, scale=s)))
        for i, s in enumerate((1.50, 1.48, 1.55, 1.51))
    ]
    result = compare.compare(base, new)
    assert result.comparison.machines is compare.Machines.INTERLEAVED
    assert {v.unit for v in result.paths} == {"runs"} and {v.new_rounds for v in result.paths} == {4}
    assert {v.verdict for v in result.paths} == {"slower"} and result.exit_code == compare.EXIT_PERFORMANCE
    assert compare.compare(base[:2], new[:2]).paths[0].unit == "rounds"


def test_a_stack_that_fails_the_oracle_fails_hard(tmp_path, real):
    new = copy.deepcopy(real)
    new["mnist_ref"]["oracle"] = {"matches": False, "differs": ["batch loss (relative)"]}
    result = judge(tmp_path, real, new)
    assert result.exit_code == compare.EXIT_CORRECTNESS
    assert any("batch loss" in f.what for f in result.findings)


def test_the_policy_reads_the_comparison_fields_and_the_label_only_renders_them():
    """--perf-across-machines applies to another machine or an incomparable one, whatever the words say; the label
    is composed from the fields."""
    for machines in compare.Machines:
        comparison = compare.Comparison(machines, None, "why", counted=True, contended=True)
        assert comparison.across_machines == (machines in (compare.Machines.DIFFERENT, compare.Machines.INCOMPARABLE))
        assert comparison.label == f"instruction counts, {machines.value}, contended"
    assert compare.Comparison(compare.Machines.SAME, None, "why").label == "same machine"
    assert [str(v) for v in compare.Verdict] == ["slower", "faster", "noisy", "no change"]
