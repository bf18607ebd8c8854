"""The field's other router metrics, as small pure functions (definitions and citations in
docs/routerbench.md):

* RouteLLM (Ong et al., 2024; lm-sys/RouteLLM ``routellm/evals/evaluate.py``), for a
  strong / weak model pair: the router's curve of (share of calls to the strong model,
  mean score) over its thresholds; **APGR**, the area under it above the weak model
  divided by the strong − weak gap times the share range (trapezoids, as their code), and
  **CPT(x%)**, the share of strong calls at which the curve first reaches the weak score
  plus x% of the gap.
* RouterArena (Lu et al., 2025; RouteWorks/RouterArena): **S = (1+β)·A·C / (β·A + C)**,
  A the accuracy, C = (log2 c_max − log2 c) / (log2 c_max − log2 c_min) the cost per 1,000
  queries normalised on a log scale, β = 0.1.
* **Pareto distance** to the oracle curve (ours, an inverted generational distance in
  quality units): the mean, over the vertices (c, q) of the oracle's non-decreasing convex
  hull, of max(0, q − R(c)), R the router's hull at cost c (linear between its vertices,
  flat beyond its ends). 0: the router's hull reaches every operating point of the oracle.
"""
from __future__ import annotations

import numpy as np

from ...util import validate

__all__ = ["ARENA_BETA", "ARENA_COST_RANGE", "pair_curve", "apgr", "cpt", "arena_score",
           "pareto_distance"]

# RouterArena's defaults: β, and (c_max, c_min) in USD per 1,000 queries on its data set.
ARENA_BETA = 0.1
ARENA_COST_RANGE = (200.0, 0.0044)


def pair_curve(margin, strong_scores, weak_scores) -> tuple[np.ndarray, np.ndarray]:
    """``(strong_share, mean_score)`` of a threshold router on a strong / weak pair.

    A prompt goes to the strong model when its ``margin`` (the router's predicted strong −
    weak score) is above the threshold; every threshold between two distinct margins gives
    one point (prompts with equal margins move together, so a router that ranks nothing
    gives the straight line from all-weak to all-strong), from share 0 to 1.
    """
    margin = validate.reals("margin", margin)
    strong = validate.reals("strong_scores", strong_scores, length=len(margin))
    weak = validate.reals("weak_scores", weak_scores, length=len(margin))
    n = len(margin)
    if not n:
        raise ValueError("pair_curve needs at least one prompt, got none")
    order = np.argsort(-margin, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum((strong - weak)[order])])
    ranked = margin[order]
    cuts = np.concatenate([[0], np.flatnonzero(ranked[1:] != ranked[:-1]) + 1, [n]])
    return cuts / n, (weak.sum() + gain[cuts]) / n


def _sorted_curve(strong_share, quality):
    share = validate.reals("strong_share", strong_share, low=0, high=1)
    quality = validate.reals("quality", quality, length=len(share))
    if len(share) < 2:
        raise ValueError(f"a routing curve needs at least 2 points, got {len(share)}")
    order = np.argsort(share, kind="stable")
    return share[order], quality[order]


def apgr(strong_share, quality, weak_score: float, strong_score: float) -> float:
    """RouteLLM's average performance gap recovered: ∫ (quality − weak) d share over the
    curve's share range (trapezoids) ÷ ((strong − weak) × that range). NaN when the strong
    model does not beat the weak one or the curve spans no share."""
    share, quality = _sorted_curve(strong_share, quality)
    weak = validate.real("weak_score", weak_score)
    strong = validate.real("strong_score", strong_score)
    span = share[-1] - share[0]
    if strong <= weak or span <= 0:
        return float("nan")
    area = float(np.sum(np.diff(share) * (quality[1:] + quality[:-1]) / 2))
    return (area - weak * span) / ((strong - weak) * span)


def cpt(strong_share, quality, weak_score: float, strong_score: float,
        fraction: float) -> float:
    """RouteLLM's call-performance threshold CPT(``fraction``): the smallest share of strong
    calls at which the curve (linear between its points, sorted by share) reaches
    weak + fraction × (strong − weak). NaN when it never does or strong ≤ weak.
    On a curve whose quality rises with the share this is RouteLLM's ``np.interp``."""
    share, quality = _sorted_curve(strong_share, quality)
    weak = validate.real("weak_score", weak_score)
    strong = validate.real("strong_score", strong_score)
    fraction = validate.fraction("fraction", fraction)
    target = weak + fraction * (strong - weak)
    if strong <= weak:
        return float("nan")
    if quality[0] >= target:
        return float(share[0])
    above = np.flatnonzero((quality[1:] >= target) & (quality[:-1] < target))
    if not len(above):
        return float("nan")
    i = above[0]
    x0, x1, y0, y1 = share[i], share[i + 1], quality[i], quality[i + 1]
    return float(x0 + (x1 - x0) * (target - y0) / (y1 - y0))


def arena_score(accuracy: float, cost: float, *, c_max: float = ARENA_COST_RANGE[0],
                c_min: float = ARENA_COST_RANGE[1], beta: float = ARENA_BETA) -> float:
    """RouterArena's score of one operating point: ``cost`` per 1,000 queries in the units of
    ``c_max`` / ``c_min`` (RouterArena: USD, 200 and 0.0044), ``accuracy`` in [0, 1]."""
    accuracy = validate.real("accuracy", accuracy, low=0, high=1)
    cost = validate.real("cost", cost, low=0, low_open=True)
    c_max = validate.real("c_max", c_max, low=0, low_open=True)
    c_min = validate.real("c_min", c_min, low=0, low_open=True)
    beta = validate.real("beta", beta, low=0, low_open=True)
    if c_max <= c_min:
        raise ValueError(f"c_max must be above c_min, got c_max={c_max} and c_min={c_min}")
    normalised = (np.log2(c_max) - np.log2(cost)) / (np.log2(c_max) - np.log2(c_min))
    denominator = beta * accuracy + normalised
    return float((1 + beta) * accuracy * normalised / denominator) if denominator else 0.0


def pareto_distance(hull, oracle_hull) -> float:
    """Mean quality shortfall of a router's hull below each vertex (cost, quality) of the
    oracle's hull, at the vertex's cost (see the module doc); 0 when it reaches them all."""
    hull = validate.finite("hull", np.asarray(hull, dtype=np.float64)).reshape(-1, 2)
    oracle = validate.finite("oracle_hull", np.asarray(oracle_hull, dtype=np.float64))
    oracle = oracle.reshape(-1, 2)
    if not len(hull) or not len(oracle):
        raise ValueError("pareto_distance needs at least one point on each curve")
    reached = np.interp(oracle[:, 0], hull[:, 0], hull[:, 1])
    return float(np.mean(np.maximum(oracle[:, 1] - reached, 0.0)))
