"""results/README.md: what each generated file holds."""

from __future__ import annotations

from pathlib import Path

from mnist_ref.plumbing import atomic
from mnist_ref.plumbing.errors import ConfigError
from mnist_ref.reporting.tables import table

# The index of a results folder, and the line it opens with (how a README.md this project wrote is told from another).
INDEX_NAME = "README.md"
INDEX_TITLE = "# Results"

INDEX_ENTRIES = {
    "bench.md": "fit / evaluate / predict throughput and latency, accuracy and band, speed of light, CPU vs GPU",
    "bench-throughput.png": "samples/s against batch size per device and mode",
    "bench-training.png": "loss and accuracy per epoch of each benchmarked case",
    "seed-sweep.md": "per-seed test accuracies behind the accuracy bands",
    "backends.md": "Keras 3 backends x devices x batch sizes, fingerprint stability, CPU/GPU crossover",
    "distributed.md": "data-parallel training (replicas) against one device: samples/s, speed-up, scaling efficiency",
    "tf-versions.md": "the book's model across TensorFlow versions (Keras 2 and 3), and whether each matches the "
    "oracle",
    "gpu-h200.md": "JAX and torch on an NVIDIA H200 machine: GPU against its 16-core CPU per batch size, crossover, "
    "accuracy",
    "gpu-h200-throughput.png": "samples/s against batch size on the H200 machine, CPU and GPU",
    "gpu-h200-training.png": "loss and accuracy per epoch of each case benchmarked on the H200 machine",
    "gate-validation.md": "whether the regression gate tells a real slowdown from noise: A/A runs, real slowdowns, "
    "one core vs two",
    "steady-validation.md": "whether instruction counts (the steady measure) catch 3%, 5%, 2x more work without false "
    "alarms",
    "waiting-validation.md": "whether the timed guard (wall over CPU) calls a step that waits slower, and leaves A/A "
    "and more work alone",
    "calibration.md": "how far processes of identical code spread here, per thread setting (the clock's noise between "
    "processes)",
    "clock-validation.md": "how often the timed ratio's 95% interval holds a slowdown of known size, and what a "
    "comparison costs",
    "harness-cost.md": "what the harness costs a fit epoch: the bench against the book's own script in plain Keras",
    "validity.md": "per question users ask (work, mode, backend, TensorFlow version, batch size): the instruction "
    "ratio beside the timed one",
    "anatomy.md": "per stack, where a batch-32 step's wall, CPU, context switches and instructions go",
    "history.md": "each case's fit over the runs in time order: what changed, weights, the gate's verdict against the "
    "run before",
    "history.png": "the fit of each case over the runs, seconds and instruction counts apart",
    "baseline/cpu-tensorflow-smoke.json": "the bench run `mnist-ref compare` compares against by default",
}


def render_index(out_dir: Path, *, also: list[str] = ()) -> str:
    """results/README.md: what each generated file holds, for the files present and those (also) about to be written."""
    rows = [
        [f"[{name}]({name})", text] for name, text in INDEX_ENTRIES.items() if name in also or (out_dir / name).exists()
    ]
    return "\n".join(
        [
            INDEX_TITLE,
            "",
            "Generated files; regenerate them with the commands in the manual's page on the results "
            "(`docs/results.md`).",
            "",
            table(rows, ["file", "what it shows"], label_columns=2),
            "",
        ]
    )


def foreign(path: Path) -> bool:
    """Whether path holds a file that is not a results index (a project's README, a user's notes): never replaced."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().rstrip("\n") != INDEX_TITLE
    except FileNotFoundError:
        return False
    except OSError:
        return True


def check_page_name(name: str) -> str:
    """A page's base name (report --name): a plain file name, not empty, not hidden, not the index's; ConfigError."""
    if not name or "/" in name or "\\" in name or "\0" in name or name in (".", "..") or name.startswith("."):
        raise ConfigError(
            f"--name {name!r}: a page name is a plain file name (no folder, not empty, not hidden), "
            "e.g. --name bench-intel; choose the folder with --out-dir"
        )
    if f"{name}.md".lower() == INDEX_NAME.lower():
        raise ConfigError(f"--name {name!r}: {INDEX_NAME} is the index of the results folder; choose another name")
    return name


def with_index(pages: list[tuple[Path, bytes]]) -> dict[Path, bytes]:
    """The pages of one folder, each written once, with the folder's index beside them, unless a README.md already
    there is not an index (then it is left as it is). ConfigError for two pages on one path or a page named as the
    index: a writer writes only what it was asked for."""
    out: dict[Path, bytes] = {}
    for path, data in pages:
        if path.name.lower() == INDEX_NAME.lower():
            raise ConfigError(f"{path}: {INDEX_NAME} is the index of its folder; give the page another name")
        if path in out:
            raise ConfigError(f"{path}: two pages of this command would be written there; give the page another name")
        out[path] = data
    folders = {path.parent for path in out}
    for folder in folders:
        if not foreign(folder / INDEX_NAME):
            names = [path.name for path in out if path.parent == folder]
            out[folder / INDEX_NAME] = atomic.encode(render_index(folder, also=names))
    return out
