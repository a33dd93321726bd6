"""The book's model written out by hand in NumPy: the oracle for every framework, and the achievable floor.

The model (steps 2-3 of the book): x (B x 784) -> Dense(64, relu) -> Dense(10, softmax), categorical
cross-entropy averaged over the batch, plain SGD. With z1 = x W1 + b1, h = relu(z1), z2 = h W2 + b2 and
p = softmax(z2):

    loss   L = -(1/B) sum_i sum_k y_ik log p_ik
    dL/dz2   = (p - y) / B
    dL/dW2   = h^T dz2          dL/db2 = sum_i dz2
    dL/dh    = dz2 W2^T
    dL/dz1   = dL/dh * [z1 > 0]
    dL/dW1   = x^T dz1          dL/db1 = sum_i dz1
    SGD      w <- w - lr * dL/dw

`gradients` computes these lines as written (the oracle compares each gradient). `train_step` computes the
same lines into buffers allocated once per batch size (a Workspace) and folds each kernel's gradient into its
SGD update, W <- W - lr * a^T dz in one BLAS call, so the same code also is the fastest framework-free
training of the book's schedule (float32): the achievable floor.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.linalg import get_blas_funcs

from mnist_ref.core.dataset import IMAGE_SIDE, NUM_CLASSES
from mnist_ref.core.model import HIDDEN_UNITS

INPUTS, HIDDEN, CLASSES = IMAGE_SIDE * IMAGE_SIDE, HIDDEN_UNITS, NUM_CLASSES  # the book's model (core)


@dataclasses.dataclass
class Weights:
    """W1 (784 x 64), b1 (64), W2 (64 x 10), b2 (10): Keras' Dense kernels and biases, in that order."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    @classmethod
    def from_keras(cls, weights: list[np.ndarray], dtype=np.float64) -> Weights:
        """From model.get_weights() of the book's model."""
        return cls(*(np.array(w, dtype=dtype) for w in weights))

    def as_list(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2], as model.get_weights() orders them."""
        return [self.W1, self.b1, self.W2, self.b2]

    def copy(self) -> Weights:
        """An independent copy."""
        return Weights(*(w.copy() for w in self.as_list()))


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float32) -> np.ndarray:
    """Keras' default kernel initializer: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)


def initial_weights(seed: int, dtype=np.float32) -> Weights:
    """Glorot-uniform kernels and zero biases, as Keras initialises the book's Dense layers."""
    rng = np.random.default_rng(seed)
    return Weights(
        glorot_uniform(rng, INPUTS, HIDDEN, dtype),
        np.zeros(HIDDEN, dtype),
        glorot_uniform(rng, HIDDEN, CLASSES, dtype),
        np.zeros(CLASSES, dtype),
    )


def single_threaded_blas():
    """A context in which BLAS runs on one thread. These products are small (32 x 784 x 64 at the book's
    batch): on the 2-core machine two BLAS threads made an epoch 2x slower through NumPy's matmul and 50x
    slower through the in-place gemm of descend(), so fit_epoch is meant to run inside this."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


class Workspace:
    """Every intermediate of one training step, allocated once for a batch size and dtype."""

    def __init__(self, batch: int, dtype=np.float32):
        self.x = np.empty((batch, INPUTS), dtype)  # the batch, gathered in place
        self.y = np.empty((batch, CLASSES), dtype)
        self.z1 = np.empty((batch, HIDDEN), dtype)  # pre-activation, then dL/dz1
        self.h = np.empty((batch, HIDDEN), dtype)
        self.z2 = np.empty((batch, CLASSES), dtype)  # logits, then p, then dL/dz2
        self.dh = np.empty((batch, HIDDEN), dtype)
        self.dW1 = np.empty((INPUTS, HIDDEN), dtype)
        self.dW2 = np.empty((HIDDEN, CLASSES), dtype)
        self.row = np.empty((batch, 1), dtype)
        self.picked = np.empty(batch, dtype)  # each image's probability of its true class


def forward(x: np.ndarray, w: Weights, ws: Workspace) -> np.ndarray:
    """Steps 2 and 7: z1 = x W1 + b1, h = relu(z1), p = softmax(h W2 + b2); returns p (in ws.z2)."""
    np.matmul(x, w.W1, out=ws.z1)
    ws.z1 += w.b1
    np.maximum(ws.z1, 0, out=ws.h)
    np.matmul(ws.h, w.W2, out=ws.z2)
    ws.z2 += w.b2
    np.max(ws.z2, axis=1, keepdims=True, out=ws.row)  # softmax, shifted for stability
    ws.z2 -= ws.row
    np.exp(ws.z2, out=ws.z2)
    np.sum(ws.z2, axis=1, keepdims=True, out=ws.row)
    ws.z2 /= ws.row
    return ws.z2


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    """Categorical cross-entropy averaged over the batch, with Keras' clipping of p to [1e-7, 1 - 1e-7]."""
    return float(-np.sum(y * np.log(np.clip(p, 1e-7, 1 - 1e-7))) / len(p))


