"""Logistic matrix factorisation (multidimensional IRT) for binary or [0, 1] scores.

Predictions are probabilities ``sigma(mu + b_prompt + b_model + p . q)``; fitting is
alternating damped Newton in ``routerrec.logistic_kernel``.
"""
from __future__ import annotations

import numpy as np

from ..logistic_kernel import logistic_row_map, logistic_sweeps
from ..model import Model, population_prior
from ..progress import progress_bar

__all__ = ["fit", "fold_in", "DEFAULTS"]

DEFAULTS = dict(rank=32, reg=0.003, iterations=20, warmup=4, steps=1, seed=0)


def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"], warmup: int = DEFAULTS["warmup"],
        steps: int = DEFAULTS["steps"], seed: int = DEFAULTS["seed"],
        progress: bool = False) -> Model:
    """Fit logistic MF on the observed cells of ``records`` (scores must lie in [0, 1]).

    The first ``warmup`` sweeps penalise a row with n cells by ``reg * n`` (as ALS-WR
    does); the remaining ``iterations - warmup`` use each side's learned population prior
    (see ``logistic_kernel.logistic_sweeps``). ``steps`` is the number of Newton steps per
    row and half-sweep.
    """
    if rank < 1 or iterations < 1 or steps < 1 or warmup < 1 or not reg > 0:
        raise ValueError(f"need rank >= 1, iterations >= 1, warmup >= 1, steps >= 1 and "
                         f"reg > 0 (got rank={rank}, iterations={iterations}, "
                         f"warmup={warmup}, steps={steps}, reg={reg})")
    m = records.matrix()
    data = m.scores.data
    if data.size and (data.min() < 0 or data.max() > 1):
        raise ValueError(f"logistic needs scores in [0, 1]; these range from {data.min():g} "
                         f"to {data.max():g} (rescale them, or use --method als)")
    with progress_bar(iterations, "logistic sweeps", enabled=progress) as bar:
        mu, prompt_aug, model_aug = logistic_sweeps(m.scores, rank, reg, iterations, seed,
                                                    warmup=warmup, steps=steps,
                                                    callback=lambda *_: bar.update(1))
    return Model(method="logistic",
                 params=dict(rank=rank, reg=reg, iterations=iterations, warmup=warmup,
                             steps=steps, seed=seed),
                 prompts=m.prompts, models=m.models, global_mean=mu, link="logistic",
                 prompt_bias=prompt_aug[:, rank], model_bias=model_aug[:, rank],
                 prompt_factors=prompt_aug[:, :rank], model_factors=model_aug[:, :rank])


def row_prior(own_factors, own_bias, reg):
    """Gaussian prior ``(precision, shift)`` for a new row of a side: the population of that
    side's fitted rows (mean and covariance, no noise scaling: the Bernoulli likelihood has
    none) when there are enough of them, else training's ``reg * I`` around zero."""
    k1 = own_factors.shape[1] + 1
    if own_factors.shape[0] > k1 + 1:
        return population_prior(own_factors, own_bias, 1.0)
    return reg * np.eye(k1, dtype=np.float32), np.zeros(k1, np.float32)


def fold_in(model: Model, side: str, index, values):
    """``FOLD_IN["logistic"]``: the MAP row of a new model (``side="model"``) or prompt, and
    its Laplace posterior covariance (the inverse Hessian of the log-posterior at the MAP)."""
    fixed, fixed_bias, own, own_bias = (
        (model.prompt_factors, model.prompt_bias, model.model_factors, model.model_bias)
        if side == "model" else
        (model.model_factors, model.model_bias, model.prompt_factors, model.prompt_bias))
    values = np.asarray(values, dtype=np.float64)
    if values.min() < 0 or values.max() > 1:
        raise ValueError("logistic fold-in needs scores in [0, 1]")
    precision, shift = row_prior(own, own_bias, model.params.get("reg", DEFAULTS["reg"]))
    x, hessian = logistic_row_map(fixed, fixed_bias, model.global_mean, index, values,
                                  precision, shift)
    return x[:-1], x[-1], np.linalg.inv(hessian)
