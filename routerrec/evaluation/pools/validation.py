"""Validated routers of the pool sweep: a learned router that falls back to the best single
model on pools where routing does not help.

"<router>+val": the learned router, checked per pool on the validation prompts (see
``validated_weight``); it shares the base router's single fit. "<router>+valpool": the
same check made once per (benchmark, pool size m, seed) on the validation prompts of all
that setting's pools (every group and draw) together: more evidence per decision, one
decision for pools that differ only by group. "<router>+cv": the per-pool check made on
out-of-fold predictions for the training prompts (``CV_FOLDS`` refits on the other folds,
each fold compared with the best single model of the other folds) and the validation
prompts together: about nine times the evidence of "+val", at ``CV_FOLDS`` extra fits.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .selection import stable_hash

__all__ = ["VALIDATED", "VALIDATED_POOLED", "CROSS_VALIDATED", "CV_FOLDS", "VAL_WEIGHTS",
           "split_name", "validated_weight", "out_of_fold"]

VALIDATED = "+val"
VALIDATED_POOLED = "+valpool"
CROSS_VALIDATED = "+cv"
CV_FOLDS = 5
# Weights on best-single that "+val" routers choose from on validation prompts: 0 = the
# learned router, 1 = best single (fallback). Ties go to the larger weight.
VAL_WEIGHTS = (0.0, 1.0)


def split_name(name: str) -> tuple:
    """``(base router, validation suffix or "")`` of a sweep router name."""
    for suffix in (VALIDATED_POOLED, VALIDATED, CROSS_VALIDATED):
        if name.endswith(suffix):
            return name[:-len(suffix)], suffix
    return name, ""


def _mu(truth: np.ndarray, scores: np.ndarray) -> float:
    return float(truth[np.arange(len(truth)), np.argmax(scores, axis=1)].mean())


def validated_weight(val_truth, val_pred, train_mean, *,
                     weights: Sequence[float] = VAL_WEIGHTS) -> float:
    """The weight w on best-single whose blend ``(1 - w) * pred + w * train_mean`` picks the
    best models on the validation prompts (highest mu; ties go to the larger w).

    With the default weights (0, 1) this is a fallback: the learned router is used on a pool
    only if it beats the best single model on the pool's validation prompts. Lists of
    arrays choose one w for all the parts by their mu over all their prompts: one part per
    pool (``+valpool``) or per cross-validation fold (``+cv``, each fold with its own
    ``train_mean``).
    """
    parts = (list(zip(val_truth, val_pred, train_mean)) if isinstance(val_truth, list)
             else [(val_truth, val_pred, train_mean)])
    parts = [p for p in parts if len(p[0])]
    best_w, best_mu = 1.0, -np.inf
    if not parts:  # nothing to check routing on: keep the best single model
        return best_w
    for w in sorted(weights, reverse=True):
        mu = np.average([_mu(t, (1 - w) * pr + w * tm[None, :]) for t, pr, tm in parts],
                        weights=[len(t) for t, *_ in parts])
        if mu > best_mu + 1e-9:
            best_w, best_mu = float(w), mu
    return best_w


def out_of_fold(train, train_dense, eligible, name, params, *, seed, timing,
                folds=CV_FOLDS) -> list:
    """``[(truth, prediction, best-single means)]`` per fold of ``train``'s prompts.

    Each fold's prompts are predicted by router ``name`` refitted on the other folds, and
    paired with the training means of the other folds, so the router and best-single are
    compared on prompts neither has seen (the ``+cv`` check). ``train_dense`` is ``train``'s
    truth for ``eligible`` (rows in ``train.prompts`` order), sliced rather than rebuilt.
    """
    from ...routing.registry import make_router

    prompts = np.asarray(train.prompts, dtype=object)
    order = np.random.default_rng([seed, stable_hash(name), folds]).permutation(len(prompts))
    parts = []
    for fold in np.array_split(order, folds):
        if len(fold) == 0:
            continue
        held_rows = np.sort(fold)
        rest_rows = np.setdiff1d(np.arange(len(prompts)), held_rows)
        held = train.filter(prompts=prompts[held_rows].tolist())
        t0 = time.perf_counter()
        router = make_router(name, **params).fit(train.filter(prompts=prompts[rest_rows].tolist()))
        timing["cv_fit_seconds"] += time.perf_counter() - t0
        parts.append((train_dense[held_rows],
                      np.asarray(router.predict_records(held, models=eligible), np.float32),
                      train_dense[rest_rows].mean(axis=0)))
    return parts
