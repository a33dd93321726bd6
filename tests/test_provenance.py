"""Portable provenance: results files name paths relative to the checkout, never the absolute folders of the machine
that wrote them; the environment block keeps what identifies the machine."""

from __future__ import annotations

import json
import sys

from helpers import ROOT

from mnist_ref.core import environment
from mnist_ref.plumbing.checkout import CHECKOUT, portable, portable_path
from mnist_ref.store import portable as portable_files


def test_no_committed_results_file_holds_an_absolute_path():
    held = {
        str(f.relative_to(ROOT)): portable_files.machine_paths(f)[:3]
        for f in portable_files.text_files([ROOT / "results"])
        if portable_files.machine_paths(f)
    }
    assert held == {}, "absolute paths in results files; run `python -m mnist_ref.store.portable results` and commit"


def test_paths_become_relative_to_the_checkout_whatever_the_current_folder(tmp_path, monkeypatch):
    outside = "/tmp/out/cpu.json"  # the same path on every machine: left as it is
    for cwd in (CHECKOUT, tmp_path):
        monkeypatch.chdir(cwd)
        assert portable_path(CHECKOUT / "results" / "bench" / "x.json") == "results/bench/x.json"
        assert (
            portable(f"pytest bench --benchmark-json={CHECKOUT}/results/a.json")
            == "pytest bench --benchmark-json=results/a.json"
        )
        assert portable("--benchmark-json=/tmp/out/cpu.json") == f"--benchmark-json={outside}"
        assert portable(portable("--benchmark-json=/tmp/out/cpu.json")) == f"--benchmark-json={outside}", (
            "a second pass changes nothing"
        )


def test_urls_ratios_and_relative_paths_are_left_alone():
    for text in (
        "https://pypi.org/simple/a/b",
        "file:///opt/pypi/simple",
        "T1 / (N * TN)",
        "samples/s",
        "results/bench.md",
        "IQR/median base / new",
    ):
        assert portable(text) == text


def test_the_environment_block_is_portable_and_still_names_the_machine():
    env = environment.capture()
    assert portable(json.dumps(env)) == json.dumps(env), env["executable"]
    assert (
        env["cpu"]["model"]
        and env["cpu"]["usable_cores"] >= 1
        and env["python"] == ".".join(map(str, sys.version_info[:3]))
    )


def test_the_rewrite_is_atomic_and_changes_only_what_holds_paths(tmp_path):
    holds, clean = tmp_path / "a.json", tmp_path / "b.md"
    holds.write_text(f'{{"command": "pytest --benchmark-json={CHECKOUT}/x/y.json"}}\n')
    clean.write_text("nothing absolute here\n")
    assert portable_files.make_portable(portable_files.text_files([tmp_path])) == [holds]
    assert json.loads(holds.read_text())["command"] == "pytest --benchmark-json=x/y.json"
    assert portable_files.main([str(tmp_path)]) == 0 and portable_files.machine_paths(holds) == []
