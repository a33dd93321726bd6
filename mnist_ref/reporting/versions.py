"""The cross-version table: one row per tox environment (one TensorFlow version each, the nightlies, and Keras 2
through tf-keras on a newer TensorFlow), and the sentence that says whether TensorFlow or Keras moved the book."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mnist_ref.analysis import stacks as stack_study
from mnist_ref.core.config import BOOK_BATCH_SIZE, DEFAULT_SEED
from mnist_ref.gate.compare import SAME_MACHINE_THRESHOLDS
from mnist_ref.gate.ratio import SAME_WITHIN
from mnist_ref.plumbing.errors import ReportError
from mnist_ref.reporting import stacks
from mnist_ref.reporting.tables import accuracy_cell, fmt, table
from mnist_ref.store import rounds
from mnist_ref.store.files import cells, load_bench, load_document, load_json
from mnist_ref.store.provenance import Provenance

HEADERS = [
    "env",
    "TensorFlow",
    "Keras",
    "fit samples/s",
    "evaluate samples/s",
    "predict 10k (ms)",
    "fit vs newest",
    "evaluate vs newest",
    "predict vs newest",
    "test accuracy",
    "in band",
    "fingerprint",
    "same weights as newest",
    "matches the oracle",
]


@dataclasses.dataclass(frozen=True)
class EnvResult:
    """What one tox env left: its seeded run record, the book case's throughput per hot path (CPU, batch 32), the
    10k-image predict's median and whether the oracle matched (None: not checked)."""

    run: dict
    rates: dict[str, float | None]
    predict_s: float | None
    oracle: bool | None


def load_env(directory: Path, *, allow_partial: bool = False) -> EnvResult | None:
    """An env's run record and book-mode batch-32 benchmarks, or None when it left no results."""
    run_path, bench_path = directory / "run.json", directory / "bench.json"
    if not run_path.is_file() or not bench_path.is_file():
        return None
    run = load_document(run_path, "run record")
    measured = cells([load_bench(bench_path, allow_partial=allow_partial)])
    paths = next(
        (
            p
            for key, p in measured.items()
            if key.device == "cpu:0" and key.batch_size == BOOK_BATCH_SIZE and key.mode == "book"
        ),
        {},
    )
    oracle_path = directory / "oracle.json"
    matches = load_document(oracle_path, "oracle result")["matches"] if oracle_path.is_file() else None
    return EnvResult(
        run,
        {path: m.info.samples_per_s for path, m in paths.items()},
        paths["predict"].median if "predict" in paths else None,
        matches,
    )


# Two separate runs of unchanged code on this machine reach this fit-time ratio (the gate's threshold for
# separate runs on the same machine, from its A/A runs: results/gate-validation.md).
SEPARATE_RUN_NOISE = SAME_MACHINE_THRESHOLDS["fit"]
TOX_RESULT = "tox-result.json"  # written by `tox p --result-json results/tox/tox-result.json`


def tox_outcomes(results_dir: Path) -> dict[str, str]:
    """Why each failed env failed, from tox's result JSON where it was written."""
    path = results_dir / TOX_RESULT
    if not path.is_file():
        return {}
    outcomes = {}
    testenvs = load_json(path).get("testenvs")
    for env, data in testenvs.items() if isinstance(testenvs, dict) else []:
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, dict) or result.get("success", True):
            continue
        setup = data.get("setup") if isinstance(data.get("setup"), list) else []
        failed_setup = any(isinstance(step, dict) and step.get("retcode") for step in setup)
        outcomes[env] = (
            "TensorFlow could not be installed on this Python and platform"
            if failed_setup
            else f"a command failed (exit {result.get('exit_code')})"
        )
    return outcomes


def _ratio(value, newest) -> str:
    return fmt(value / newest, "x") if value and newest else ""


def _framework(result: EnvResult) -> dict:
    return result.run["environment"].get("framework") or {}


