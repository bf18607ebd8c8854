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
Training uses ``P = reg * I, s = 0``; fold-in uses a side's population prior.

The Hessian's factor block is built as ALS builds its Gram matrix (``kernels.als``): rows
with more than ``LOOP_GRAM_MAX`` cells gather ``sqrt(w_i) q_i`` into float32 blocks and
call BLAS (held to one thread) for ``sum w_i q_i q_i'``; the bias row, the gradient, the
prior and the Cholesky solve stay in float64 (a learned prior's precision can span many
orders of magnitude). A row's linear predictors are kept through its Newton steps, so the
step-halving line search costs O(cells) per trial, not O(cells x rank). Rows are
independent and each row's arithmetic depends on its own data only, so results do not
depend on the thread count.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .linalg import FASTMATH, GATHER_ROWS, LOOP_GRAM_MAX, cholesky_solve, run_rows

__all__ = ["solve_logistic_side", "logistic_row_map", "logistic_sweeps"]

_MAX_HALVINGS = 30
_LOG_BLOCK = 512  # cells per product of (1 + exp(-|eta|)) factors: <= 2**512
_MIN_ROWS_PER_DIM = 10  # rows per unknown before a side's prior covariance is learned


@njit(cache=True, fastmath=FASTMATH)
def _objective(x, d, t, eta, z, n, data, start, precision, shift, scale, prob):
    """Log-posterior of a row at ``x + t d`` (up to a constant), given its cells' linear
    predictors ``eta`` at ``x`` and their change ``z`` per unit of ``d``; prior scaled by
    ``scale``. Writes the cells' probabilities there to ``prob``. The Bernoulli loss is
    ``softplus(e) - s e = max(e, 0) - s e + log(1 + exp(-|e|))``: one exp per cell gives
    the probability and the loss, whose logs are summed as the log of products over blocks
    of ``_LOG_BLOCK`` cells (each factor lies in (1, 2], so a block cannot overflow) -- the
    transcendental calls, not the rank, dominate a half-sweep's cost."""
    f = 0.0
    for b0 in range(0, n, _LOG_BLOCK):
        product = 1.0
        for j in range(b0, min(n, b0 + _LOG_BLOCK)):
            e = eta[j] + t * z[j]
            small = math.exp(-abs(e))
            f += data[start + j] * e - max(e, 0.0)
            product *= 1.0 + small
            prob[j] = (1.0 if e >= 0.0 else small) / (1.0 + small)  # a select, no branch
        f -= math.log(product)
    k1 = x.shape[0]
    for r in range(k1):
        xr = x[r] + t * d[r]
        px = 0.0
        for c in range(k1):
            px += precision[r, c] * (x[c] + t * d[c])
        f += scale * (shift[r] * xr - 0.5 * xr * px)
    return f


@njit(cache=True, fastmath=FASTMATH)
def _gradient_hessian(x, prob, n, start, indices, data, fixed, precision, shift, scale, a, g,
                      gather):
    """Gradient ``g`` and negative Hessian ``a`` (lower triangle) of a row's log-posterior
    at ``x``, whose cells' probabilities are ``prob``."""
    k = fixed.shape[1]
    k1 = k + 1
    for r in range(k1):
        s = shift[r]
        for c in range(k1):
            s -= precision[r, c] * x[c]
        g[r] = scale * s
        for c in range(r + 1):
            a[r, c] = scale * precision[r, c]
    ak = a[k]
    if n <= LOOP_GRAM_MAX:
        for j in range(n):
            y = fixed[indices[start + j]]
            p = prob[j]
            w = max(p * (1.0 - p), 1e-12)
            e = data[start + j] - p
            for r in range(k):
                wy = w * y[r]
                ar = a[r]
                for c in range(r + 1):
                    ar[c] += wy * y[c]
                g[r] += e * y[r]
                ak[r] += wy
            g[k] += e
            ak[k] += w
        return
    for b0 in range(0, n, GATHER_ROWS):
        m = min(n - b0, GATHER_ROWS)
        for j in range(m):
            y = fixed[indices[start + b0 + j]]
            p = prob[b0 + j]
            w = max(p * (1.0 - p), 1e-12)
            e = data[start + b0 + j] - p
            sw = math.sqrt(w)
            gj = gather[j]
            for r in range(k):
                gj[r] = sw * y[r]
                g[r] += e * y[r]
                ak[r] += w * y[r]
            g[k] += e
            ak[k] += w
        gm = gather[:m]
        block = np.dot(gm.T, gm)
        for r in range(k):
            ar = a[r]
            br = block[r]
            for c in range(r + 1):
                ar[c] += br[c]


