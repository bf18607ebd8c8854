"""What the ALS and logistic kernels share: the small SPD solve, BLAS threading, row dispatch;
and the Cholesky factor of a covariance that rounding left slightly indefinite (cold start).

Both kernels solve every row of one side independently: they accumulate a (k+1) x (k+1)
system per row, by a loop over the lower triangle for short rows and by BLAS on gathered
blocks for long ones, and solve it in place with ``cholesky_solve``. The thresholds below
were measured in benchmarks/bench_als.py; ``run_rows`` is the one place that picks the
serial or parallel kernel and holds BLAS to one thread around it.
"""
from __future__ import annotations

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls; loaded before threadpoolctl looks)
from numba import njit
from threadpoolctl import ThreadpoolController

__all__ = ["FASTMATH", "LOOP_GRAM_MAX", "GATHER_ROWS", "SERIAL_MAX_ROWS", "cholesky_solve",
           "blas_one_thread", "run_rows", "psd_cholesky"]

# Rows with at most this many observations accumulate their Gram matrix with a loop over the
# lower triangle; longer rows gather their factors in blocks of GATHER_ROWS and call BLAS
# (sgemm) for the factor block of the Gram.
LOOP_GRAM_MAX = 32
GATHER_ROWS = 512
# Calls with at most this many rows (fold-in) run without a parallel region: waking the
# thread pool costs more than the solve, and far more on a loaded machine.
SERIAL_MAX_ROWS = 8

# Reassociation lets LLVM vectorise the dot products and reductions; no finite-math or
# approximate-reciprocal assumptions. The same code runs on every thread, so results still do
# not depend on the thread count.
FASTMATH = {"reassoc", "contract", "nsz"}

_blas_controller = None


def blas_one_thread():
    """A context manager holding every loaded BLAS to one thread (controller built once)."""
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


@njit(cache=True, fastmath=FASTMATH, inline="always")
def cholesky_solve(a, b):
    """Solve a x = b in place for a small SPD matrix, reading the lower triangle only
    (a's lower triangle is overwritten with its Cholesky factor)."""
    n = a.shape[0]
    for j in range(n):
        aj = a[j]
        s = aj[j]
        for k in range(j):
            s -= aj[k] * aj[k]
        d = np.sqrt(s)
        aj[j] = d
        for i in range(j + 1, n):
            ai = a[i]
            s = ai[j]
            for k in range(j):
                s -= ai[k] * aj[k]
            ai[j] = s / d
    for i in range(n):
        ai = a[i]
        s = b[i]
        for k in range(i):
            s -= ai[k] * b[k]
        b[i] = s / ai[i]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= a[k, i] * b[k]
        b[i] = s / a[i, i]


def run_rows(parallel, serial, args, *, n_rows: int, longest: int, tail=()):
    """Run a row kernel on ``args``: ``serial(*args, *tail)`` for at most ``SERIAL_MAX_ROWS``
    rows, else ``parallel(*args, n_chunks, *tail)`` with rows dealt to ``n_chunks`` tasks.

    BLAS is held to one thread (each prange task calls it) only when some row is longer than
    ``LOOP_GRAM_MAX`` and so reaches BLAS at all: limiting it has a small cost of its own,
    which matters for one-row fold-in.
    """
    if n_rows > SERIAL_MAX_ROWS:
        kernel, args = parallel, (*args, max(1, min(n_rows, 8 * numba.get_num_threads())), *tail)
    else:
        kernel, args = serial, (*args, *tail)
    if longest > LOOP_GRAM_MAX:
        with blas_one_thread():
            kernel(*args)
    else:
        kernel(*args)


def psd_cholesky(a: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (..., k, k) of covariance matrices.

    A covariance is positive semi-definite, but one computed as the inverse of an
    ill-conditioned precision (a model that fits its training data almost exactly has a
    tiny noise variance) can come out slightly indefinite in floating point. When numpy's
    factorisation succeeds its result is returned as is; otherwise the factors of the
    symmetrised matrices plus the smallest jitter (from 1e-12 of the mean diagonal up,
    tenfold each time) that makes every one of them positive definite. NaN or inf is an
    error (numpy would return NaN factors).
    """
    if not np.isfinite(a).all():
        raise np.linalg.LinAlgError("a covariance matrix holds NaN or inf")
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        pass
    sym = (a + np.swapaxes(a, -1, -2)) / 2
    scale = np.abs(np.trace(sym, axis1=-2, axis2=-1))[..., None, None] / a.shape[-1]
    eye = np.eye(a.shape[-1])
    for exponent in range(-12, 1):
        try:
            return np.linalg.cholesky(sym + 10.0 ** exponent * np.maximum(scale, 1e-300) * eye)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("a covariance matrix is not positive semi-definite, even "
                                "with a jitter of its mean diagonal")
