"""Explicit ALS-WR with global mean and prompt / model biases (numba kernels in ``kernels.als``)."""
from __future__ import annotations

import numpy as np

from ..kernels.als import als_sweeps
from ..util.progress import progress_bar
from .model import Model
from .registry import SEED, count, factor_memory, number, register_method

DEFAULTS = dict(rank=32, reg=0.01, iterations=15, seed=0)
PARAMS = dict(rank=count(1), reg=number(0, low_open=True), iterations=count(1), seed=SEED)


@register_method("als", params=PARAMS, memory=factor_memory())
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"], seed: int = DEFAULTS["seed"],
        progress: bool = False) -> Model:
    """Fit explicit ALS on the observed cells of ``records`` (missing cells are unknown)."""
    m = records.matrix()
    with progress_bar(iterations, "ALS sweeps", enabled=progress) as bar:
        mu, prompt_aug, model_aug = als_sweeps(m.scores, rank, reg, iterations, seed,
                                               callback=lambda *_: bar.update(1))
    data = m.scores.data
    model = Model(method="als", params=dict(rank=rank, reg=reg, iterations=iterations, seed=seed),
                  prompts=m.prompts, models=m.models, global_mean=float(mu),
                  prompt_bias=prompt_aug[:, rank], model_bias=model_aug[:, rank],
                  prompt_factors=prompt_aug[:, :rank], model_factors=model_aug[:, :rank],
                  clip=(float(data.min()), float(data.max())))
    model.noise_var = training_residual_var(model, m.scores)
    return model


def training_residual_var(model: Model, scores) -> float:
    """Mean squared residual on the training cells (the noise level fold-in assumes)."""
    coo = scores.tocoo()
    resid = model.predict_pairs(coo.row, coo.col) - coo.data
    return float(np.mean(resid.astype(np.float64) ** 2))
