"""Logistic matrix factorisation (a multidimensional IRT model): the numba kernels.

Model, over observed cells (u, i) only, with scores s_ui in [0, 1]::

    P(correct) = sigma(eta_ui),   eta_ui = mu + b_u + b_i + p_u . q_i

Each half-sweep maximises, for every row of one side with the other side fixed, the
Bernoulli log-likelihood of the row's cells (graded scores enter as soft labels) plus a
Gaussian log-prior on the row's unknowns ``x = [p_u, b_u]``::

    sum_i [s_ui log sigma(eta_ui) + (1 - s_ui) log(1 - sigma(eta_ui))] - 1/2 x'Px + x's

by damped Newton steps (IRLS): the Newton direction solves ``H d = g`` with the
log-posterior's Hessian ``H = sum_i w_i y_i y_i' + P`` (``w = sigma (1 - sigma)``,
``y_i = [q_i, 1]``), and the step is halved until the log-posterior does not decrease.
Every step therefore improves the objective, so a model that answers (almost) everything
right or wrong cannot diverge: its bias just stops where the prior balances the data.
Training uses ``P = reg * I, s = 0``; fold-in uses a side's population prior. Rows are
independent and each row's arithmetic depends on its own data only, so results do not
depend on the thread count.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from .als_kernel import _FASTMATH, _cholesky_solve

__all__ = ["solve_logistic_side", "logistic_row_map", "logistic_sweeps"]

_MAX_HALVINGS = 30
_MIN_ROWS_PER_DIM = 10  # rows per unknown before a side's prior covariance is learned


@njit(cache=True, inline="always")
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@njit(cache=True, fastmath=_FASTMATH)
def _row_objective(x, start, stop, indices, data, fixed, fixed_bias, mu, precision, shift, k,
                   scale):
    """Log-posterior of one row at ``x`` (up to a constant), prior scaled by ``scale``."""
    f = 0.0
    for jj in range(start, stop):
        i = indices[jj]
        eta = mu + fixed_bias[i] + x[k]
        y = fixed[i]
        for r in range(k):
            eta += x[r] * y[r]
        s = data[jj]
        f -= s * _softplus(-eta) + (1.0 - s) * _softplus(eta)
    for r in range(k + 1):
        px = 0.0
        for c in range(k + 1):
            px += precision[r, c] * x[c]
        f += scale * (shift[r] * x[r] - 0.5 * x[r] * px)
    return f


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _gradient_hessian(x, start, stop, indices, data, fixed, fixed_bias, mu, precision, shift,
                      k, scale, a, g):
    """Gradient ``g`` and negative Hessian ``a`` (lower triangle) of a row's log-posterior."""
    for r in range(k + 1):
        g[r] = shift[r]
        for cc in range(k + 1):
            g[r] -= precision[r, cc] * x[cc]
        g[r] *= scale
        for cc in range(r + 1):
            a[r, cc] = scale * precision[r, cc]
    for jj in range(start, stop):
        i = indices[jj]
        y = fixed[i]
        eta = mu + fixed_bias[i] + x[k]
        for r in range(k):
            eta += x[r] * y[r]
        p = 1.0 / (1.0 + math.exp(-eta))
        w = max(p * (1.0 - p), 1e-12)
        e = data[jj] - p
        for r in range(k):
            wy = w * y[r]
            ar = a[r]
            for cc in range(r + 1):
                ar[cc] += wy * y[cc]
            g[r] += e * y[r]
            a[k, r] += wy
        g[k] += e
        a[k, k] += w


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def _logistic_side(indptr, indices, data, fixed, fixed_bias, mu, precision, shift, x_all,
                   steps, count_scaled, hess_out, n_chunks):
    """Damped Newton steps for every row of one side, in place on ``x_all`` (warm start).

    With ``count_scaled`` the prior of a row with n cells is ``(n P, n s)`` (ALS-WR's
    weighting, which keeps rows of very different lengths equally regularised). When
    ``hess_out`` has a row per row, it receives each row's negative Hessian at the result
    (its Laplace posterior precision)."""
    n_rows = indptr.shape[0] - 1
    k = fixed.shape[1]
    k1 = k + 1
    want_hessian = hess_out.shape[0] == n_rows
    for c in prange(n_chunks):
        a = np.empty((k1, k1), dtype=np.float64)
        g = np.empty(k1, dtype=np.float64)
        x = np.empty(k1, dtype=np.float64)
        trial = np.empty(k1, dtype=np.float64)
        for u in range(c, n_rows, n_chunks):
            start, stop = indptr[u], indptr[u + 1]
            scale = max(stop - start, 1) if count_scaled else 1.0
            for r in range(k1):
                x[r] = x_all[u, r]
            f_old = _row_objective(x, start, stop, indices, data, fixed, fixed_bias, mu,
                                   precision, shift, k, scale)
            for _ in range(steps):
                _gradient_hessian(x, start, stop, indices, data, fixed, fixed_bias, mu,
                                  precision, shift, k, scale, a, g)
                _cholesky_solve(a, g)  # g <- Newton direction
                t = 1.0
                accepted = False
                for _h in range(_MAX_HALVINGS):
                    for r in range(k1):
                        trial[r] = x[r] + t * g[r]
                    f_new = _row_objective(trial, start, stop, indices, data, fixed,
                                           fixed_bias, mu, precision, shift, k, scale)
                    if f_new >= f_old:
                        accepted = True
                        break
                    t *= 0.5
                if not accepted:
                    break
                converged = f_new - f_old <= 1e-10 * (1.0 + abs(f_old))
                for r in range(k1):
                    x[r] = trial[r]
                f_old = f_new
                if converged:
                    break
            for r in range(k1):
                x_all[u, r] = x[r]
            if want_hessian:
                _gradient_hessian(x, start, stop, indices, data, fixed, fixed_bias, mu,
                                  precision, shift, k, scale, a, g)
                for r in range(k1):
                    for cc in range(r + 1):
                        hess_out[u, r, cc] = a[r, cc]
                        hess_out[u, cc, r] = a[r, cc]