def nightly_date(version: str | None) -> str | None:
    """The build date of a nightly version (2.23.0-dev20261026, 3.16.0.dev2026102704) as YYYY-MM-DD, or None."""
    match = re.search(r"dev(\d{4})(\d{2})(\d{2})", version or "")
    return "-".join(match.groups()) if match else None


def kind(result: EnvResult) -> str:
    """release, pre-release (a nightly TensorFlow or Keras) or tf-keras (Keras 2 through the tf-keras package)."""
    fw = _framework(result)
    if nightly_date(fw.get("tensorflow")) or nightly_date(fw.get("keras")):
        return "pre-release"
    if str(fw.get("keras_package", "")).startswith("tf-keras"):
        return "tf-keras"
    return "release"


def _tensorflow_cell(fw: dict) -> str:
    backend = fw.get("backend", "tensorflow")
    if backend != "tensorflow":
        return f"none ({backend} {fw.get(backend, '?')} backend)"
    version = fw.get("tensorflow", "?")
    date = nightly_date(version)
    return f"{version} (nightly of {date})" if date else version


def _keras_cell(fw: dict) -> str:
    version, package = fw.get("keras", "?"), fw.get("keras_package")
    if package and package != "keras":
        return f"{version} ({package})"
    return version


def row(env: str, result: EnvResult | None, newest: EnvResult | None, *, failure: str | None = None) -> list[str]:
    """One table row; an env without results says why instead of being dropped."""
    if result is None:
        why = failure or "no results (env not run, or it failed: see its tox log)"
        return [env, why] + [""] * (len(HEADERS) - 2)
    run, rates = result.run, result.rates
    fw = _framework(result)
    newest_rates = newest.rates if newest else {}
    if newest is not None and _backend(result) != _backend(newest):
        newest_rates = {}  # another backend: its speed is not a version's change
    band = run.get("band") or {}
    same = newest is not None and run["fingerprint"] == newest.run["fingerprint"]
    label = {"release": env, "pre-release": f"{env} (pre-release)", "tf-keras": f"{env} (Keras 2 via tf-keras)"}[
        kind(result)
    ]
    return [
        label,
        _tensorflow_cell(fw),
        _keras_cell(fw),
        fmt(rates.get("fit"), "rate"),
        fmt(rates.get("evaluate"), "rate"),
        fmt(result.predict_s, "ms"),
        _ratio(rates.get("fit"), newest_rates.get("fit")),
        _ratio(rates.get("evaluate"), newest_rates.get("evaluate")),
        _ratio(rates.get("predict"), newest_rates.get("predict")),
        accuracy_cell(run["evaluate"]["accuracy"], diverged=bool(run.get("diverged"))),
        fmt(band.get("inside"), "verdict"),
        run["fingerprint"][:12],
        "yes" if same else "no",
        "not checked" if result.oracle is None else fmt(result.oracle, "verdict"),
    ]


def _version_key(result: EnvResult) -> tuple:
    version = _framework(result).get("tensorflow") or "0"
    return tuple(int(p) if p.isdigit() else 0 for p in version.split(".")[:3])


def _minor(result: EnvResult) -> tuple:
    return _version_key(result)[:2]


def _keras_major(result: EnvResult) -> str:
    return str(_framework(result).get("keras", "?")).split(".")[0]


def _backend(result: EnvResult) -> str:
    return _framework(result).get("backend", "tensorflow")


def _tensorflow_releases(present: list[EnvResult]) -> list[EnvResult]:
    """The rows of released TensorFlow with its own Keras (no nightly, no tf-keras, no other backend)."""
    return [r for r in present if kind(r) == "release" and _backend(r) == "tensorflow"]


def newest_release(present: list[EnvResult]) -> EnvResult | None:
    """The reference row of the relative columns: the newest released TensorFlow with its own Keras."""
    return max(_tensorflow_releases(present) or present, key=_version_key) if present else None


