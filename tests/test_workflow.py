"""The GitHub Actions workflow users copy: actionlint finds nothing in it, and does find a broken one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "regression.yml"
NIGHTLY = ROOT / ".github" / "workflows" / "nightly.yml"
DOCS = ROOT / ".github" / "workflows" / "docs.yml"


@pytest.fixture(scope="module")
def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if not found:
        pytest.skip("actionlint is not installed: pip install 'mnist-ref[test]'")
    return found


def lint(actionlint: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint, "-no-color", str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("workflow", [WORKFLOW, NIGHTLY, DOCS], ids=["regression", "nightly", "docs"])
def test_the_workflows_lint_clean(actionlint, workflow):
    proc = lint(actionlint, workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_workflow_is_caught(actionlint, tmp_path):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        WORKFLOW.read_text().replace(
            "runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    timeout-minutes: ${{ matrix.missing }}"
        )
    )
    proc = lint(actionlint, broken)
    assert proc.returncode != 0 and "matrix" in proc.stdout


def test_the_workflow_runs_the_tests_the_bench_and_the_gate():
    text = WORKFLOW.read_text()
    for step in ("python -m pytest\n", "--bench-smoke", "mnist-ref compare", "upload-artifact"):
        assert step in text


def test_the_speed_job_counts_the_pull_request_against_its_base():
    text = WORKFLOW.read_text()
    speed = text[text.index("  speed:") :]
    for step in (
        "github.event.pull_request.base.sha",
        "apt-get install -y -q valgrind",
        "mnist-ref ab --a base --b pr --perf fail",
    ):
        assert step in speed


def test_the_nightly_job_is_scheduled_and_gates_each_nightly_against_a_release():
    text = NIGHTLY.read_text()
    assert "schedule:" in text and "cron:" in text
    for step in ("tox -e tf221", "for env in tfnightly jaxnightly", "mnist-ref compare", "not run"):
        assert step in text


def test_the_trainings_ci_leaves_out_run_on_a_schedule():
    """`.ci/run` leaves the `scheduled` trainings out of its long tier; the nightly workflow runs exactly them."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert '-m "long and not scheduled"' in ci
    assert "run: .venv/bin/python -m pytest -m scheduled" in NIGHTLY.read_text()


def test_the_docs_job_builds_strictly_looks_in_chromium_and_publishes():
    text = DOCS.read_text()
    for step in ("mkdocs build --strict", "tests/test_docs.py", "chromium", "MNIST_REF_SCREENSHOTS", "deploy-pages"):
        assert step in text
