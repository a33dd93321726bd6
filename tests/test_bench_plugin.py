"""The bench plugin in-process with pytester, as pytest-benchmark tests itself: bench/conftest.py and its modules in a
fresh pytest session, their options checked at configure time, the matrix they parametrize, and the JSON they write
(read back through the schema). No subprocess: the option checks run in the fast lane; the matrix and the JSON, which
load Keras and train the floor, in the default run; tests/test_bench_smoke.py runs the real bench end to end."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from helpers import ROOT

from mnist_ref.core import framework
from mnist_ref.store import files

BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def preloaded():
    """What the plugin imports, imported before any pytester session: pytester forgets the modules imported after it
    started, and an extension module (NumPy's, TensorFlow's) cannot be loaded twice in one process."""
    sys.path.insert(0, str(BENCH))
    try:
        for module in (
            "bench_fixtures",
            "bench_matrix",
            "bench_options",
            "bench_record",
            "bench_counting",
            "timing",
            "numpy.fft",
            "scipy.stats",
            "mnist_ref.reference.numpy_model",
            "mnist_ref.measure.speed_of_light",
            "mnist_ref.measure.contention",
            "mnist_ref.core.environment",
            "mnist_ref.core.book",
        ):
            importlib.import_module(module)
        yield
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def keras_loaded(preloaded):
    """Keras on TensorFlow, imported before the sessions that select the backend (seconds: those tests are slow)."""
    framework.select_backend("tensorflow")
    framework.keras()


@pytest.fixture
def plugin(preloaded, pytester, monkeypatch):
    """A pytester folder whose conftest is the bench plugin's, its modules importable."""
    monkeypatch.syspath_prepend(str(BENCH))
    pytester.makeconftest((BENCH / "conftest.py").read_text())
    return pytester


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--bench-batch-sizes", "0"], "--bench-batch-sizes needs batch sizes of at least 1"),
        (["--bench-batch-sizes=-32"], "--bench-batch-sizes needs batch sizes of at least 1"),
        (["--bench-batch-sizes", "abc"], "--bench-batch-sizes takes whole numbers"),
        (["--bench-modes", "fast"], "--bench-modes accepts book, tuned"),
        (["--bench-inject-work", "1e9"], "from 0 to 16"),
        (["--bench-inject-work", "0.005"], "steps of 1/64"),
        (["--bench-inject-steps", "-1"], "--bench-inject-steps takes a fraction"),
        (["--bench-replicas", "0"], "--bench-replicas takes a number of devices of at least 1"),
        (["--bench-inject-wait", "0.5"], "--bench-inject-wait takes a factor between 1 and 10"),
        (["--bench-inject-slowdown", "nan"], "--bench-inject-slowdown takes a factor between 1 and 10"),
        (["--bench-inject-slowdown", "inf"], "--bench-inject-slowdown takes a factor between 1 and 10"),
        (["--bench-fit-rounds", "8"], "--bench-fit-rounds takes 1 to 100 rounds, with --bench-measure steps only"),
        (["--bench-measure", "steps", "--bench-fit-rounds", "0"], "--bench-fit-rounds takes 1 to 100"),
        (["--bench-measure", "instructions", "--bench-devices", "gpu"], "which sees no GPU"),
        (
            ["--bench-measure", "instructions", "--bench-devices", "cpu", "--bench-inject-slowdown", "2"],
            "a sleep executes no instructions",
        ),
    ],
)
def test_a_bad_option_is_one_usage_line(plugin, options, needle):
    plugin.makepyfile("def test_nothing():\n    pass\n")
    result = plugin.runpytest_inprocess(*options)
    errors = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert len(errors) == 1 and errors[0].startswith("ERROR:") and needle in errors[0], errors


MATRIX_TESTS = """
import pytest

def test_fit(case):
    assert case.key.batch_size == case.batch_size

@pytest.mark.floor
def test_floor_fit(case):
    assert case.backend == "numpy"
"""


@pytest.mark.slow
def test_the_matrix_is_every_device_batch_size_and_mode_with_absent_devices_skipped(keras_loaded, plugin):
    plugin.makepyfile(MATRIX_TESTS)
    result = plugin.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-rs",
        "--bench-backend",
        "tensorflow",
        "--bench-devices",
        "cpu,gpu:7",
        "--bench-batch-sizes",
        "32,128",
        "--bench-modes",
        "book",
        "-v",
    )
    ids = sorted(line.split("::")[1].split(" ")[0] for line in result.outlines if "::test_" in line and "[" in line)
    assert ids == sorted(
        [
            "test_fit[tensorflow-cpu0-bs32-book]",
            "test_fit[tensorflow-cpu0-bs128-book]",
            "test_fit[tensorflow-gpu7-bs32-book]",
            "test_fit[tensorflow-gpu7-bs128-book]",
            "test_floor_fit[numpy-cpu0-bs32-floor]",
            "test_floor_fit[numpy-cpu0-bs128-floor]",
        ]
    ), result.outlines
    result.assert_outcomes(passed=4, skipped=2)
    assert any(
        line.startswith("SKIPPED [2]") and "not present: the tensorflow backend sees no gpu:7" in line
        for line in result.outlines
    )


@pytest.mark.slow
def test_the_json_is_what_the_reader_accepts(keras_loaded, plugin, real_data_dir, tmp_path, monkeypatch):
    """The floor's real benchmark, written by the plugin's writers (timing.record, bench_record), is read back
    through the schema by store.files; a session that completes replaces the target and leaves no temporary."""
    monkeypatch.setenv("MNIST_REF_DATA", str(real_data_dir))
    import bench_matrix

    plugin.makepyfile(test_reference_floor=(BENCH / "test_reference_floor.py").read_text())
    out = tmp_path / "bench.json"
    result = plugin.runpytest_inprocess(
        "-p", "no:cacheprovider", "--benchmark-only", "--bench-batch-sizes", "2048", f"--benchmark-json={out}"
    )
    result.assert_outcomes(passed=1)
    loaded = files.load_bench(out)
    assert not loaded.partial and loaded.meta["outcome"] == "complete"
    [fit] = loaded.measured
    assert fit.key == bench_matrix.Case("numpy", "cpu:0", 2048, "floor").key  # one encoding of a case, written and read
    assert fit.key.label == "numpy cpu:0 bs2048 floor" and fit.path == "fit" and len(fit.rounds) == fit.round_count == 4
    assert fit.info.round_spread == pytest.approx(fit.spread)
    assert fit.info.in_band is True and fit.info.fingerprint
    assert json.loads(out.read_text())["mnist_ref"]["measure"] == {"name": "time", "unit": "s"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]


def test_a_data_parallel_case_is_keyed_as_the_reader_keys_it(preloaded):
    import bench_matrix

    case = bench_matrix.Case("jax", "cpu:0", 64, "book", replicas=2)
    assert case.key == files.case_key(
        {"backend": "jax", "device": "cpu:0", "batch_size": 64, "mode": "book", "replicas": 2}
    )
    assert case.key.device == "cpu:0 x2" and bench_matrix.Case("jax", "cpu:0", 64, "book").key.device == "cpu:0"