def _weights_clause(fingerprint: dict[str, str], *, tf: str | None) -> str:
    """Which of TensorFlow and Keras moved the weights of the 2.15 -> 2.16 step, from the weight fingerprints of 2.15
    (before), 2.16 (after), and Keras 2 (k2) and Keras 3 (k3) on the tf-keras row's TensorFlow (tf)."""
    if fingerprint["before"] == fingerprint["after"]:
        weights = "the weights did not change from 2.15 to 2.16"
    elif fingerprint["k2"] == fingerprint["before"] and fingerprint["k2"] != fingerprint["k3"]:
        weights = (
            f"Keras moved the weights: Keras 2 on TensorFlow {tf} reproduces 2.15's weights bit for bit, Keras 3 on "
            f"the same TensorFlow does not"
        )
    elif fingerprint["k2"] == fingerprint["k3"]:
        weights = (
            f"TensorFlow moved the weights: on TensorFlow {tf} Keras 2 and Keras 3 give the same weights, unlike 2.15's"
        )
    else:
        weights = (
            f"both moved the weights: Keras 2 on TensorFlow {tf} matches neither 2.15's weights nor Keras 3's on "
            "the same TensorFlow"
        )
    if fingerprint["before"] != fingerprint["after"] and fingerprint["after"] != fingerprint["k3"]:
        weights += f" (Keras 3's own weights differ again between TensorFlow 2.16 and {tf})"
    return weights


def keras_or_tensorflow(present: list[EnvResult], *, noise: float, study: stack_study.StackStudy | None = None) -> str:
    """One sentence, from the data, on the 2.15 -> 2.16 step (Keras 2 -> 3 and a new TensorFlow at once): did
    TensorFlow or Keras move the weights and the speed? Keras 2 on a newer TensorFlow (tf-keras) separates
    them. noise: the time ratio two separate runs of unchanged code reach on this machine; smaller speed
    differences are not attributed."""
    releases = _tensorflow_releases(present)
    before = next((r for r in releases if _minor(r) == (2, 15) and _keras_major(r) == "2"), None)
    after = next((r for r in releases if _minor(r) == (2, 16) and _keras_major(r) == "3"), None)
    keras2 = max((r for r in present if kind(r) == "tf-keras"), key=_version_key, default=None)
    keras3 = next((r for r in releases if keras2 and _minor(r) == _minor(keras2) and _keras_major(r) == "3"), None)
    if not (before and after and keras2 and keras3):
        return (
            "TensorFlow or Keras? Not answered yet: it needs the rows of TensorFlow 2.15 (Keras 2), 2.16 (Keras 3), "
            "a tf-keras row (Keras 2 on a newer TensorFlow) and the Keras 3 row of that TensorFlow."
        )
    tf = _framework(keras2).get("tensorflow")
    fingerprint = {
        name: r.run["fingerprint"] for name, r in (("before", before), ("after", after), ("k2", keras2), ("k3", keras3))
    }
    weights = _weights_clause(fingerprint, tf=tf)
    speed = (
        _interleaved_speed_clause(study, tf=tf)
        if study is not None
        else _speed_clause(before, after, keras2, keras3, tf=tf, noise=noise)
    )
    return f"TensorFlow or Keras? For the 2.15 -> 2.16 step, {weights}; {speed}."


# The arms of the 2.15 -> 2.16 question in the interleaved study: (what it is, A, B).
KERAS_OR_TENSORFLOW = (
    ("the step", "tf215", "tf216"),
    ("Keras 3 against Keras 2 on the same TensorFlow", "tfkeras221", "tf221"),
    ("Keras 2 on the newer TensorFlow against 2.15", "tf215", "tfkeras221"),
)


