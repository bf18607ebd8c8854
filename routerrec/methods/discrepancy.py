"""How far a model's accuracy on a benchmark strays from what the factors predict.

A new LLM's accuracy estimate (``routerrec.coldstart``) is its probe answers plus the
predicted scores of the unseen items. Even with its row known exactly, a real model's
accuracy on a benchmark differs from the factors' prediction by a model-level amount the
low-rank fit does not capture; answer noise averages out over a benchmark's items, this
does not. Its variance per benchmark, the *discrepancy*, is the prior variance of that
offset: cold start estimates the offset from the probes in the benchmark and adds what
remains of the variance to the intervals for the benchmark's unseen share
(``coldstart.design``).

It is measured on the trained models, leave-one-model-out without refits: the residual a
cell would have had if its model had not helped fit the prompt's row is
``y - link(eta - s (y - p) / (1 - w s))`` (``s = y_j^T A_i^-1 y_j`` the model's leverage on
prompt ``i``'s row, ``A_i`` that row's penalised Gram matrix, ``w`` the link's weight: 1, or
``p(1-p)`` for the logistic link; Sherman-Morrison, one Newton step for the logistic link).
In-sample residuals would say nothing with 5-25 models, where the prompt rows fit the few
training models almost exactly. Per benchmark, the mean over a model's items of these
residuals, squared, minus its expected answer noise, averaged over models, is the
discrepancy (floored at 0).
"""
from __future__ import annotations

import numpy as np

from ..data.records import UNKNOWN_BENCHMARK
from ..kernels.linalg import blas_one_thread

__all__ = ["benchmark_discrepancy", "MAX_CALIBRATION_MODELS"]

MAX_CALIBRATION_MODELS = 200  # a seeded sample of the trained models above this many
_MAX_LEVERAGE = 0.95  # a cell that alone fixes its prompt's row says nothing reliable


def benchmark_discrepancy(model, scores, *, seed: int = 0) -> dict | None:
    """``{"overall": v, "benchmarks": {name: v}}`` (score units squared) for a fitted
    factor ``model`` and its training ``scores`` (prompts x models, CSR); None for a link
    without cold-start intervals (identity without a noise variance)."""
    if model.link == "identity" and model.noise_var is None:
        return None
    with blas_one_thread():  # ~1,000s of tiny solves: threaded BLAS only adds contention
        return _discrepancy(model, scores, seed)


def _discrepancy(model, scores, seed):
    logistic = model.link == "logistic"
    n_prompts, n_models = scores.shape
    rng = np.random.default_rng(seed)
    chosen = (np.arange(n_models) if n_models <= MAX_CALIBRATION_MODELS
              else np.sort(rng.choice(n_models, MAX_CALIBRATION_MODELS, replace=False)))
    slot = np.full(n_models, -1)
    slot[chosen] = np.arange(len(chosen))
    labels = [b if b is not None else UNKNOWN_BENCHMARK for b in model.prompt_benchmark]
    names = sorted(set(labels))
    group = np.array([names.index(b) for b in labels])
    n_groups = len(names) + 1  # the last one is "overall"
    resid_sum = np.zeros((len(chosen), n_groups))
    noise_sum = np.zeros((len(chosen), n_groups))
    count = np.zeros((len(chosen), n_groups))
    Q = np.column_stack([model.model_factors, np.ones(n_models)]).astype(np.float64)
    k1 = Q.shape[1]
    penalty = (model.side_prior("prompt", 1.0)[0].astype(np.float64) if logistic else None)
    if penalty is None and logistic:  # too few prompts for a prompt-side population prior
        penalty = model.params["reg"] * np.eye(k1)
    csr = scores.tocsr()
    reg = model.params.get("reg", 0.0)
    bounded = model.score_range == (0.0, 1.0)
    for i in range(n_prompts):
        cols = csr.indices[csr.indptr[i]:csr.indptr[i + 1]]
        keep = slot[cols] >= 0
        if not keep.any():
            continue
        yk = csr.data[csr.indptr[i]:csr.indptr[i + 1]][keep].astype(np.float64)
        qk = Q[cols[keep]]
        ek = (model.global_mean + model.prompt_bias[i] + model.model_bias[cols[keep]]
              + qk[:, :-1] @ model.prompt_factors[i])
        pk = 1 / (1 + np.exp(-ek)) if logistic else ek
        wk = pk * (1 - pk) if logistic else np.ones_like(pk)
        pen = penalty if logistic else reg * cols.size * np.eye(k1)  # ALS-WR's reg * n
        # the row's Gram matrix from the sampled models' cells, scaled to all of its cells
        A = (qk * wk[:, None]).T @ qk * (cols.size / keep.sum()) + pen
        s = np.einsum("jk,jk->j", qk, np.linalg.solve(A, qk.T).T)
        s = np.minimum(s, _MAX_LEVERAGE / np.maximum(wk, 1e-12))
        eta_out = ek - s * (yk - pk) / (1 - wk * s)
        p_out = 1 / (1 + np.exp(-eta_out)) if logistic else eta_out
        if model.clip is not None:
            p_out = np.clip(p_out, *model.clip)
        if bounded:
            inside = np.clip(p_out, 0, 1)
            noise = inside * (1 - inside)
        else:
            noise = np.full_like(p_out, model.noise_var or 0.0)
        rows = slot[cols[keep]]
        for g in (group[i], n_groups - 1):
            np.add.at(resid_sum[:, g], rows, yk - p_out)
            np.add.at(noise_sum[:, g], rows, noise)
            np.add.at(count[:, g], rows, 1.0)
    has = count > 0
    n = np.maximum(count, 1)
    excess = np.where(has, (resid_sum / n) ** 2 - noise_sum / n ** 2, np.nan)
    with np.errstate(invalid="ignore"):
        value = np.maximum(np.nanmean(np.where(has.any(0), excess, 0.0), axis=0), 0.0)
    return {"overall": float(value[-1]),
            "benchmarks": {name: float(value[g]) for g, name in enumerate(names)}}
