"""The cross-version table: one row per tox environment (one TensorFlow version each)."""

from __future__ import annotations

from pathlib import Path

from mnist_ref.config import BOOK_BATCH_SIZE
from mnist_ref.errors import ReportError
from mnist_ref.reporting.files import cells, load_bench, load_document, load_json
from mnist_ref.reporting.tables import accuracy_cell, fmt, table

HEADERS = [
    "env", "TensorFlow", "Keras", "fit samples/s", "evaluate samples/s", "predict 10k (ms)",
    "fit vs newest", "evaluate vs newest", "predict vs newest",
    "test accuracy", "in band", "fingerprint", "same weights as newest", "matches the oracle",
]


def load_env(directory: Path, *, allow_partial: bool = False) -> dict | None:
    """An env's run record and book-mode batch-32 benchmarks, or None when it left no results."""
    run_path, bench_path = directory / "run.json", directory / "bench.json"
    if not run_path.is_file() or not bench_path.is_file():
        return None
    run = load_document(run_path, "run record")
    measured = cells([load_bench(bench_path, allow_partial=allow_partial)])
    paths = next((p for (_, device, batch, mode), p in measured.items()
                  if device == "cpu:0" and batch == BOOK_BATCH_SIZE and mode == "book"), {})
    medians = {path: bench["extra_info"].get("samples_per_s") for path, bench in paths.items()}
    oracle_path = directory / "oracle.json"
    matches = load_document(oracle_path, "oracle result")["matches"] if oracle_path.is_file() else None
    return {"run": run, "rates": medians, "predict_s": paths["predict"]["stats"]["median"] if "predict" in paths else None,
            "oracle": matches}


TOX_RESULT = "tox-result.json"  # written by `tox p --result-json results/tox/tox-result.json`


def tox_outcomes(results_dir: Path) -> dict[str, str]:
    """Why each failed env failed, from tox's result JSON where it was written."""
    path = results_dir / TOX_RESULT
    if not path.is_file():
        return {}
    outcomes = {}
    testenvs = load_json(path).get("testenvs")
    for env, data in (testenvs.items() if isinstance(testenvs, dict) else []):
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, dict) or result.get("success", True):
            continue
        setup = data.get("setup") if isinstance(data.get("setup"), list) else []
        failed_setup = any(isinstance(step, dict) and step.get("retcode") for step in setup)
        outcomes[env] = ("TensorFlow could not be installed on this Python and platform" if failed_setup
                         else f"a command failed (exit {result.get('exit_code')})")
    return outcomes


def _ratio(value, newest) -> str:
    return fmt(value / newest, "x") if value and newest else ""


def row(env: str, result: dict | None, newest: dict | None, *, failure: str | None = None) -> list[str]:
    """One table row; an env without results says why instead of being dropped."""
    if result is None:
        why = failure or "no results (env not run, or it failed: see its tox log)"
        return [env, why] + [""] * (len(HEADERS) - 2)
    run, rates = result["run"], result["rates"]
    fw = run["environment"].get("framework", {})
    newest_rates = newest["rates"] if newest else {}
    band = run.get("band") or {}
    same = newest is not None and run["fingerprint"] == newest["run"]["fingerprint"]
    return [
        env, fw.get("tensorflow", "?"), fw.get("keras", "?"),
        fmt(rates.get("fit"), "rate"), fmt(rates.get("evaluate"), "rate"), fmt(result["predict_s"], "ms"),
        _ratio(rates.get("fit"), newest_rates.get("fit")),
        _ratio(rates.get("evaluate"), newest_rates.get("evaluate")),
        _ratio(rates.get("predict"), newest_rates.get("predict")),
        accuracy_cell(run["evaluate"]["accuracy"], diverged=bool(run.get("diverged"))),
        fmt(band.get("inside"), "verdict"),
        run["fingerprint"][:12], "yes" if same else "no",
        "not checked" if result.get("oracle") is None else fmt(result["oracle"], "verdict"),
    ]


def _version_key(result: dict) -> tuple:
    version = result["run"]["environment"].get("framework", {}).get("tensorflow", "0")
    return tuple(int(p) if p.isdigit() else 0 for p in version.split(".")[:3])


def render(results_dir: Path, envs: list[str], *, allow_partial: bool = False) -> str:
    """results/tf-versions.md: every env, newest TensorFlow as the reference for relative columns; ReportError
    when no env left results."""
    results = {env: load_env(results_dir / env, allow_partial=allow_partial) for env in envs}
    present = [r for r in results.values() if r]
    if not present:
        raise ReportError(f"{results_dir}: none of the envs {', '.join(envs)} left results (ENV/run.json and ENV/bench.json); "
                          "run them with `tox -p` first")
    newest = max(present, key=_version_key) if present else None
    failures = tox_outcomes(results_dir)
    rows = [row(env, results[env], newest, failure=failures.get(env)) for env in envs]
    newest_tf = newest["run"]["environment"]["framework"].get("tensorflow") if newest else "none"
    machines = sorted({
        f"{cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} cores)"
        for cpu in (r["run"]["environment"].get("cpu", {}) for r in present)
    })
    return "\n".join([
        "# The book's model across TensorFlow versions",
        "",
        f"One tox environment per TensorFlow minor version (`tox -p`, then `tox -e report`), measured on "
        f"{', '.join(machines) or 'no machine'}. Throughput: the bench suite at the book's batch size (32), "
        "book mode, CPU, medians. Accuracy and fingerprint: `mnist-ref train --seed 42` in the same env. "
        f"Relative columns: each version's throughput divided by the newest's (TensorFlow {newest_tf}), so the "
        "table reads without comparing absolute numbers across machines. Weights need not match across "
        "versions; the next column shows which do. The oracle: one SGD step of the book's model against the "
        "hand-written NumPy reference (`mnist-ref oracle`); 'not checked' where the env predates it.",
        "",
        table(rows, HEADERS, label_columns=1),
        "",
    ])
