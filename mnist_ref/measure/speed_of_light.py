"""The work in one step of the book's model, and the machine's measured matrix-multiply throughput.

Together they give the time the work would take at that throughput (the speed of light), against
which a measured time is read.
"""

from __future__ import annotations

import time

from mnist_ref.core import framework
from mnist_ref.core.dataset import IMAGE_SIDE, NUM_CLASSES
from mnist_ref.core.model import HIDDEN_UNITS

# (inputs, outputs) of each Dense layer, in order.
LAYERS = ((IMAGE_SIDE * IMAGE_SIDE, HIDDEN_UNITS), (HIDDEN_UNITS, NUM_CLASSES))
# Square matrices used to calibrate; large enough to reach a BLAS or GPU kernel's steady rate,
# small enough that one product takes milliseconds on 2 CPU cores.
CALIBRATION_SIZE = 1024
CALIBRATION_PRODUCTS = 8
CALIBRATION_REPEATS = 3


def forward_flops(samples: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of the forward pass for `samples` images."""
    return sum(2 * samples * n_in * n_out for n_in, n_out in LAYERS)


def train_flops(samples: int) -> int:
    """Forward plus backward FLOPs for `samples` images.

    The backward pass costs one matmul for each weight gradient, and one more for each layer's
    input gradient except the first layer's (the images need no gradient).
    """
    weight_grads = forward_flops(samples)
    input_grads = sum(2 * samples * n_in * n_out for n_in, n_out in LAYERS[1:])
    return forward_flops(samples) + weight_grads + input_grads


def matmul_throughput(device: str, *, size: int = CALIBRATION_SIZE) -> float:
    """Best-of-repeats float32 matmul FLOP/s of the active backend on device."""
    import numpy as np

    to_tensor, matmul, to_numpy = framework.tensor_ops()
    with framework.device_scope(device):
        a = to_tensor(np.random.default_rng(0).random((size, size), dtype=np.float32))
        b = to_tensor(np.random.default_rng(1).random((size, size), dtype=np.float32))
        to_numpy(matmul(a, b))  # warm-up: kernel selection, first allocation
        best = float("inf")
        for _ in range(CALIBRATION_REPEATS):
            start = time.perf_counter()
            for _ in range(CALIBRATION_PRODUCTS):
                out = matmul(a, b)
            to_numpy(out[0, 0])  # host copy: the device has finished
            best = min(best, time.perf_counter() - start)
    return CALIBRATION_PRODUCTS * 2 * size**3 / best


def speed_of_light_s(flops: int, throughput: float) -> float:
    """Seconds the given FLOPs take at the given FLOP/s."""
    return flops / throughput
