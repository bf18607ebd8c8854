"""The ``mf`` router: a completion model (any ``routerrec.fit`` method) plus a ridge map from
prompt features to its prompt factors and bias, so an unseen prompt gets a latent vector."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import dense_observed, register_router
from .base import LearnedRouter
from .ridge import ALPHAS, fit_ridge, select_alpha
from ...methods import METHODS, fit
from ...methods.model import load_model

__all__ = ["MFRouter", "MF_METHOD_DEFAULTS"]

# A second completion-model setting the mf router tries (besides the method's own defaults)
# when ``method_params`` is None: a light prior, so the prompt factors keep the structure the
# features must predict (logistic's reg=2 once shrank RouterBench's prompt factors to ~0).
MF_METHOD_DEFAULTS = {"logistic": dict(rank=8, reg=0.05), "als": dict(rank=8, reg=0.03)}


@register_router
class MFRouter(LearnedRouter):
    """Completion model + ridge map from prompt features to its prompt factors and bias.

    ``method`` is any ``routerrec.fit`` method (default: ``logistic`` on binary records when
    it is available, else ``als``); ``method_params`` go to it. When ``method_params`` is
    None, the method's own defaults and ``MF_METHOD_DEFAULTS[method]`` are both fitted and the
    one whose feature map validates better is kept (``method_params_``). The ridge strength is
    chosen from ``alphas`` on 20% of the training prompts (error of the predicted scores on
    their observed cells). A new prompt gets a latent vector, then every model a score through
    the completion model's link.
    """

    name = "mf"
    tuned_attributes = ("method_", "alpha_")
    dense_training = True

    def __init__(self, *, method: str | None = None, method_params: dict | None = None,
                 alphas: Sequence[float] = ALPHAS, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.method, self.method_params, self.alphas = method, method_params, alphas

    def _fit_features(self, x, m, records):
        method = self.method
        if method is None:
            binary = bool(np.isin(m.scores.data, (0.0, 1.0)).all())
            method = "logistic" if binary and "logistic" in METHODS else "als"
        self.method_ = method
        if self.method_params is not None:
            candidates = [dict(self.method_params)]
        else:
            candidates = [{}] + ([MF_METHOD_DEFAULTS[method]] if method in MF_METHOD_DEFAULTS else [])
        dense, mask = dense_observed(m)
        x = x.astype(np.float64)
        best = None
        for params in candidates:
            model = fit(records, method=method, **params)
            rows = model.prompt_indices(m.prompts)
            target = np.column_stack([model.prompt_factors[rows],
                                      model.prompt_bias[rows]]).astype(np.float64)

            def error(val_rows, t, model=model):
                pred = model.score_rows(t[:, :-1], t[:, -1])
                return float(np.mean((pred - dense[val_rows])[mask[val_rows]] ** 2))

            alpha, errors = select_alpha(x, target, list(self.alphas), error, self.seed)
            if best is None or errors.get(alpha, 0.0) < best[0]:
                best = (errors.get(alpha, 0.0), params, model, alpha, errors, target)
        _, self.method_params_, self.completion_, self.alpha_, self.validation_, target = best
        w, b = fit_ridge(x, target, self.alpha_)
        self.map_weights_, self.map_bias_ = w.astype(np.float32), b.astype(np.float32)

    def _predict_features(self, x):
        t = self.latent_rows(x)
        return self.completion_.score_rows(t[:, :-1], t[:, -1])

    def latent_rows(self, x, dtype=np.float32) -> np.ndarray:
        """The ridge map: prompt features ``x`` -> latent rows ``[p, b_prompt]`` (the one
        place the map is applied). ``float64`` gives a row that does not depend on the batch
        it came in (float32 products round differently by batch size)."""
        return (np.asarray(x, dtype=dtype) @ self.map_weights_.astype(dtype, copy=False)
                + self.map_bias_.astype(dtype, copy=False))

    def _model_state(self):
        return ({"method_": self.method_, "alpha_": self.alpha_,
                 "method_params_": self.method_params_},
                {"map_weights": self.map_weights_, "map_bias": self.map_bias_})

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        return {"map_weights": ("features", "latent"), "map_bias": ("latent",)}

    def _save_parts(self, tmp):
        self.completion_.save(tmp / "completion")

    def _set_model_state(self, extra, arrays, directory):
        self.method_, self.alpha_ = extra["method_"], extra["alpha_"]
        self.method_params_ = extra["method_params_"]
        self.map_weights_, self.map_bias_ = arrays["map_weights"], arrays["map_bias"]
        self.completion_ = load_model(directory / "completion")
        if self.completion_.models != self.models_:
            raise ValueError("its completion model is for other models than the router's")
