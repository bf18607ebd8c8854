"""Explicit ALS with biases (ALS-WR): the numba kernels.

Objective, over observed cells (u, i) only (missing means unknown, never zero)::

    sum (r_ui - mu - b_u - b_i - p_u . q_i)^2
      + reg * sum_u n_u (|p_u|^2 + b_u^2) + reg * sum_i n_i (|q_i|^2 + b_i^2)

``mu`` is the training mean and stays fixed. Each half-sweep solves every row of one side
in closed form with the other side fixed: the row's unknowns are ``x = [p_u, b_u]``, the
fixed side is augmented to ``y_i = [q_i, 1]`` and the target is ``r_ui - mu - b_i``. The
same kernel folds in a new prompt or model (a one-row problem), so training and fold-in
share one solver. Rows are independent, so results do not depend on the thread count.
"""
from __future__ import annotations

import numpy as np
import numba
from numba import njit, prange
from threadpoolctl import threadpool_limits

__all__ = ["solve_side", "als_sweeps", "augment"]

# Rows with at most this many observations accumulate their Gram matrix in a loop;
# longer rows gather their factors and call BLAS.
_LOOP_GRAM_MAX = 64


def augment(factors: np.ndarray) -> np.ndarray:
    """Append the constant-1 column that carries the other side's bias."""
    out = np.empty((factors.shape[0], factors.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = factors
    out[:, -1] = 1.0
    return out


@njit(cache=True, fastmath=False, inline="always")
def _cholesky_solve(a, b):
    """Solve a x = b in place for a small SPD matrix (a is overwritten with its factor)."""
    n = a.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= a[i, k] * b[k]
        b[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= a[k, i] * b[k]
        b[i] = s / a[i, i]


@njit(cache=True, parallel=True)
def _solve_side(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision, prior_shift, out,
               n_chunks):
    """Solve every row of one side with the other side fixed.

    ``fixed`` is the other side's augmented factors ``[q, 1]`` (n_other x (k+1));
    ``out`` receives ``[p, b]`` per row. ``prior_precision`` ((k+1) x (k+1)) and
    ``prior_shift`` (k+1) add a Gaussian prior term ``x^T P x - 2 x^T s`` (not scaled by
    the row count, unlike the ALS-WR penalty ``reg * n``); pass zeros for plain ALS-WR.
    Rows with no observation get zero factors. Rows are dealt round-robin to ``n_chunks``
    parallel tasks, each with its own scratch buffers.
    """
    n_rows = indptr.shape[0] - 1
    k1 = fixed.shape[1]
    max_len = 0
    for u in range(n_rows):
        max_len = max(max_len, indptr[u + 1] - indptr[u])
    for c in prange(n_chunks):
        gather = np.empty((max(max_len, 1), k1), dtype=np.float32)
        a = np.empty((k1, k1), dtype=np.float32)
        b = np.empty(k1, dtype=np.float32)
        for u in range(c, n_rows, n_chunks):
            start, stop = indptr[u], indptr[u + 1]
            n = stop - start
            if n == 0:
                out[u, :] = 0.0
                continue
            b[:] = 0.0
            if n <= _LOOP_GRAM_MAX:
                a[:, :] = 0.0
                for jj in range(start, stop):
                    y = fixed[indices[jj]]
                    t = data[jj] - mu - fixed_bias[indices[jj]]
                    for r in range(k1):
                        yr = y[r]
                        b[r] += yr * t
                        for s in range(r + 1):
                            a[r, s] += yr * y[s]
            else:
                g = gather[:n]
                for jj in range(n):
                    i = indices[start + jj]
                    g[jj, :] = fixed[i]
                    t = data[start + jj] - mu - fixed_bias[i]
                    for r in range(k1):
                        b[r] += g[jj, r] * t
                a[:, :] = np.dot(g.T, g)
            lam = reg * n
            for r in range(k1):
                for s in range(r + 1):
                    a[r, s] += prior_precision[r, s]
                a[r, r] += lam
                b[r] += prior_shift[r]
            _cholesky_solve(a, b)
            out[u, :] = b


def solve_side(indptr, indices, data, fixed_factors, fixed_bias, mu, reg, prior=None):
    """Solve ``[factors, bias]`` for every row of a CSR (rows = the side being solved).

    ``fixed_factors`` / ``fixed_bias`` belong to the other side, indexed by ``indices``.
    ``prior`` is an optional ``(precision, shift)`` pair (see ``_solve_side``).
    """
    n_rows = len(indptr) - 1
    k1 = fixed_factors.shape[1] + 1
    precision, shift = prior if prior is not None else (np.zeros((k1, k1), np.float32),
                                                        np.zeros(k1, np.float32))
    out = np.empty((n_rows, k1), dtype=np.float32)
    n_chunks = max(1, min(n_rows, 8 * numba.get_num_threads()))
    with threadpool_limits(1, user_api="blas"):
        _solve_side(np.ascontiguousarray(indptr, dtype=np.int64),
                    np.ascontiguousarray(indices, dtype=np.int32),
                    np.ascontiguousarray(data, dtype=np.float32), augment(fixed_factors),
                    np.ascontiguousarray(fixed_bias, dtype=np.float32), np.float32(mu),
                    np.float32(reg), np.ascontiguousarray(precision, dtype=np.float32),
                    np.ascontiguousarray(shift, dtype=np.float32), out, n_chunks)
    return out


def als_sweeps(scores, rank, reg, iterations, seed, callback=None):
    """Fit (mu, prompt_factors, model_factors) on a prompts x models CSR of float32.

    Factors are returned augmented: ``[p, b]`` per prompt and ``[q, b]`` per model.
    ``callback(iteration, prompt_aug, model_aug)`` is called after each sweep.
    """
    csr = scores.tocsr()
    csc_t = csr.T.tocsr()  # models x prompts
    mu = np.float32(csr.data.mean()) if csr.nnz else np.float32(0.0)
    rng = np.random.default_rng(seed)
    n_models = csr.shape[1]
    model_aug = np.zeros((n_models, rank + 1), dtype=np.float32)
    model_aug[:, :rank] = rng.normal(0.0, 0.1, size=(n_models, rank)).astype(np.float32)
    for it in range(iterations):
        prompt_aug = solve_side(csr.indptr, csr.indices, csr.data, model_aug[:, :rank],
                                model_aug[:, rank], mu, reg)
        model_aug = solve_side(csc_t.indptr, csc_t.indices, csc_t.data, prompt_aug[:, :rank],
                               prompt_aug[:, rank], mu, reg)
        if callback is not None:
            callback(it, prompt_aug, model_aug)
    return mu, prompt_aug, model_aug
