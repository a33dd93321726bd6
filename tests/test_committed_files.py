"""No committed file carries the machine it was made on: no absolute path of the checkout's folder or the home folder,
no file URL, no pip log (a committed tox result once held 50 file:// URLs of the package mirror and the work folder)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from helpers import ROOT

from mnist_ref.plumbing.checkout import _workspace, portable


def tracked() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [p for p in listed.stdout.split("\0") if p and not p.endswith((".png", ".gz"))]


def machine_marks() -> list[re.Pattern]:
    """What identifies this machine in a text: its checkout's folder, its home folder, a file URL, pip's log lines."""
    marks = [
        re.compile(r"file://"),
        re.compile(r"Looking in indexes|Successfully installed|Requirement already satisfied"),
    ]
    for folder in (_workspace(), os.path.expanduser("~")):
        if folder not in ("", "/"):
            marks.append(re.compile(r"(?<![\w.~-])" + re.escape(folder.rstrip("/")) + r"/"))
    return marks


def test_no_committed_file_names_this_machine():
    found = []
    for name in tracked():
        path = ROOT / name
        if not path.is_file() or not name.startswith(("results/", "docs/", "README.md")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {m.pattern}" for m in machine_marks() if m.search(text)]
    assert found == []


def test_the_marks_would_catch_what_was_committed():
    """The check can fail: tox's own result JSON, and a path of this checkout before portable rewrote it."""
    pip_line = "Looking in indexes: file:///opt/pypi-more/simple"
    assert any(m.search(pip_line) for m in machine_marks())
    here = f"{ROOT}/results/x.json"
    assert any(m.search(here) for m in machine_marks()) and not any(m.search(portable(here)) for m in machine_marks())
    assert (
        portable("/proc/stat") == "/proc/stat"
        and portable("/tmp/mnist-ref-baseline.json") == "/tmp/mnist-ref-baseline.json"
    )
