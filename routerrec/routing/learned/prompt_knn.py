"""The ``knn`` router: the mean observed score of the most similar *training prompts* (cosine
on prompt features). Not the ``knn`` completion method (``routerrec.methods.knn``), which
compares models or prompts by their observed scores and cannot score an unseen prompt."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import dense_observed, register_router
from ...util.validate import integer
from .base import LearnedRouter
from .ridge import validation_rows

__all__ = ["PromptKNNRouter"]


@register_router
class PromptKNNRouter(LearnedRouter):
    """Mean observed score of the ``k`` most similar training prompts (cosine).

    The RouterBench / RouterEval baseline. ``k`` is chosen from ``ks`` on 20% of the training
    prompts (neighbours searched among the other 80%), so the baseline is tuned, not strawmanned.
    """

    name = "knn"
    tuned_attributes = ("k_",)
    dense_training = True

    def __init__(self, *, ks: Sequence[int] = (5, 10, 20, 40, 80), encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.ks = ks

    def _fit_features(self, x, m, records):
        dense, mask = dense_observed(m)
        self.train_x_ = x.astype(np.float32)
        self.train_sum_ = np.where(mask, dense, 0.0).astype(np.float32)
        self.train_count_ = mask.astype(np.float32)
        self.fallback_ = dense.mean(axis=0).astype(np.float32)
        val = validation_rows(len(x), self.seed)
        ks = [k for k in self.ks if k <= max(1, (~val).sum())] or [1]
        errors = {}
        for k in ks:
            pred = _neighbour_means(x[val], x[~val], self.train_sum_[~val],
                                    self.train_count_[~val], self.fallback_, k)
            errors[k] = float(np.mean((pred - dense[val])[mask[val]] ** 2))
        self.k_ = min(errors, key=errors.get)
        self.validation_ = errors

    def _predict_features(self, x):
        return _neighbour_means(x, self.train_x_, self.train_sum_, self.train_count_,
                                self.fallback_, min(self.k_, len(self.train_x_)))

    def _model_state(self):
        return ({"k_": self.k_}, {"train_x": self.train_x_, "train_sum": self.train_sum_,
                                  "train_count": self.train_count_, "fallback": self.fallback_})

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        return {"train_x": ("train", "features"), "train_sum": ("train", n_models),
                "train_count": ("train", n_models), "fallback": (n_models,)}

    def _set_model_state(self, extra, arrays, directory):
        self.k_ = integer("k_", extra["k_"], low=1)
        self.train_x_, self.train_sum_ = arrays["train_x"], arrays["train_sum"]
        self.train_count_, self.fallback_ = arrays["train_count"], arrays["fallback"]


def _neighbour_means(q, x, sums, counts, fallback, k, chunk=2048):
    """Per query row of ``q``: observed-score means over its ``k`` most similar rows of ``x``
    (each model's ``fallback`` where none of them observed it), in chunks to bound memory."""
    out = np.empty((len(q), sums.shape[1]), dtype=np.float32)
    k = min(k, len(x))
    for s in range(0, len(q), chunk):
        sims = q[s:s + chunk] @ x.T
        nbrs = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(x) else \
            np.broadcast_to(np.arange(len(x)), (len(sims), len(x)))
        num = sums[nbrs].sum(axis=1)
        den = counts[nbrs].sum(axis=1)
        out[s:s + chunk] = np.where(den > 0, num / np.maximum(den, 1), fallback[None, :])
    return out
