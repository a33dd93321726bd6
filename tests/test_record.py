"""Run records are written atomically and describe the environment without raising."""

from __future__ import annotations

import json
import re

import pytest

from mnist_ref.core import environment
from mnist_ref.plumbing import atomic


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path):
    path = atomic.write_json(tmp_path / "a" / "r.json", {"x": 1})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = atomic.write_json(tmp_path / "r.json", {"x": 1})
    with pytest.raises(TypeError):
        atomic.write_json(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_environment_capture_has_the_expected_fields():
    env = environment.capture()
    assert re.fullmatch(r"\d+\.\d+\.\d+", env["python"])
    assert env["numpy"]
    assert env["framework"]["backend"] in {"tensorflow", "jax", "torch"}
    assert env["framework"]["keras"]
    assert env["cpu"]["model"] and env["cpu"]["logical_cores"] >= 1
    assert env["os"]["system"]
    assert "commit" in env["git"] or "error" in env["git"]
