"""A group of files written all or none (atomic.write_many: `report`, `versions`, the stacks pages, `portable`)
stays all or none when the failure comes late: at the last rename rather than the first write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.errors import OutputError
from mnist_ref.store import portable


def failing_rename_at(monkeypatch, k: int) -> None:
    """The group's k-th rename (0-based) fails as a rename onto an immutable file does."""
    calls = {"n": 0}
    real = atomic._rename

    def rename(tmp, path):
        calls["n"] += 1
        if calls["n"] == k + 1:
            raise PermissionError(1, "Operation not permitted", str(path))
        real(tmp, path)

    monkeypatch.setattr(atomic, "_rename", rename)


@settings(max_examples=40, deadline=None)
@given(existing=st.lists(st.booleans(), min_size=1, max_size=5), data=st.data())
def test_a_failed_rename_puts_back_every_file_before_it(tmp_path_factory, existing, data):
    folder = tmp_path_factory.mktemp("group")
    targets = [folder / f"page-{i}.md" for i in range(len(existing))]
    for i, (path, there) in enumerate(zip(targets, existing, strict=True)):
        if there:
            path.write_text(f"old {i}")
    before = {p.name: p.read_text() for p in folder.iterdir()}
    k = data.draw(st.integers(0, len(targets) - 1), label="failing rename")
    with pytest.MonkeyPatch.context() as monkeypatch:
        failing_rename_at(monkeypatch, k)
        with pytest.raises(OutputError, match=f"cannot write .*page-{k}.md"):
            atomic.write_many({p: f"new {i}".encode() for i, p in enumerate(targets)})
    assert {p.name: p.read_text() for p in folder.iterdir()} == before  # no temporary, backup or new file left


def test_a_group_that_succeeds_leaves_no_backup(tmp_path):
    (tmp_path / "a.md").write_text("old")
    atomic.write_many({tmp_path / "a.md": b"new a", tmp_path / "b.md": b"new b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "b.md"]
    assert (tmp_path / "a.md").read_text() == "new a"


def test_portable_with_an_unwritable_last_file_rewrites_none(tmp_path, monkeypatch):
    cwd = Path.cwd()
    for name in ("a.md", "b.md", "c.md"):
        (tmp_path / name).write_text(f"see {cwd}/results/x.json\n")
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    failing_rename_at(monkeypatch, 2)
    assert portable.main([str(tmp_path)]) != 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def immutable(path: Path) -> bool:
    """chattr +i where the file system and the user allow it (root on ext4), else False."""
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_a_really_immutable_index_leaves_the_pages_as_they_were(tmp_path):
    (tmp_path / "README.md").write_text("the old index\n")
    (tmp_path / "bench.md").write_text("the old page\n")
    if os.geteuid() != 0 or not immutable(tmp_path / "README.md"):
        pytest.skip("chattr +i needs root and a file system that has it")
    try:
        with pytest.raises(OutputError):
            atomic.write_many({tmp_path / "bench.md": b"new page\n", tmp_path / "README.md": b"new index\n"})
        assert (tmp_path / "bench.md").read_text() == "the old page\n"
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "README.md")], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "bench.md"]
