"""A page command writes only the paths it was asked for: a page name is a plain file name, two pages never share a
path, and a README.md that is not a results index (a project's README, a user's notes) is never replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_ref import cli
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.reporting import index, stacks

SAMPLE = Path(__file__).parent / "data" / "bench-sample.json"


def report(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["report", str(SAMPLE), *args])
    except SystemExit as exc:  # a usage error, from argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["../escaped", "/abs/x", "", "README", "readme", ".hidden", "a/b", "..", "a\\b"])
def test_a_page_name_that_is_not_a_plain_file_name_is_refused(capsys, tmp_path, name):
    code, _, err = report(capsys, "--out-dir", str(tmp_path / "pages"), "--name", name)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--name" in err, err
    assert not (tmp_path / "pages").exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=12))
def test_every_accepted_name_stays_a_file_in_its_folder(name):
    try:
        index.check_page_name(name)
    except ConfigError:
        return
    folder = Path("/some/folder")
    assert (folder / f"{name}.md").parent == folder and not name.startswith(".")
    assert f"{name}.md".lower() != "readme.md"


def test_a_foreign_readme_is_left_as_it_is(capsys, tmp_path):
    (tmp_path / "README.md").write_text("# My project\n")
    code, out, _ = report(capsys, "--out-dir", str(tmp_path))
    assert code == 0 and (tmp_path / "README.md").read_text() == "# My project\n"
    assert (tmp_path / "bench.md").is_file() and "left" in out and "not a results index" in out


def test_an_index_of_ours_is_brought_up_to_date(capsys, tmp_path):
    (tmp_path / "README.md").write_text(index.INDEX_TITLE + "\n\nold\n")
    assert report(capsys, "--out-dir", str(tmp_path))[0] == 0
    assert "[bench.md](bench.md)" in (tmp_path / "README.md").read_text()


def test_versions_refuses_the_index_name_as_its_page(capsys, tmp_path):
    (tmp_path / "tox").mkdir()
    code = cli.main(
        ["versions", str(tmp_path / "tox"), "--envs", "tf221", "--out", str(tmp_path / "out" / "README.md")]
    )
    _, err = capsys.readouterr()
    assert code == 2 and "README.md is the index" in err and not (tmp_path / "out").exists()


def test_the_stacks_pages_never_share_a_path(tmp_path):
    with pytest.raises(ConfigError, match="two pages"):
        stacks.pages(tmp_path / "missing-study", tmp_path / "anatomy.md", command="x")
    with pytest.raises(ConfigError, match="index"):
        stacks.pages(tmp_path / "missing-study", tmp_path / "README.md", command="x")