def solve_logistic_side(indptr, indices, data, fixed_factors, fixed_bias, mu, precision,
                        shift, start, *, steps=1, count_scaled=False, hessians=False):
    """Newton-update ``start`` (n_rows x (k+1), ``[factors, bias]`` per row) for every row of
    a CSR whose columns index the fixed side. Returns the updated float32 rows and, with
    ``hessians``, every row's negative Hessian there (n_rows x (k+1) x (k+1), float64;
    an empty array otherwise)."""
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    n_rows = len(indptr) - 1
    k1 = fixed_factors.shape[1] + 1
    x_all = np.array(start, dtype=np.float64, order="C", copy=True)
    hess = np.zeros((n_rows if hessians else 0, k1, k1), dtype=np.float64)
    n_chunks = max(1, min(n_rows, 8 * numba.get_num_threads()))
    _logistic_side(indptr, np.ascontiguousarray(indices, dtype=np.int32),
                   np.ascontiguousarray(data, dtype=np.float64),
                   np.ascontiguousarray(fixed_factors, dtype=np.float64),
                   np.ascontiguousarray(fixed_bias, dtype=np.float64), float(mu),
                   np.ascontiguousarray(precision, dtype=np.float64),
                   np.ascontiguousarray(shift, dtype=np.float64), x_all, int(steps),
                   bool(count_scaled), hess, n_chunks)
    return x_all.astype(np.float32), hess


def logistic_row_map(fixed_factors, fixed_bias, mu, index, values, precision, shift, *,
                     steps=100):
    """MAP ``x = [factors, bias]`` of one new row from its observed ``values`` on the fixed
    side's rows ``index``, under the Gaussian prior ``(precision, shift)``; returns
    ``(x, hessian)``: the negative Hessian of the log-posterior at the MAP, i.e. the Laplace
    posterior precision (invert it for a covariance, e.g. for intervals)."""
    index = np.asarray(index, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    k1 = fixed_factors.shape[1] + 1
    x, hess = solve_logistic_side(np.array([0, len(index)]), index[order],
                                  np.asarray(values, dtype=np.float64)[order], fixed_factors,
                                  fixed_bias, mu, precision, shift, np.zeros((1, k1)),
                                  steps=steps, hessians=True)
    return x[0], hess[0]


def _learned_prior(aug):
    """Zero-mean Gaussian prior ``(precision, shift)`` re-estimated from a side's current
    rows: covariance = their second moment ``mean(x x')``.

    This is the MAP form of empirical Bayes (the point estimates stand in for the rows), so
    a latent direction the data barely support shrinks further every sweep and is pruned,
    as in automatic relevance determination; on planted and real data it predicted better
    than the Laplace-EM update ``mean(x x' + H^-1)``, which keeps such directions alive.
    Zero mean, not the rows' mean, because the likelihood cannot tell a prompt-bias shift
    from the opposite model-bias shift: a prior centred on the rows would let it drift.
    """
    x = aug.astype(np.float64)
    second = x.T @ x / len(x) + 1e-6 * np.eye(x.shape[1])
    return np.linalg.inv(second), np.zeros(x.shape[1])


def logistic_sweeps(scores, rank, reg, iterations, seed, *, warmup=4, steps=1, callback=None):
    """Fit (mu, prompt_aug, model_aug) on a prompts x models CSR of scores in [0, 1].

    The first ``warmup`` sweeps regularise every row by ``reg * n_row`` toward zero; later
    sweeps use each side's learned prior (empirical Bayes, ``_learned_prior``; a side with
    fewer than ``_MIN_ROWS_PER_DIM`` rows per unknown keeps the ridge), which learns how
    much the rows really vary along each direction instead of one ``reg`` for all. ``mu`` is the logit of the mean
    score and stays fixed; factors are returned augmented (``[p, b]`` per prompt, ``[q, b]``
    per model). ``callback(iteration)`` after each sweep.
    """
    csr = scores.tocsr()
    csc_t = csr.T.tocsr()
    mean = float(np.clip(csr.data.mean(), 1e-3, 1 - 1e-3)) if csr.nnz else 0.5
    mu = math.log(mean / (1 - mean))
    rng = np.random.default_rng(seed)
    k1 = rank + 1
    ridge = (reg * np.eye(k1), np.zeros(k1))
    model_aug = np.zeros((csr.shape[1], k1), dtype=np.float32)
    model_aug[:, :rank] = rng.normal(0.0, 0.1, size=(csr.shape[1], rank))
    prompt_aug = np.zeros((csr.shape[0], k1), dtype=np.float32)
    priors = {"prompt": None, "model": None}  # None: ridge reg * n
    for it in range(iterations):
        learn = it + 1 >= warmup  # the next sweep uses learned priors
        for side in ("prompt", "model"):
            m, fixed, own = ((csr, model_aug, prompt_aug) if side == "prompt"
                             else (csc_t, prompt_aug, model_aug))
            prior = priors[side]
            own, _ = solve_logistic_side(m.indptr, m.indices, m.data, fixed[:, :rank],
                                         fixed[:, rank], mu, *(prior or ridge), own,
                                         steps=steps, count_scaled=prior is None)
            if learn and len(own) >= _MIN_ROWS_PER_DIM * k1:
                priors[side] = _learned_prior(own)
            if side == "prompt":
                prompt_aug = own
            else:
                model_aug = own
        if callback is not None:
            callback(it)
    return mu, prompt_aug, model_aug
