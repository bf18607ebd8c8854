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
from numba import njit, prange

from .linalg import FASTMATH, GATHER_ROWS, LOOP_GRAM_MAX, cholesky_solve, run_rows

__all__ = ["solve_side", "als_sweeps"]


@njit(cache=True, fastmath=FASTMATH)
def _solve_rows(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision, prior_shift, out,
                first, step, g, a, b):
    """Solve rows ``first, first + step, ...`` with scratch ``g`` (gather), ``a``, ``b``."""
    n_rows = indptr.shape[0] - 1
    k = fixed.shape[1]
    k1 = k + 1
    for u in range(first, n_rows, step):
        start, stop = indptr[u], indptr[u + 1]
        n = stop - start
        if n == 0:
            out[u, :] = 0.0
            continue
        a[:, :] = 0.0
        b[:] = 0.0
        ak = a[k]
        if n <= LOOP_GRAM_MAX:
            for jj in range(start, stop):
                i = indices[jj]
                y = fixed[i]
                t = data[jj] - mu - fixed_bias[i]
                for r in range(k):
                    yr = y[r]
                    ar = a[r]
                    for s in range(r + 1):
                        ar[s] += yr * y[s]
                for r in range(k):
                    b[r] += y[r] * t
                    ak[r] += y[r]
                b[k] += t
        else:
            for c0 in range(start, stop, GATHER_ROWS):
                m = min(stop - c0, GATHER_ROWS)
                for jj in range(m):
                    i = indices[c0 + jj]
                    y = fixed[i]
                    t = data[c0 + jj] - mu - fixed_bias[i]
                    gj = g[jj]
                    for r in range(k):
                        gj[r] = y[r]
                        b[r] += y[r] * t
                        ak[r] += y[r]
                    b[k] += t
                gm = g[:m]
                a[:k, :k] += np.dot(gm.T, gm)
        ak[k] = n
        lam = reg * n
        for r in range(k1):
            ar = a[r]
            pr = prior_precision[r]
            for s in range(r + 1):
                ar[s] += pr[s]
            ar[r] += lam
            b[r] += prior_shift[r]
        cholesky_solve(a, b)
        out[u, :] = b


@njit(cache=True)
def _gather_rows(indptr):
    """Rows of the gather buffer: the longest row, capped at ``GATHER_ROWS``."""
    max_len = 0
    for u in range(indptr.shape[0] - 1):
        max_len = max(max_len, indptr[u + 1] - indptr[u])
    return min(max(max_len, 1), GATHER_ROWS)


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def _solve_side(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision, prior_shift, out,
               n_chunks):
    """Solve every row of one side with the other side fixed.

    ``fixed`` is the other side's factors ``q`` (n_other x k, not augmented: the constant-1
    column that carries the other side's bias is handled implicitly); ``out`` receives
    ``[p, b]`` per row. The normal equations of row u, with ``y_i = [q_i, 1]`` and
    ``t_i = r_ui - mu - b_i``, are ``(sum y_i y_i^T + reg n_u I + P) x = sum t_i y_i + s``:
    ``prior_precision`` P ((k+1) x (k+1)) and ``prior_shift`` s (k+1) are a Gaussian prior
    (not scaled by the row count, unlike the ALS-WR penalty); pass zeros for plain ALS-WR.
    Only the lower triangle of the Gram matrix is used. Its factor block ``sum q_i q_i^T`` is
    accumulated by a loop over the lower triangle for rows with at most ``LOOP_GRAM_MAX``
    observations, and by BLAS sgemm on gathered blocks of ``GATHER_ROWS`` observations
    otherwise; the bias row ``sum q_i``, the count and the right-hand side are accumulated while
    gathering. Rows with no observation get zero factors. Rows are dealt round-robin to
    ``n_chunks`` parallel tasks, each with its own scratch buffers; a row's result depends on
    that row's data only (the same ``_solve_rows`` code runs it whichever task or thread gets
    it), so it does not depend on the number of threads.
    """
    k = fixed.shape[1]
    gather_rows = _gather_rows(indptr)
    for c in prange(n_chunks):
        g = np.empty((gather_rows, k), dtype=np.float32)
        a = np.empty((k + 1, k + 1), dtype=np.float32)
        b = np.empty(k + 1, dtype=np.float32)
        _solve_rows(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision,
                    prior_shift, out, c, n_chunks, g, a, b)


@njit(cache=True)
def _solve_side_serial(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision,
                       prior_shift, out):
    """``_solve_side`` without a parallel region, for a handful of rows (fold-in): waking the
    thread pool costs more than the solve, and far more on a loaded machine."""
    k = fixed.shape[1]
    g = np.empty((_gather_rows(indptr), k), dtype=np.float32)
    a = np.empty((k + 1, k + 1), dtype=np.float32)
    b = np.empty(k + 1, dtype=np.float32)
    _solve_rows(indptr, indices, data, fixed, fixed_bias, mu, reg, prior_precision, prior_shift,
                out, 0, 1, g, a, b)


def solve_side(indptr, indices, data, fixed_factors, fixed_bias, mu, reg, prior=None):
    """Solve ``[factors, bias]`` for every row of a CSR (rows = the side being solved).

    ``fixed_factors`` / ``fixed_bias`` belong to the other side, indexed by ``indices``.
    ``prior`` is an optional ``(precision, shift)`` pair (see ``_solve_side``).
    """
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    n_rows = len(indptr) - 1
    k1 = fixed_factors.shape[1] + 1
    precision, shift = prior if prior is not None else (np.zeros((k1, k1), np.float32),
                                                        np.zeros(k1, np.float32))
    out = np.empty((n_rows, k1), dtype=np.float32)
    args = (indptr, np.ascontiguousarray(indices, dtype=np.int32),
            np.ascontiguousarray(data, dtype=np.float32),
            np.ascontiguousarray(fixed_factors, dtype=np.float32),
            np.ascontiguousarray(fixed_bias, dtype=np.float32), np.float32(mu), np.float32(reg),
            np.ascontiguousarray(precision, dtype=np.float32),
            np.ascontiguousarray(shift, dtype=np.float32), out)
    longest = int(np.max(indptr[1:] - indptr[:-1])) if n_rows else 0
    run_rows(_solve_side, _solve_side_serial, args, n_rows=n_rows, longest=longest)
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
