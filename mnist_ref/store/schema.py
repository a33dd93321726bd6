"""The shape of every results file mnist-ref reads, as JSON Schema, and the one validator that checks it.

Every reader (compare, baseline, report, versions) goes through validate(): a file that parses but has a
field of the wrong type, a non-finite or negative time, an unknown hot path or a missing correctness field is
one ReportError naming the file, the entry and the field, never a traceback or a silently skipped check.
JSON Schema (the `jsonschema` package) rather than hand-written checks: the rules are data that other tools
can read too, and its errors carry the path of the offending value.
"""

from __future__ import annotations

from pathlib import Path

from mnist_ref.plumbing.errors import ReportError
from mnist_ref.store.measures import NAMES

BENCH_SCHEMAS = ("mnist-ref/bench/1", "mnist-ref/bench/2")
# Version 2 writes plain params, per-round times and null (with a 'diverged' flag) for a NaN or inf metric.
BENCH_SCHEMA = BENCH_SCHEMAS[-1]
SWEEP_SCHEMA = "mnist-ref/seed-sweep/1"
RUN_SCHEMA = "mnist-ref/run-record/1"
ORACLE_SCHEMA = "mnist-ref/oracle/1"
PATHS = ("fit", "evaluate", "predict", "predict_one")
# What a round's number is: seconds of the full workload, instructions counted by callgrind over a bounded one
# (mnist_ref.measure.instructions), or seconds of a bounded one with each round's CPU seconds (the gate's timed guard).
MEASURES = NAMES  # store.measures: the one vocabulary
# The reference floor's rows (bench/test_reference_floor.py): timed like the others, no Keras model to judge.
FLOOR_MODE = "floor"

_NUMBER = {"type": "number"}
_SECONDS = {"type": "number", "exclusiveMinimum": 0}
_NONNEGATIVE = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 1}
_STRING = {"type": "string"}
_ACCURACY = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_BAND = {
    "type": ["array", "null"],
    "items": {"type": "number", "minimum": 0, "maximum": 1},
    "minItems": 2,
    "maxItems": 2,
}
_FINGERPRINT = {"type": ["string", "null"], "pattern": "^[0-9a-f]{8,}$"}

_ENVIRONMENT = {
    "type": "object",
    "properties": {
        "python": _STRING,
        "numpy": _STRING,
        "framework": {
            "type": "object",
            "properties": {
                "keras": _STRING,
                "keras_package": _STRING,
                "backend": _STRING,
                "tensorflow": _STRING,
                "gpus": {"type": "array", "items": {"type": "object", "properties": {"device_name": _STRING}}},
                "cuda": {"type": ["string", "null"]},
            },
        },
        "cpu": {
            "type": "object",
            "properties": {"model": _STRING, "arch": _STRING, "usable_cores": _COUNT, "logical_cores": _COUNT},
        },
        "git": {"type": ["object", "null"], "properties": {"commit": {"type": ["string", "null"]}}},
    },
}

_CASE = {
    "backend": _STRING,
    "device": _STRING,
    "batch_size": _COUNT,
    "mode": _STRING,
    "replicas": _COUNT,
}