def _interleaved_speed_clause(study: stack_study.StackStudy, *, tf: str) -> str:
    """The fit's speed on the 2.15 -> 2.16 question from the interleaved study, each ratio with its interval, and which
    of Keras and TensorFlow moved it (an interval that excludes 1)."""
    ratios = {}
    for what, a, b in KERAS_OR_TENSORFLOW:
        if (
            a not in study.arms
            or b not in study.arms
            or not (study.arms[a].per_step.get("fit") and study.arms[b].per_step.get("fit"))
        ):
            return "speed: the interleaved study lacks an env of this question (tf215, tf216, tfkeras221, tf221)"
        ratios[what] = stack_study.timed_ratio(study.arms[a], study.arms[b], "fit")
    moved = [
        name
        for name, (what, _, _) in (("Keras", KERAS_OR_TENSORFLOW[1]), ("TensorFlow", KERAS_OR_TENSORFLOW[2]))
        if not ratios[what].low <= 1 <= ratios[what].high
    ]
    said = "; ".join(f"{what} {ratios[what].sentence(SAME_WITHIN)}" for what, _, _ in KERAS_OR_TENSORFLOW)
    verdict = (
        f"so {' and '.join(moved)} moved the speed"
        if moved
        else "neither interval excludes 1, so neither is said to move it"
    )
    return f"the fit a step, interleaved (TensorFlow {tf} for the newer): {said}; {verdict}"


def _speed_clause(
    before: EnvResult, after: EnvResult, keras2: EnvResult, keras3: EnvResult, *, tf: str, noise: float
) -> str:
    rate = {
        name: r.rates.get("fit") for name, r in (("before", before), ("after", after), ("k2", keras2), ("k3", keras3))
    }
    if not all(rate.values()):
        return "speed: not measured in every row"
    step, by_keras, by_tf = rate["after"] / rate["before"], rate["k3"] / rate["k2"], rate["k2"] / rate["before"]
    causes = [name for name, ratio in (("Keras", by_keras), ("TensorFlow", by_tf)) if max(ratio, 1 / ratio) >= noise]
    verdict = (
        f"so {' and '.join(causes)} moved the speed"
        if causes
        else f"all within the {noise:.2f}x that separate runs of unchanged code reach here, so neither is attributed"
    )
    return (
        f"fit throughput (book, batch 32) went {step:.2f}x from 2.15 to 2.16, Keras 3 runs at {by_keras:.2f}x of Keras "
        f"2 on TensorFlow {tf}, and Keras 2 at {by_tf:.2f}x on TensorFlow {tf} of its speed on 2.15, {verdict}"
    )


def _interleaved_section(result: stack_study.StackStudy) -> list[str]:
    """The speed of every env from the interleaved study: per path, the median time a step and the ratio to the newest
    release with its 95% interval."""
    env = next(iter(result.arms.values())).env
    rows, headers = stacks.versions_rows(result), stacks.VERSIONS_HEADERS
    counted = any(r[-1] for r in rows)
    changes = [
        [
            c.path,
            f"{c.before} -> {c.after}",
            c.ratio.cell(),
            f"+-{100 * c.ratio.half_width:.1f}%",
            f"{c.ratio.n_a} / {c.ratio.n_b}{' paired' if c.ratio.paired else ''}",
            c.answer.value,
        ]
        for c in stack_study.consecutive_changes(result)
    ]
    return [
        "## Speed, interleaved (95% intervals)",
        "",
        f"`python -m mnist_ref.validation.stacks collect` ran {result.cycles} processes of every env"
        f"{result.added_clause()}, one at a time, "
        f"the order rotated every cycle, on {env.machine}: `--bench-measure steps` (book mode, batch "
        f"{BOOK_BATCH_SIZE}, CPU, all cores, 300 steps a round). Each cell: the median over processes of each process' "
        f"median time a step, and its ratio to {stack_study.NEWEST}, the Hodges-Lehmann estimate with its exact 95% "
        "interval (`mnist_ref/gate/ratio.py`; '~': the interval spans 1)."
        + (
            " The last column: instructions a fit step, counted under callgrind, where "
            "[validity.md](validity.md) shows a count tracks time across versions."
            if counted
            else " No env of this study was counted (validity.md takes the counts of the study of the "
            "other stacks, stack by stack)."
        ),
        "",
        table([r if counted else r[:-1] for r in rows], headers if counted else headers[:-1], label_columns=3),
        "",
        stacks.left_out_line(result),
        "",
        f"Between consecutive releases (slower or faster: the interval excludes 1; the same: it lies within "
        f"+-{100 * SAME_WITHIN:.0f}%; else more processes are needed to tell):",
        "",
        table(
            changes,
            ["path", "TensorFlow", "after / before [95%]", "half-width", "processes", "answer"],
            label_columns=2,
        ),
        "",
        *_stalls(result),
    ]


