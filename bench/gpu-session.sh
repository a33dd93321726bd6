#!/usr/bin/env bash
# One GPU session, as run on a lent NVIDIA H200 machine (Python 3.12 with JAX and torch, no TensorFlow):
# nvidia-smi; the bench matrix on cpu,gpu in one process per backend (JAX, then torch); each backend's
# determinism on the GPU (two seeded runs without and two with --deterministic). Results go to $OUT.
#   OUT=DIR MNIST_REF_DATA=DIR [WHEELS=DIR] [BATCHES=32,128,512,2048] bash bench/gpu-session.sh
# WHEELS: keras, namex and optree wheels, installed first where Keras is not (that machine has no network).
# TRAIN_BACKENDS (default: jax torch) and TRAIN_FLAGS (default: plain --deterministic) narrow the determinism runs.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT}" "${MNIST_REF_DATA:?set MNIST_REF_DATA}"
BATCHES=${BATCHES:-32,128,512,2048}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if [ -n "${WHEELS:-}" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
started=$SECONDS
step() { echo "== [$((SECONDS - started)) s] $*"; }

step nvidia-smi
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; } >"$OUT/nvidia-smi.txt" 2>&1
for backend in jax torch; do
    step "bench $backend"
    timeout "${BENCH_TIMEOUT:-200}" "$PY" -m pytest bench/ --benchmark-only --bench-backend "$backend" --bench-devices cpu,gpu \
        --bench-batch-sizes "$BATCHES" -p no:cacheprovider -q --benchmark-json="$OUT/$backend-gpu.json" 2>&1 | tail -25
done
runs=$(mktemp -d)
for backend in ${TRAIN_BACKENDS:-jax torch}; do
    for flag in ${TRAIN_FLAGS:-plain --deterministic}; do
        [ "$flag" = plain ] && flag=""
        for i in 1 2; do
            step "train $backend gpu $flag run $i"
            timeout "${TRAIN_TIMEOUT:-40}" "$PY" -m mnist_ref train --backend "$backend" --device "${TRAIN_DEVICE:-gpu}" --batch-size 512 \
                --epochs 2 --seed 42 $flag --out "$runs/$backend${flag:+-deterministic}-run$i.json" 2>&1 | tail -1
        done
    done
done
tar -C "$runs" -cf "$OUT/gpu-runs.tar" .
step done