_EXTRA_INFO = {
    "type": "object",
    "required": ["path", "backend", "device", "batch_size", "mode"],
    "properties": {
        **_CASE,
        "path": {"enum": list(PATHS)},
        "samples_per_round": _COUNT,
        "steps_per_round": _COUNT,
        "samples_per_s": _SECONDS,
        "steps_per_s": _SECONDS,
        "p95_s": _SECONDS,
        "warmup_s": _NONNEGATIVE,
        "compile_s": {"type": ["number", "null"]},
        "speed_of_light_pct": {"type": ["number", "null"], "minimum": 0},
        "strategy": {"type": ["string", "null"]},  # the data-parallel strategy, or "single device"
        "flops_per_round": {"type": "integer", "minimum": 0},
        "matmul_flops_per_s": {
            "type": ["number", "null"]
        },  # this machine's measured matmul throughput (the speed of light)
        "harness_overhead_pct": {"type": "number"},  # share of a round spent outside Keras' own call
        "round_spread": {"type": ["number", "null"], "minimum": 0},  # null: one round, no spread
        "measure": {"enum": list(MEASURES)},
        "instructions_per_step": _SECONDS,
        "instructions_per_sample": _SECONDS,
        # shares of the counted instructions by where they ran (mnist_ref.measure.instructions.PARTS)
        "instructions_by_part": {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "wall_over_cpu": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "speed_of_light_s": {"type": ["number", "null"], "minimum": 0},
        # Where a timed round's wall went (bench/timing.TimedCall.anatomy): CPU seconds of each round (all threads), and
        # per step the CPU, the main thread's CPU, the share of wall the main thread spent off the CPU,
        # context switches.
        "round_cpu_s": {"type": "array", "items": _NONNEGATIVE},
        "cpu_per_step_s": _NONNEGATIVE,
        "main_thread_cpu_per_step_s": _NONNEGATIVE,
        "main_thread_off_cpu_share": _NUMBER,
        "voluntary_switches_per_step": _NONNEGATIVE,
        "involuntary_switches_per_step": _NONNEGATIVE,
        "test_accuracy": _ACCURACY,
        "test_loss": {"type": ["number", "null"]},
        "diverged": {"type": "boolean"},
        "band": _BAND,
        "in_band": {"type": ["boolean", "null"]},
        "fingerprint": _FINGERPRINT,
        "predicted_class": {"type": "integer", "minimum": 0, "maximum": 9},
        "history": {
            "type": "object",
            "required": ["loss"],
            "additionalProperties": {"type": "array", "items": {"type": ["number", "null"]}},
        },
    },
    # What the gate judges must be there to be judged: a fit of a Keras case carries its accuracy, band,
    # divergence and fingerprint; a one-image predict its class. The floor has no Keras model.
    "allOf": [
        {
            "if": {
                "required": ["path", "mode"],
                "properties": {"path": {"const": "fit"}, "mode": {"not": {"const": FLOOR_MODE}}},
            },
            "then": {"required": ["test_accuracy", "band", "fingerprint", "diverged"]},
        },
        {
            "if": {
                "required": ["path", "mode"],
                "properties": {"path": {"const": "predict_one"}, "mode": {"not": {"const": FLOOR_MODE}}},
            },
            "then": {"required": ["predicted_class"]},
        },
    ],
}

_BENCHMARK = {
    "type": "object",
    "required": ["name", "stats", "extra_info"],
    "properties": {
        "name": _STRING,
        "params": {"type": ["object", "null"]},
        "stats": {
            "type": "object",
            # data (every round's seconds) is what the gate tests; files written without it are read, and the
            # gate lists their paths as not compared.
            "required": ["median"],
            "properties": {
                "median": _SECONDS,
                "q1": _SECONDS,
                "q3": _SECONDS,
                "min": _SECONDS,
                "max": _SECONDS,
                "rounds": _COUNT,
                "data": {"type": "array", "minItems": 1, "items": _SECONDS},
            },
        },
        "extra_info": _EXTRA_INFO,
    },
}

BENCH = {
    "type": "object",
    "required": ["machine_info", "benchmarks", "mnist_ref"],
    "properties": {
        "datetime": _STRING,
        "machine_info": {"type": "object", "properties": {"mnist_ref": _ENVIRONMENT}},
        "benchmarks": {"type": "array", "items": _BENCHMARK},
        "mnist_ref": {
            "type": "object",
            "required": ["schema"],
            "properties": {
                "schema": {"enum": list(BENCH_SCHEMAS)},
                "partial": {"type": "boolean"},
                "outcome": _STRING,
                "not_completed": {"type": "array", "items": _STRING},
                "command": _STRING,
                "skipped": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["backend", "device", "batch_size", "mode", "reason"],
                        "properties": {**_CASE, "reason": _STRING},
                    },
                },
                "replicas": _COUNT,
                "injected_slowdown": {"type": "number", "minimum": 1},
                "injected_wait": {"type": "number", "minimum": 1},
                "injected_work": {"type": "number", "minimum": 0},
                "injected_steps": {"type": "number", "minimum": 0},
                "measure": {"type": "object", "required": ["name"], "properties": {"name": {"enum": list(MEASURES)}}},
                "ab_session": {"type": ["string", "null"]},
                "contention": {
                    "type": ["object", "null"],
                    "required": ["verdict"],
                    "properties": {
                        "verdict": {"enum": ["steady", "contended"]},
                        "reasons": {"type": "array", "items": _STRING},
                        "other_busy_cores": _NONNEGATIVE,
                        "steal_share": _NONNEGATIVE,
                        "probe_drift": _SECONDS,
                    },
                },
                "oracle": {
                    "type": ["object", "null"],
                    "required": ["matches"],
                    "properties": {"matches": {"type": "boolean"}, "differs": {"type": "array", "items": _STRING}},
                },
            },
        },
    },
}