def _stalls(result: stack_study.StackStudy) -> list[str]:
    """How often each env's rounds stalled, and why a process' median stands."""
    fit_rounds = stack_study.rounds_a_process(result, "fit")
    if fit_rounds is None:
        return []
    return [
        f"Rounds that stalled (took longer than {rounds.STALL}x their process' fastest round of the path; "
        "on TensorFlow a fit or evaluate call sometimes stalls for a fixed 250-330 ms as it returns, see "
        f"docs/limits.md). A process' median of its {fit_rounds} fit rounds moves only when "
        f"{fit_rounds // 2 + 1} of them stall:",
        "",
        table(
            stacks.stall_rows(result),
            ["env", *(f"{p} rounds stalled" for p in stacks.STALL_PATHS)],
            label_columns=1,
        ),
        "",
    ]


# The full row of an env, cut into one table per question (each keeps the env column).
SPEED, RELATIVE, CORRECTNESS = slice(1, 6), slice(6, 9), slice(9, 14)


def _tables(rows: list[list[str]]) -> list[str]:
    """Speed, speed against the newest release, and correctness: three narrow tables, lines; an env without results
    says why in the first and is left out of the others."""
    measured = [r for r in rows if any(r[2:])]
    out = []
    for title, part, keep in (
        ("Speed", SPEED, rows),
        ("Against the newest release", RELATIVE, measured),
        ("Correctness", CORRECTNESS, measured),
    ):
        out += [
            f"## {title}",
            "",
            table([[r[0], *r[part]] for r in keep], [HEADERS[0], *HEADERS[part]], label_columns=1),
            "",
        ]
    return out


def headline(present: list[EnvResult], newest: EnvResult | None, *, speed_study: str | None = None) -> str:
    """Which releases reproduce the book here, and how the newest compares with the oldest (or, given, what the
    interleaved speed study found)."""
    if newest is None:
        return "No env left results."
    releases = sorted(_tensorflow_releases(present), key=_version_key)
    inside = [r for r in releases if (r.run.get("band") or {}).get("inside")]
    oldest = releases[0] if releases else None
    newest_fw = _framework(newest)
    speed = ""
    if speed_study:
        return (
            f"**{len(inside)} of {len(releases)} released TensorFlow versions reproduce the book here** (test accuracy "
            f"inside the book's band at batch {BOOK_BATCH_SIZE}). {speed_study}"
        )
    if oldest is not None and oldest is not newest and oldest.rates.get("fit") and newest.rates.get("fit"):
        ratio = newest.rates["fit"] / oldest.rates["fit"]
        speed = (
            f"; TensorFlow {newest_fw.get('tensorflow')} fits at {ratio:.2f}x the samples a second of "
            f"{_framework(oldest).get('tensorflow')} (separate runs: within {SEPARATE_RUN_NOISE:.2f}x is this "
            "machine's noise)"
        )
    return (
        f"**{len(inside)} of {len(releases)} released TensorFlow versions reproduce the book here** (test accuracy "
        f"inside the book's band at batch {BOOK_BATCH_SIZE}){speed}."
    )


