"""mnist-ref report: a sample benchmark JSON in, the expected markdown out; bad files give one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mnist_ref import cli
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.reporting import bench as bench_report
from mnist_ref.reporting import sweeps
from mnist_ref.store import files

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "bench-sample.json"


def test_sample_renders_the_golden_markdown():
    rendered = bench_report.render_bench([files.load_bench(SAMPLE)], command="mnist-ref report bench-sample.json")
    assert rendered == (DATA / "bench-sample.md").read_text()


def test_numbers_are_right_aligned_and_absent_devices_shown():
    rendered = (DATA / "bench-sample.md").read_text()
    separator = next(line for line in rendered.splitlines() if line.startswith("|:"))
    cells = separator.strip("|").split("|")
    assert [c.startswith(":") for c in cells[:2]] == [True] * 2  # case and mode: labels, left
    assert all(c.endswith(":") and not c.startswith(":") for c in cells[2:])  # the batch and every number: right
    assert "- tensorflow gpu:0, book, batch 32: not present" in rendered
    assert "- tensorflow gpu:0, tuned, batch 32: not present" in rendered


def with_gpu(document: dict, factor: dict[int, float]) -> dict:
    """A copy of a bench document with gpu:0 rows whose medians are the CPU's times factor[batch]."""
    doc = copy.deepcopy(document)
    for bench in document["benchmarks"]:
        gpu = copy.deepcopy(bench)
        gpu["extra_info"]["device"] = "gpu:0"
        gpu["stats"]["median"] *= factor[gpu["extra_info"]["batch_size"]]
        doc["benchmarks"].append(gpu)
    doc["mnist_ref"]["skipped"] = []
    return doc


def test_cpu_gpu_comparison_and_crossover(tmp_path):
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(with_gpu(json.loads(SAMPLE.read_text()), {32: 0.5})))
    rendered = bench_report.cpu_gpu_tables([files.load_bench(path)])
    assert "2.00x" in rendered and "| batch 32" in rendered


def test_crossover_is_where_the_gpu_stays_faster():
    cpu = {32: 1.0, 128: 1.0, 512: 1.0, 2048: 1.0}
    assert bench_report.crossover(cpu, {32: 2.0, 128: 0.9, 512: 0.5, 2048: 0.1}) == 128
    assert bench_report.crossover(cpu, {32: 0.9, 128: 1.1, 512: 0.5, 2048: 0.1}) == 512
    assert bench_report.crossover(cpu, {32: 2.0, 128: 2.0, 512: 2.0, 2048: 2.0}) is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", r"not valid JSON \(line 1"),
        ("[1, 2]", "expected a JSON object"),
        ('{"benchmarks": [], "machine_info": {}}', "not an mnist-ref benchmark file or seed sweep"),
        ('{"mnist_ref": {"schema": "mnist-ref/bench/1"}, "machine_info": {}}', "'benchmarks' is a required property"),
        (
            '{"mnist_ref": {"schema": "mnist-ref/bench/1"}, "machine_info": {}, "benchmarks": [{"name": "x", '
            '"extra_info": {}, "stats": {"median": 1}}]}',
            "benchmark 'x', field extra_info: 'path' is a required property",
        ),
    ],
)
def test_malformed_or_foreign_files_are_rejected(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=message):
        files.load_bench(path)


def test_cli_report_writes_tables_plots_and_index(tmp_path, capsys):
    assert cli.main(["report", str(SAMPLE), "--out-dir", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "bench.md",
        "bench-throughput.png",
        "bench-training.png",
        "README.md",
    }
    assert (tmp_path / "bench-training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[bench.md](bench.md)" in (tmp_path / "README.md").read_text()


def test_cli_report_on_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    out = tmp_path / "out"
    assert cli.main(["report", str(SAMPLE), str(bad), "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json: not valid JSON" in err[0]
    assert not out.exists()


def test_sweep_rendering(tmp_path):
    sweep = {
        "schema": files.SWEEP_SCHEMA,
        "backend": "tensorflow",
        "data_source": "idx:/data",
        "config": {"batch_size": 32, "mode": "book"},
        "summary": {"n": 2, "mean": 0.933, "std": 0.001, "min": 0.932, "max": 0.934, "band": [0.927, 0.939]},
        "runs": [
            {"seed": s, "test_accuracy": a, "test_loss": 0.24, "fit_s": 12.0, "fingerprint": "ab" * 32}
            for s, a in ((0, 0.932), (1, 0.934))
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(sweep))
    text = sweeps.render_sweeps([files.load_sweep(path)], command="mnist-ref report s.json")
    assert "| tensorflow | book   |      32 |       2 | 0.9330 |" in text
    assert "|      1 |          0.9340 |" in text


def test_keras_epochs_are_shown_as_multiples_of_the_floor(tmp_path):
    document = json.loads(SAMPLE.read_text())
    fit = next(
        b for b in document["benchmarks"] if b["extra_info"]["path"] == "fit" and b["extra_info"]["mode"] == "book"
    )
    floor = copy.deepcopy(fit)
    floor["extra_info"].update(backend="numpy", mode="floor")
    floor["stats"]["median"] = fit["stats"]["median"] / 4
    document["benchmarks"].append(floor)
    path = tmp_path / "with-floor.json"
    path.write_text(json.dumps(document))
    lines = bench_report.performance_tables([files.load_bench(path)])
    training = lines[lines.index("## Training speed") : lines.index("## Inference and warm-up")]
    rows = [line for line in "\n".join(training).splitlines() if " cpu:0 " in line]
    book = next(r for r in rows if r.startswith("| tensorflow cpu:0 ") and "| book " in r)
    assert "4.00x" in book
    assert any(r.startswith("| numpy cpu:0 ") and "1.00x" in r for r in rows)


def with_replicas(document: dict, replicas: int, factor: float) -> dict:
    """A copy of a bench document as if every case ran on `replicas` replicas, its medians factor times the
    originals."""
    doc = copy.deepcopy(document)
    for bench in doc["benchmarks"]:
        bench["extra_info"].update(replicas=replicas, strategy="keras DataParallel")
        bench["stats"]["median"] *= factor
    return doc


def test_distributed_report_gives_speed_up_and_efficiency(tmp_path):
    from mnist_ref.reporting import distributed

    one, two = tmp_path / "x1.json", tmp_path / "x2.json"
    one.write_text(SAMPLE.read_text())
    two.write_text(json.dumps(with_replicas(json.loads(SAMPLE.read_text()), 2, 0.8)))
    loaded = [files.load_bench(one), files.load_bench(two)]
    rendered = distributed.render(loaded, command="mnist-ref report --distributed")
    speed = rendered.split("## Speed", 1)[1].split("## ", 1)[0]
    row = next(line for line in speed.splitlines() if [c.strip() for c in line.split("|")[2:5]] == ["book", "32", "2"])
    assert "1.25x" in row and "62.5%" in row  # speed-up 1 / 0.8, efficiency 1.25 / 2
    assert "keras DataParallel" in rendered.split("## Set-up and correctness", 1)[1]
    # Cases on 2 replicas are their own cases: never matched with the one-device run of the same batch size.
    assert set(files.cells(loaded[:1])).isdisjoint(files.cells(loaded[1:]))
