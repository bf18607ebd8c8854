"""Logistic matrix factorisation (multidimensional IRT) for binary or [0, 1] scores.

Predictions are probabilities ``sigma(mu + b_prompt + b_model + p . q)``; fitting is
alternating damped Newton in ``routerrec.kernels.logistic``. ``members`` independent fits
(seeds ``seed, seed + 1, ...``) are averaged on the logit scale, which is exactly one model
of rank ``members * rank``: factors concatenated and scaled by ``1 / sqrt(members)``, biases
averaged. So prediction, fold-in and saving see an ordinary ``Model``.
"""
from __future__ import annotations

import numpy as np

from ..kernels.logistic import logistic_row_map, logistic_sweeps
from ..util.progress import progress_bar
from .model import Model
from .registry import SEED, count, factor_memory, number, register_link, register_method

__all__ = ["fit", "fold_in", "sigmoid", "combine_members", "DEFAULTS", "PARAMS"]

DEFAULTS = dict(rank=32, reg=0.003, iterations=12, warmup=4, steps=1, members=3, seed=0)
PARAMS = dict(rank=count(1), reg=number(0, low_open=True), iterations=count(1),
              warmup=count(1), steps=count(1), members=count(1), seed=SEED)


@register_method("logistic", params=PARAMS, memory=factor_memory())
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"], warmup: int = DEFAULTS["warmup"],
        steps: int = DEFAULTS["steps"], members: int = DEFAULTS["members"],
        seed: int = DEFAULTS["seed"], progress: bool = False) -> Model:
    """Fit logistic MF on the observed cells of ``records`` (scores must lie in [0, 1]).

    The first ``warmup`` sweeps penalise a row with n cells by ``reg * n`` (as ALS-WR
    does); the remaining ``iterations - warmup`` use each side's learned population prior
    (see ``kernels.logistic.logistic_sweeps``). ``steps`` is the number of Newton steps per
    row and half-sweep. ``members`` fits from different random starts are averaged on the
    logit scale (the returned model has rank ``members * rank``): their errors differ, and
    on openllm-v1's validation share 3 members of 12 sweeps beat one fit of 20 sweeps by
    0.001 AUC and 0.004 log-loss (benchmarks/bench_logistic.py).
    """
    m = records.matrix()
    data = m.scores.data
    if data.size and (data.min() < 0 or data.max() > 1):
        raise ValueError(f"logistic needs scores in [0, 1]; these range from {data.min():g} "
                         f"to {data.max():g} (rescale them, or use --method als)")
    fits = []
    with progress_bar(iterations * members, "logistic sweeps", enabled=progress) as bar:
        for j in range(members):
            fits.append(logistic_sweeps(m.scores, rank, reg, iterations, seed + j,
                                        warmup=warmup, steps=steps,
                                        callback=lambda *_: bar.update(1)))
    mu, prompt_aug, model_aug = combine_members(fits, rank)
    return Model(method="logistic",
                 params=dict(rank=rank, reg=reg, iterations=iterations, warmup=warmup,
                             steps=steps, members=members, seed=seed),
                 prompts=m.prompts, models=m.models, global_mean=mu, link="logistic",
                 prompt_bias=prompt_aug[:, -1], model_bias=model_aug[:, -1],
                 prompt_factors=prompt_aug[:, :-1], model_factors=model_aug[:, :-1])


def combine_members(fits, rank):
    """One ``(mu, prompt_aug, model_aug)`` whose logits are the mean of the fits' logits
    (each fit a ``logistic_sweeps`` result of the given rank, all with the same ``mu``):
    ``mean_j p_j . q_j = [p_1 .. p_E] / sqrt(E) . [q_1 .. q_E] / sqrt(E)``."""
    scale = 1.0 / np.sqrt(len(fits))
    sides = []
    for s in (1, 2):
        factors = np.hstack([f[s][:, :rank] for f in fits]) * scale
        bias = np.mean([f[s][:, rank] for f in fits], axis=0)
        sides.append(np.column_stack([factors, bias]).astype(np.float32))
    return fits[0][0], sides[0], sides[1]


def row_prior(model: Model, side: str):
    """Gaussian prior ``(precision, shift)`` for a new row of a side: the population of that
    side's fitted rows (mean and covariance, no noise scaling: the Bernoulli likelihood has
    none; cached on the model) when there are enough of them, else training's ``reg * I``
    around zero."""
    prior = model.side_prior(side, 1.0)
    if prior is not None:
        return prior
    k1 = model.rank + 1
    reg = model.params.get("reg", DEFAULTS["reg"])
    return reg * np.eye(k1, dtype=np.float32), np.zeros(k1, np.float32)


def sigmoid(linear: np.ndarray) -> np.ndarray:
    """The logistic link's inverse: probabilities (float32) from linear predictors (exp
    overflows to inf below about -88 in float32, which gives the right 0)."""
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-linear))).astype(np.float32)


def fold_in(model: Model, side: str, index, values):
    """The logistic link's fold-in: the MAP row of a new model (``side="model"``) or prompt, and
    its Laplace posterior covariance (the inverse Hessian of the log-posterior at the MAP)."""
    fixed, fixed_bias = ((model.prompt_factors, model.prompt_bias) if side == "model"
                         else (model.model_factors, model.model_bias))
    values = np.asarray(values, dtype=np.float64)  # in [0, 1]: Model.score_range
    precision, shift = row_prior(model, side)
    x, hessian = logistic_row_map(fixed, fixed_bias, model.global_mean, index, values,
                                  precision, shift)
    return x[:-1], x[-1], np.linalg.inv(hessian)


register_link("logistic", sigmoid, fold_in, unit=True)