def render(results_dir: Path, envs: list[str], *, allow_partial: bool = False, study: Path | None = None) -> str:
    """results/tf-versions.md: every env, newest TensorFlow as the reference for relative columns; with study (a
    folder of python -m mnist_ref.validation.stacks), the speed from its interleaved processes with 95% intervals,
    and its headline. ReportError when no env left results."""
    results = {env: load_env(results_dir / env, allow_partial=allow_partial) for env in envs}
    present = [r for r in results.values() if r]
    if not present:
        raise ReportError(
            f"{results_dir}: none of the envs {', '.join(envs)} left results (ENV/run.json and ENV/bench.json); "
            "run them with `tox -p` first"
        )
    newest = newest_release(present)
    failures = tox_outcomes(results_dir)
    rows = [row(env, results[env], newest, failure=failures.get(env)) for env in envs]
    newest_tf = newest.run["environment"]["framework"].get("tensorflow") if newest else "none"
    machines = sorted(
        {f"{env.cpu} ({env.usable_cores} cores)" for env in (Provenance.of(r.run["environment"]) for r in present)}
    )
    interleaved = stack_study.analyse(study) if study is not None else None
    return "\n".join(
        [
            "# The book's model across TensorFlow versions",
            "",
            headline(present, newest, speed_study=stacks.speed_headline(interleaved) if interleaved else None),
            "",
            *(_interleaved_section(interleaved) if interleaved else []),
            *(
                _correctness(rows, present, machines, newest_tf, interleaved)
                if interleaved
                else _separate_runs(rows, present, machines, newest_tf)
            ),
        ]
    )


def _correctness(
    rows: list[list[str]],
    present: list[EnvResult],
    machines: list[str],
    newest_tf: str,
    interleaved: stack_study.StackStudy,
) -> list[str]:
    """With the interleaved study: correctness from the tox runs, and no second speed answer."""
    measured = [r for r in rows if any(r[2:])]
    return [
        "## Correctness",
        "",
        "One tox environment per TensorFlow minor version (`tox -p`), measured on "
        f"{', '.join(machines) or 'no machine'}: `mnist-ref train --seed {DEFAULT_SEED}` (accuracy and fingerprint) "
        "and the oracle (one SGD step of the book's model against the hand-written NumPy reference, `mnist-ref "
        "oracle`; 'not checked' where the env predates it). Weights need not match across versions; the 'same "
        f"weights' column compares each with TensorFlow {newest_tf}'s. Rows marked pre-release run nightly builds; "
        "'Keras 2 via tf-keras' runs the tf-keras package on a newer TensorFlow (`TF_USE_LEGACY_KERAS=1`). The tox "
        "runs' own throughput is not shown: the speed answer is the interleaved one above.",
        "",
        table(
            [[r[0], *r[CORRECTNESS]] for r in measured] + [[r[0], r[1], *[""] * 4] for r in rows if not any(r[2:])],
            [HEADERS[0], *HEADERS[CORRECTNESS]],
            label_columns=1,
        ),
        "",
        keras_or_tensorflow(present, noise=SEPARATE_RUN_NOISE, study=interleaved),
        "",
    ]


def _separate_runs(rows: list[list[str]], present: list[EnvResult], machines: list[str], newest_tf: str) -> list[str]:
    """Without an interleaved study: the tox runs' own speed, correctness, and the noise separate runs reach."""
    return [
        "One tox environment per TensorFlow minor version (`tox -p`, then `tox -e report`), measured on "
        f"{', '.join(machines) or 'no machine'}. Throughput: the bench suite at the book's batch size "
        f"({BOOK_BATCH_SIZE}), book mode, CPU, medians. Accuracy and fingerprint: `mnist-ref train --seed "
        f"{DEFAULT_SEED}` in the same env. Relative columns: each version's throughput divided by the newest release's "
        f"(TensorFlow {newest_tf}; blank for a row on another backend), so the table reads without comparing absolute "
        "numbers across machines. Weights need not match across versions; the next column shows which do. The oracle: "
        "one SGD step of the book's model against the hand-written NumPy reference (`mnist-ref oracle`); 'not "
        "checked' where the env predates it. Rows marked pre-release run nightly builds (dated in the TensorFlow or "
        "Keras column); 'Keras 2 via tf-keras' runs the tf-keras package on a newer TensorFlow "
        "(`TF_USE_LEGACY_KERAS=1`). Speed comes from separate tox runs, one after another: ratios within "
        f"{SEPARATE_RUN_NOISE:.2f}x are within this machine's noise between runs (`mnist-ref ab` compares two "
        "environments interleaved).",
        "",
        *_tables(rows),
        keras_or_tensorflow(present, noise=SEPARATE_RUN_NOISE),
        "",
    ]
