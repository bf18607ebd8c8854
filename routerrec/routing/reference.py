"""Reference routers: they read the truth of the prompts they route (``oracle``,
``oracle-p`` = RouterEval's r_o(p)) or only training means (``best-single``, ``random``), and
are the yardsticks every evaluation reports next to the learned routers."""
from __future__ import annotations

import numpy as np

from .base import Router, dense_observed, register_router, true_matrices

__all__ = ["ReferenceRouter", "OracleRouter", "RandomRouter", "BestSingleRouter", "OraclePRouter"]


class ReferenceRouter(Router):
    """Reference routers ignore ``wtp``: each is one point on a cost-quality plot."""

    reference = True

    def _fit(self, records, m):
        dense, mask = dense_observed(m)
        self.train_means_ = dense.mean(axis=0)

    def choose(self, scores, costs, *, wtp=None, max_cost=None):
        return super().choose(scores, costs, wtp=None, max_cost=max_cost)

    def predict_records(self, records, *, models=None):
        return self.predict(records.prompts, models=models)

    def predict_cost_records(self, records, *, models=None):
        return self.predict_cost(records.text_of(records.prompts), models=models)

    def _state(self):
        return {}, {"train_means": self.train_means_}

    def _set_state(self, extra, arrays, directory):
        self.train_means_ = arrays["train_means"]


@register_router
class OracleRouter(ReferenceRouter):
    """Best true score, cheapest (true cost) on ties; unobserved cells are never chosen."""

    name = "oracle"

    def _scores(self, texts):
        raise NotImplementedError("the oracle needs the true scores: use predict_records(records)")

    def predict_records(self, records, *, models=None):
        return true_matrices(records, self.candidates(models))[0]

    def predict_cost_records(self, records, *, models=None):
        cost = true_matrices(records, self.candidates(models))[1]
        guess = super().predict_cost_records(records, models=models)
        return np.where(np.isnan(cost), guess, cost)


@register_router
class RandomRouter(ReferenceRouter):
    """A uniformly random candidate per prompt (seeded, the same draw on every call)."""

    name = "random"

    def _scores(self, texts):
        return np.random.default_rng(self.seed).random((len(texts), len(self.models_)))



@register_router
class BestSingleRouter(ReferenceRouter):
    """The candidate with the best mean score on the training records, for every prompt."""

    name = "best-single"

    def _scores(self, texts):
        return np.broadcast_to(self.train_means_, (len(texts), len(self.models_)))


@register_router
class OraclePRouter(OracleRouter):
    """RouterEval's r_o(p): the oracle's pick with probability ``p``, else a random candidate."""

    name = "oracle-p"

    def __init__(self, *, p: float = 0.5, cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = p

    def route_records(self, records, *, models=None, wtp=None, max_cost=None):
        oracle = super().route_records(records, models=models, max_cost=max_cost)
        names = self.candidates(models)
        rng = np.random.default_rng(self.seed)
        use_oracle = rng.random(len(oracle)) < self.p
        pick = rng.integers(len(names), size=len(oracle))
        return [o if u else names[r] for o, u, r in zip(oracle, use_oracle, pick)]