SWEEP = {
    "type": "object",
    "required": ["schema", "config", "backend", "runs", "summary"],
    "properties": {
        "backend": _STRING,
        "data_source": _STRING,
        "environment": _ENVIRONMENT,
        "config": {
            "type": "object",
            "required": ["mode", "batch_size"],
            "properties": {"mode": _STRING, "batch_size": _COUNT, "replicas": _COUNT},
        },
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["seed"],
                "properties": {
                    "seed": {"type": "integer"},
                    "test_accuracy": _ACCURACY,
                    "test_loss": {"type": ["number", "null"]},
                    "fit_s": {"type": ["number", "null"], "minimum": 0},
                    "fingerprint": _FINGERPRINT,
                    "status": {"enum": ["ok", "diverged", "failed"]},
                    "reason": _STRING,
                },
            },
        },
        "summary": {
            "type": "object",
            "required": ["n", "mean", "std", "min", "max", "band"],
            "properties": {
                "n": {"type": "integer", "minimum": 0},
                "seeds": {"type": "integer", "minimum": 0},
                "mean": _ACCURACY,
                "std": {"type": ["number", "null"], "minimum": 0},
                "min": _ACCURACY,
                "max": _ACCURACY,
                "band": _BAND,
            },
        },
    },
}

RUN = {
    "type": "object",
    "required": ["schema", "fingerprint", "environment", "evaluate"],
    "properties": {
        "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{8,}$"},
        "environment": _ENVIRONMENT,
        "evaluate": {
            "type": "object",
            "required": ["accuracy"],
            "properties": {"accuracy": _ACCURACY, "loss": {"type": ["number", "null"]}},
        },
        "band": {"type": ["object", "null"], "properties": {"inside": {"type": ["boolean", "null"]}}},
        "diverged": {"type": "boolean"},
    },
}

ORACLE = {
    "type": "object",
    "required": ["schema", "matches"],
    "properties": {"matches": {"type": "boolean"}},
}

SCHEMAS = {"bench": BENCH, "sweep": SWEEP, "run record": RUN, "oracle result": ORACLE}


def _location(error, document) -> str:
    """benchmark 'NAME', field a.b[2], as far as the error's path goes."""
    parts = list(error.absolute_path)
    where = ""
    if len(parts) >= 2 and parts[0] == "benchmarks" and isinstance(parts[1], int):
        bench = document["benchmarks"][parts[1]]
        name = bench.get("name") if isinstance(bench, dict) else None
        where = f"benchmark {name!r}" if isinstance(name, str) else f"benchmarks[{parts[1]}]"
        parts = parts[2:]
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    if not field:
        return where or "the document"
    return f"{where}, field {field}" if where else f"field {field}"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(path: Path, document: dict, kind: str) -> None:
    """ReportError naming the file, the entry and the field of the first violation of kind's schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(SCHEMAS[kind]).iter_errors(document))
    if error is not None:
        raise ReportError(
            f"{path}: not a valid mnist-ref {kind} file: {_location(error, document)}: {_short(error.message)}"
        )
