"""The ``lightfm`` router: LightFM as a *hybrid* model whose prompts are described only by
their features, so it scores unseen prompts. Not the ``lightfm`` completion method
(``routerrec.methods.lightfm``), whose prompts have identity embeddings; both store graded
scores the same way (``weighted_cells``)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..base import register_router
from .base import LearnedRouter
from ...methods.lightfm import weighted_cells
from ...methods.registry import LINKS

__all__ = ["LightFMHybridRouter"]


@register_router
class LightFMHybridRouter(LearnedRouter):
    """LightFM (logistic loss) with prompt features as a hybrid router.

    Prompts are described only by their features plus a constant (so unseen prompts are
    scored like seen ones); models get identity features. Binary cells are +1/−1; a graded
    score s is stored twice, (+1, weight s) and (−1, weight 1 − s). Prediction uses the
    learned arrays directly (numpy), so a saved router does not need lightfm to load.
    """

    name = "lightfm"

    def __init__(self, *, rank: int = 16, epochs: int = 30, learning_rate: float = 0.05,
                 user_alpha: float = 1e-5, item_alpha: float = 1e-5, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.rank, self.epochs, self.learning_rate = rank, epochs, learning_rate
        self.user_alpha, self.item_alpha = user_alpha, item_alpha

    def _fit_features(self, x, m, records):
        from lightfm import LightFM  # optional dependency, needed to fit only

        labels, weights = weighted_cells(m.scores)
        lfm = LightFM(no_components=self.rank, loss="logistic", learning_rate=self.learning_rate,
                      user_alpha=self.user_alpha, item_alpha=self.item_alpha,
                      random_state=self.seed)
        lfm.fit(labels, user_features=sp.csr_matrix(_with_constant(x)), sample_weight=weights,
                epochs=self.epochs, num_threads=1)
        self.user_embeddings_ = lfm.user_embeddings
        self.user_biases_ = lfm.user_biases
        self.item_embeddings_ = lfm.item_embeddings
        self.item_biases_ = lfm.item_biases

    def _predict_features(self, x):
        xa = _with_constant(x)
        linear = (xa @ self.user_embeddings_) @ self.item_embeddings_.T
        linear += (xa @ self.user_biases_)[:, None] + self.item_biases_[None, :]
        return LINKS["logistic"](linear)

    def _model_state(self):
        return {}, {"user_embeddings": self.user_embeddings_, "user_biases": self.user_biases_,
                    "item_embeddings": self.item_embeddings_, "item_biases": self.item_biases_}

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        return {"user_embeddings": ("user_features", "rank"), "user_biases": ("user_features",),
                "item_embeddings": (n_models, "rank"), "item_biases": (n_models,)}

    def _set_model_state(self, extra, arrays, directory):
        for k in ("user_embeddings", "user_biases", "item_embeddings", "item_biases"):
            setattr(self, f"{k}_", arrays[k])


def _with_constant(x):
    """The features plus a constant column, whose embedding and bias every prompt shares."""
    return np.column_stack([x, np.ones(len(x), dtype=x.dtype)]).astype(np.float32)
