"""One meaning per exit code, correctness before usage: a run that is wrong on its own is 3 even when nothing can be
compared; a typo is 2; a comparison that could not be judged on this machine (contended, too few processes) is 5."""

from __future__ import annotations

import copy
import json

import pytest
from helpers import ROOT

from mnist_ref import cli
from mnist_ref.plumbing.errors import ExitCode

BASELINE = ROOT / "results" / "baseline" / "cpu-tensorflow-smoke.json"


def on_gpu(document: dict, *, accuracy: float | None = None) -> dict:
    """The same run as if measured on gpu:0 (no case in common with the CPU baseline), its accuracy set."""
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        bench["params"]["device"] = bench["extra_info"]["device"] = "gpu:0"
        bench["name"] = bench["name"].replace("cpu0", "gpu0")
        if accuracy is not None and bench["extra_info"]["path"] == "fit":
            bench["extra_info"]["test_accuracy"] = accuracy
    return doc


def compare_exit(capsys, tmp_path, document: dict) -> tuple[int, str]:
    new = tmp_path / "new.json"
    new.write_text(json.dumps(document))
    code = cli.main(["compare", str(BASELINE), str(new)])
    return code, capsys.readouterr().err


def test_a_run_outside_its_band_with_no_case_in_common_is_incorrect(capsys, tmp_path):
    code, _ = compare_exit(capsys, tmp_path, on_gpu(json.loads(BASELINE.read_text()), accuracy=0.5))
    assert code == ExitCode.INCORRECT


def test_no_case_in_common_and_nothing_wrong_is_bad_input(capsys, tmp_path):
    code, err = compare_exit(capsys, tmp_path, on_gpu(json.loads(BASELINE.read_text())))
    assert code == ExitCode.BAD_INPUT and "no case in common" in err


def test_the_codes_are_distinct():
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    assert ExitCode.NOT_JUDGED not in (ExitCode.BAD_INPUT, ExitCode.SLOWER, ExitCode.INCORRECT)


@pytest.mark.parametrize("args", [["compare", "--prf", "fail", "x.json"], ["ab", "--bb", "x"], ["report"]])
def test_a_typo_is_bad_input(capsys, args):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == ExitCode.BAD_INPUT


def test_a_contended_run_is_not_judged_not_bad_input(capsys, tmp_path):
    document = json.loads(BASELINE.read_text())
    document["mnist_ref"]["contention"] = {"verdict": "contended", "reasons": [], "steal_share": 0.05, "wall_s": 30.0}
    code, _ = compare_exit(capsys, tmp_path, document)
    assert code == ExitCode.NOT_JUDGED


def interrupted_mid_case(document: dict) -> dict:
    """A partial session's JSON as an interrupt between a case's rounds leaves it: that case's rounds, no extra_info."""
    doc = copy.deepcopy(document)
    unfinished = copy.deepcopy(doc["benchmarks"][0])
    unfinished["name"] = "test_fit[tensorflow-cpu0-bs32-unfinished]"
    unfinished["extra_info"] = {}
    doc["benchmarks"].append(unfinished)
    doc["mnist_ref"].update(
        partial=True, outcome="interrupted", not_completed=["test_evaluate[tensorflow-cpu0-bs32-tuned]"]
    )
    return doc


def test_a_partial_file_is_readable_and_marked_partial(capsys, tmp_path):
    partial = tmp_path / "bench.partial.json"
    partial.write_text(json.dumps(interrupted_mid_case(json.loads(BASELINE.read_text()))))
    assert cli.main(["report", str(partial), "--allow-partial", "--out-dir", str(tmp_path / "pages")]) == 0
    page = (tmp_path / "pages" / "bench.md").read_text()
    assert "**partial**" in page and "test_fit[tensorflow-cpu0-bs32-unfinished]" in page
    assert cli.main(["compare", str(BASELINE), str(partial), "--allow-partial", "--perf", "warn"]) == 0
    assert "required property" not in capsys.readouterr().err


def test_the_generated_by_command_can_be_run_again():
    import shlex
    from types import SimpleNamespace

    argv = ["ab", "--b", ".venv", "--bench-args", "--bench-smoke -k fit"]
    assert shlex.split(cli._command(SimpleNamespace(argv=argv)))[1:] == argv


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--learning-rate", "inf"], "learning rate must be above 0 and at most 100"),
        (["train", "--learning-rate", "nan"], "learning rate must be above 0 and at most 100"),
        (["train", "--epochs", "100000"], "epochs must be a whole number from 1 to 1000"),
        (["sweep", "--seeds", "99999999999"], "takes a whole number from 2 to 10000"),
        (["oracle", "--steps", "-1"], "takes a whole number from 0 to 100000"),
    ],
)
def test_every_number_is_bounded_and_finite(capsys, args, needle):
    try:
        code = cli.main(args)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and needle in err and len(err.strip().splitlines()) == 1, err


def test_a_study_into_a_folder_with_runs_is_refused(tmp_path, capsys):
    from mnist_ref.validation import stacks

    (tmp_path / "study" / "timed" / "book").mkdir(parents=True)
    (tmp_path / "study" / "timed" / "book" / "run-1.json").write_text("{}")
    assert (
        stacks.main(["collect", "--out-dir", str(tmp_path / "study"), "--arms", "book", "tuned"]) == ExitCode.BAD_INPUT
    )
    assert "already holds timed/book/run-1.json" in capsys.readouterr().err
    assert stacks.main(["collect", "--out-dir", str(tmp_path / "new"), "--cycles", "0"]) == ExitCode.BAD_INPUT
    assert "--cycles takes 1 to 200" in capsys.readouterr().err


def test_a_study_of_one_arm_is_refused(tmp_path):
    from mnist_ref.analysis import stacks as stack_study
    from mnist_ref.plumbing.errors import MnistRefError

    folder = tmp_path / "study" / "timed" / "book"
    folder.mkdir(parents=True)
    (folder / "run-1.json").write_text((ROOT / "results" / "stacks" / "timed" / "book" / "run-1.json").read_text())
    with pytest.raises(MnistRefError, match="one arm"):
        stack_study.analyse(tmp_path / "study")


def test_a_baseline_folder_that_holds_a_counted_file_is_not_replaced(capsys, tmp_path):
    folder = tmp_path / "baseline"
    folder.mkdir()
    counted = ROOT / "results" / "bench" / "cpu-tensorflow-instructions.json"
    (folder / "counted.json").write_text(counted.read_text())
    assert cli.main(["baseline", str(BASELINE), "--dir", str(folder)]) == ExitCode.BAD_INPUT
    assert "measures instructions" in capsys.readouterr().err and sorted(p.name for p in folder.iterdir()) == [
        "counted.json"
    ]
