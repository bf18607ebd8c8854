"""Biased matrix factorisation by stochastic gradient descent (Funk SVD), numba kernels.

Same objective family as ALS (squared error on observed cells, L2 on factors and biases,
here not scaled by counts) and the same ``Model``; fold-in is the ridge solve every
identity-link model shares. SGD's order of updates decides its result: the default
``deterministic=True`` runs one thread over a seeded shuffle, so the same seed gives
the same model; ``deterministic=False`` runs Hogwild-style lock-free updates on every
numba thread, faster but not reproducible.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ..util.progress import progress_bar
from .als import training_residual_var
from .model import Model
from .registry import FLAG, SEED, count, factor_memory, number, register_method

__all__ = ["fit", "DEFAULTS", "PARAMS"]

DEFAULTS = dict(rank=32, reg=0.02, lr=0.01, iterations=40, seed=0, deterministic=True)
PARAMS = dict(rank=count(1), reg=number(0), lr=number(0, 1, low_open=True, high_open=True),
              iterations=count(1), seed=SEED, deterministic=FLAG)


@njit(cache=True, inline="always")
def _step(t, rows, cols, vals, mu, P, Q, bp, bq, lr, reg):
    u, i = rows[t], cols[t]
    pu, qi = P[u], Q[i]
    pred = mu + bp[u] + bq[i]
    for r in range(pu.shape[0]):
        pred += pu[r] * qi[r]
    e = vals[t] - pred
    bp[u] += lr * (e - reg * bp[u])
    bq[i] += lr * (e - reg * bq[i])
    for r in range(pu.shape[0]):
        a, b = pu[r], qi[r]
        pu[r] = a + lr * (e * b - reg * a)
        qi[r] = b + lr * (e * a - reg * b)


@njit(cache=True)
def _epoch_serial(order, rows, cols, vals, mu, P, Q, bp, bq, lr, reg):
    for t in order:
        _step(t, rows, cols, vals, mu, P, Q, bp, bq, lr, reg)


@njit(cache=True, parallel=True)
def _epoch_hogwild(order, rows, cols, vals, mu, P, Q, bp, bq, lr, reg, n_chunks):
    n = order.shape[0]
    for c in prange(n_chunks):
        for j in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _step(order[j], rows, cols, vals, mu, P, Q, bp, bq, lr, reg)


@register_method("sgd", params=PARAMS, memory=factor_memory(row_solves=False))
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        lr: float = DEFAULTS["lr"], iterations: int = DEFAULTS["iterations"],
        seed: int = DEFAULTS["seed"], deterministic: bool = DEFAULTS["deterministic"],
        progress: bool = False) -> Model:
    """Fit biased MF by SGD: ``iterations`` epochs over the observed cells, each shuffled."""
    m = records.matrix()
    coo = m.scores.tocoo()
    rows, cols = coo.row.astype(np.int32), coo.col.astype(np.int32)
    vals = coo.data.astype(np.float32)
    mu = np.float32(vals.mean()) if len(vals) else np.float32(0.0)
    rng = np.random.default_rng(seed)
    P = rng.normal(0, 0.1, (len(m.prompts), rank)).astype(np.float32)
    Q = rng.normal(0, 0.1, (len(m.models), rank)).astype(np.float32)
    bp = np.zeros(len(m.prompts), np.float32)
    bq = np.zeros(len(m.models), np.float32)
    args = (rows, cols, vals, mu, P, Q, bp, bq, np.float32(lr), np.float32(reg))
    with progress_bar(iterations, "SGD epochs", enabled=progress) as bar:
        for _ in range(iterations):
            order = rng.permutation(len(vals)).astype(np.int64)
            if deterministic:
                _epoch_serial(order, *args)
            else:
                _epoch_hogwild(order, *args, numba.get_num_threads())
            bar.update(1)
    model = Model(method="sgd", params=dict(rank=rank, reg=reg, lr=lr, iterations=iterations,
                                            seed=seed, deterministic=deterministic),
                  prompts=m.prompts, models=m.models, global_mean=float(mu),
                  prompt_bias=bp, model_bias=bq, prompt_factors=P, model_factors=Q,
                  clip=(float(vals.min()), float(vals.max())) if len(vals) else None)
    model.noise_var = training_residual_var(model, m.scores)
    return model