def backward(
    x: np.ndarray, y: np.ndarray, w: Weights, ws: Workspace
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gradients of the batch loss after forward(): (dW1, db1, dW2, db2); ws.z2 holds p on entry."""
    dz2 = ws.z2
    dz2 -= y
    dz2 /= len(x)
    np.matmul(ws.h.T, dz2, out=ws.dW2)
    db2 = dz2.sum(axis=0)
    np.matmul(dz2, w.W2.T, out=ws.dh)
    dz1 = ws.z1
    np.greater(dz1, 0, out=dz1)  # relu'(z1), as 0 or 1, in place
    dz1 *= ws.dh
    np.matmul(x.T, dz1, out=ws.dW1)
    db1 = dz1.sum(axis=0)
    return ws.dW1, db1, ws.dW2, db2


def sgd_update(w: Weights, grads, learning_rate: float) -> None:
    """w <- w - lr * dL/dw, in place."""
    for param, grad in zip(w.as_list(), grads, strict=True):
        param -= learning_rate * grad


def descend(kernel: np.ndarray, learning_rate: float, a: np.ndarray, dz: np.ndarray) -> None:
    """kernel <- kernel - lr * a^T dz, in place and in one BLAS call (gemm with beta = 1): the gradient of a
    Dense kernel, a^T dz, and its SGD update without materialising the gradient. C-ordered arrays are passed
    as their Fortran-ordered transposes, so BLAS reads and writes them where they are."""
    gemm = get_blas_funcs("gemm", (kernel,))
    gemm(-learning_rate, dz.T, a.T, beta=1.0, c=kernel.T, trans_b=True, overwrite_c=True)


def batch_loss(p: np.ndarray, y: np.ndarray, ws: Workspace) -> float:
    """cross_entropy(p, y) for one-hot y, through each image's probability of its true class."""
    np.einsum("ij,ij->i", p, y, out=ws.picked)
    np.clip(ws.picked, 1e-7, 1 - 1e-7, out=ws.picked)
    np.log(ws.picked, out=ws.picked)
    return float(-ws.picked.sum() / len(p))


def train_step(x: np.ndarray, y: np.ndarray, w: Weights, ws: Workspace, *, learning_rate: float) -> float:
    """One SGD step on a batch, the lines of the module docstring in order; returns the batch loss before
    the update. Equal to gradients() followed by sgd_update() (tested)."""
    p = forward(x, w, ws)
    loss = batch_loss(p, y, ws)
    dz2 = p
    dz2 -= y
    dz2 /= len(x)
    np.matmul(dz2, w.W2.T, out=ws.dh)  # dL/dh, with W2 before its update
    descend(w.W2, learning_rate, ws.h, dz2)
    w.b2 -= learning_rate * dz2.sum(axis=0)
    dz1 = ws.z1
    np.greater(dz1, 0, out=dz1)
    dz1 *= ws.dh
    descend(w.W1, learning_rate, x, dz1)
    w.b1 -= learning_rate * dz1.sum(axis=0)
    return loss


def gradients(x: np.ndarray, y: np.ndarray, w: Weights) -> tuple[float, list[np.ndarray]]:
    """The batch loss and gradients [dW1, db1, dW2, db2] at w, without changing w (for the oracle)."""
    ws = Workspace(len(x), w.W1.dtype)
    loss = cross_entropy(forward(x, w, ws), y)
    return loss, [g.copy() for g in backward(x, y, w, ws)]


def fit_epoch(
    x: np.ndarray,
    y: np.ndarray,
    w: Weights,
    *,
    batch_size: int,
    learning_rate: float,
    order: np.ndarray,
    spaces: dict[int, Workspace] | None = None,
) -> float:
    """One epoch of SGD over x in `order` (a permutation, as Keras shuffles every epoch), the last batch
    smaller as Keras makes it; returns the mean batch loss. spaces keeps a Workspace per batch length.
    Run it inside single_threaded_blas()."""
    spaces = {} if spaces is None else spaces
    total, steps = 0.0, 0
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) not in spaces:
            spaces[len(idx)] = Workspace(len(idx), w.W1.dtype)
        ws = spaces[len(idx)]
        np.take(x, idx, axis=0, out=ws.x)
        np.take(y, idx, axis=0, out=ws.y)
        total += train_step(ws.x, ws.y, w, ws, learning_rate=learning_rate)
        steps += 1
    return total / steps


def evaluate(x: np.ndarray, y: np.ndarray, w: Weights) -> tuple[float, float]:
    """Step 6: (loss, accuracy) over a whole set."""
    p = forward(x, w, Workspace(len(x), w.W1.dtype))
    return cross_entropy(p, y), float(np.mean(p.argmax(axis=1) == y.argmax(axis=1)))
