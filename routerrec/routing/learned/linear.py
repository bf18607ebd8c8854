"""The ``linear`` router: one ridge regression per model on prompt features (RouterEval's
LinearR)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import dense_observed, register_router
from ...util.validate import reals
from .base import LearnedRouter
from .ridge import ALPHAS, fit_ridge, select_alpha

__all__ = ["LinearRouter"]


@register_router
class LinearRouter(LearnedRouter):
    """One ridge regression per model on prompt features (RouterEval's LinearR).

    Unobserved training cells are filled with the model's mean; ``alpha`` is chosen from
    ``alphas`` on 20% of the training prompts. Predictions are clipped to the score range.
    """

    name = "linear"
    tuned_attributes = ("alpha_",)
    dense_training = True

    def __init__(self, *, alphas: Sequence[float] = ALPHAS, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.alphas = alphas

    def _fit_features(self, x, m, records):
        dense, mask = dense_observed(m)
        self.clip_ = (float(m.scores.data.min()), float(m.scores.data.max()))

        def error(val_rows, pred):
            pred = np.clip(pred, *self.clip_)
            return float(np.mean((pred - dense[val_rows])[mask[val_rows]] ** 2))

        x = x.astype(np.float64)
        self.alpha_, self.validation_ = select_alpha(x, dense, list(self.alphas), error, self.seed)
        w, b = fit_ridge(x, dense, self.alpha_)
        self.weights_, self.bias_ = w.astype(np.float32), b.astype(np.float32)

    def _predict_features(self, x):
        return np.clip(x @ self.weights_ + self.bias_, *self.clip_)

    def _model_state(self):
        return ({"alpha_": self.alpha_, "clip_": list(self.clip_)},
                {"weights": self.weights_, "bias": self.bias_})

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        return {"weights": ("features", n_models), "bias": (n_models,)}

    def _set_model_state(self, extra, arrays, directory):
        low, high = reals("clip_", extra["clip_"], length=2)
        if low > high:
            raise ValueError(f"clip_ must be a range (low <= high), got {extra['clip_']!r}")
        self.alpha_, self.clip_ = extra["alpha_"], (float(low), float(high))
        self.weights_, self.bias_ = arrays["weights"], arrays["bias"]