@njit(cache=True, fastmath=FASTMATH)
def _newton_rows(indptr, indices, data, fixed, fixed_bias, mu, precision, shift, x_all, steps,
                 count_scaled, hess_out, first, stride, a, g, x, gather, eta, z, prob, trial):
    """Damped Newton steps for rows ``first, first + stride, ...``, in place on ``x_all``
    (warm start), with this task's scratch buffers."""
    n_rows = indptr.shape[0] - 1
    k = fixed.shape[1]
    k1 = k + 1
    want_hessian = hess_out.shape[0] == n_rows
    for u in range(first, n_rows, stride):
        start, stop = indptr[u], indptr[u + 1]
        n = stop - start
        scale = max(n, 1) if count_scaled else 1.0
        for r in range(k1):
            x[r] = x_all[u, r]
            g[r] = 0.0
        for j in range(n):
            i = indices[start + j]
            y = fixed[i]
            e = mu + fixed_bias[i] + x[k]
            for r in range(k):
                e += x[r] * y[r]
            eta[j] = e
            z[j] = 0.0
        f_old = _objective(x, g, 0.0, eta, z, n, data, start, precision, shift, scale, prob)
        for _ in range(steps):
            _gradient_hessian(x, prob, n, start, indices, data, fixed, precision, shift, scale,
                              a, g, gather)
            cholesky_solve(a, g)  # g <- Newton direction d
            for j in range(n):
                y = fixed[indices[start + j]]
                e = g[k]
                for r in range(k):
                    e += g[r] * y[r]
                z[j] = e
            t = 1.0
            accepted = False
            for _h in range(_MAX_HALVINGS):
                f_new = _objective(x, g, t, eta, z, n, data, start, precision, shift, scale,
                                   trial)
                if f_new >= f_old:
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                break
            converged = f_new - f_old <= 1e-10 * (1.0 + abs(f_old))
            for r in range(k1):
                x[r] += t * g[r]
            for j in range(n):
                eta[j] += t * z[j]
                prob[j] = trial[j]
            f_old = f_new
            if converged:
                break
        for r in range(k1):
            x_all[u, r] = x[r]
        if want_hessian:
            _gradient_hessian(x, prob, n, start, indices, data, fixed, precision, shift, scale,
                              a, g, gather)
            for r in range(k1):
                for c in range(r + 1):
                    hess_out[u, r, c] = a[r, c]
                    hess_out[u, c, r] = a[r, c]


@njit(cache=True)
def _scratch(k, max_len):
    """One task's buffers: Hessian, gradient/direction, row, gather block, and per cell the
    linear predictor, its change along the direction, the probability and a trial's."""
    return (np.empty((k + 1, k + 1)), np.empty(k + 1), np.empty(k + 1),
            np.empty((min(max_len, GATHER_ROWS), k), dtype=np.float32),
            np.empty(max_len), np.empty(max_len), np.empty(max_len), np.empty(max_len))


@njit(cache=True, parallel=True)
def _logistic_side(indptr, indices, data, fixed, fixed_bias, mu, precision, shift, x_all,
                   steps, count_scaled, hess_out, n_chunks, max_len):
    """Every row of one side: rows dealt round-robin to ``n_chunks`` parallel tasks, each
    with its own scratch (a row's result does not depend on which task runs it).

    With ``count_scaled`` the prior of a row with n cells is ``(n P, n s)`` (ALS-WR's
    weighting, which keeps rows of very different lengths equally regularised). When
    ``hess_out`` has a row per row, it receives each row's negative Hessian at the result
    (its Laplace posterior precision)."""
    for c in prange(n_chunks):
        _newton_rows(indptr, indices, data, fixed, fixed_bias, mu, precision, shift, x_all,
                     steps, count_scaled, hess_out, c, n_chunks,
                     *_scratch(fixed.shape[1], max_len))


@njit(cache=True)
def _logistic_side_serial(indptr, indices, data, fixed, fixed_bias, mu, precision, shift,
                          x_all, steps, count_scaled, hess_out, max_len):
    """``_logistic_side`` without a parallel region, for a handful of rows (fold-in)."""
    _newton_rows(indptr, indices, data, fixed, fixed_bias, mu, precision, shift, x_all, steps,
                 count_scaled, hess_out, 0, 1, *_scratch(fixed.shape[1], max_len))


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
    if x_all.shape != (n_rows, k1):
        raise ValueError(f"start has shape {x_all.shape}; the CSR and the fixed side's rank "
                         f"need {(n_rows, k1)}")
    hess = np.zeros((n_rows if hessians else 0, k1, k1), dtype=np.float64)
    max_len = max(1, int(np.max(np.diff(indptr)))) if n_rows else 1
    args = (indptr, np.ascontiguousarray(indices, dtype=np.int32),
            np.ascontiguousarray(data, dtype=np.float64),
            np.ascontiguousarray(fixed_factors, dtype=np.float32),
            np.ascontiguousarray(fixed_bias, dtype=np.float64), float(mu),
            np.ascontiguousarray(precision, dtype=np.float64),
            np.ascontiguousarray(shift, dtype=np.float64), x_all, int(steps),
            bool(count_scaled), hess)
    run_rows(_logistic_side, _logistic_side_serial, args, n_rows=n_rows, longest=max_len,
             tail=(max_len,))
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
    per model). ``callback(iteration, mu, prompt_aug, model_aug)`` after each sweep.
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
            callback(it, mu, prompt_aug, model_aug)
    return mu, prompt_aug, model_aug
