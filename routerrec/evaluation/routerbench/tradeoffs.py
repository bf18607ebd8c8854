"""RouterArena's score and the Pareto distance to the oracle curve for one eval's curves
(needs costs; the pure definitions are in ``field``)."""
from __future__ import annotations

import numpy as np

from .field import ARENA_BETA, ARENA_COST_RANGE, arena_score, pareto_distance

__all__ = ["tradeoff_metrics"]


def tradeoff_metrics(models, single, points: dict, hulls: dict, lambdas, n: int,
                     scores_in_unit: bool) -> dict:
    """``{"arena": ..., "pareto_distance": ...}`` of one eval.

    RouterArena's cost is per 1,000 queries, normalised with its own published range
    (``field.ARENA_COST_RANGE``, USD), so the numbers compare with its leaderboard when
    the costs are USD. Each router gets the score of its largest-willingness-to-pay point
    (``max_quality``: what it does with no budget) and its best over the λ grid (``best``,
    λ chosen on the test prompts: optimistic). ``arena`` is None when a score lies outside
    [0, 1] or a model costs nothing (log of 0).
    """
    arena = None
    if scores_in_unit and single[:, 0].min() > 0:
        def score(point):
            return arena_score(float(np.clip(point[1], 0, 1)), point[0] / n * 1000)

        routers = {}
        for name, p in points.items():
            if name == "oracle":
                continue
            each = [score(x) for x in p]
            best = int(np.argmax(each))
            routers[name] = {"max_quality": each[-1], "best": each[best],
                             "best_wtp": float(lambdas[best])}
        arena = {"beta": ARENA_BETA, "c_max_per_1000": ARENA_COST_RANGE[0],
                 "c_min_per_1000": ARENA_COST_RANGE[1],
                 "single_models": {m: score(x) for m, x in zip(models, single)},
                 "oracle": score(points["oracle"][-1]), "routers": routers}
    distance = {name: pareto_distance(h, hulls["oracle"])
                for name, h in hulls.items() if name != "oracle"}
    return {"arena": arena, "pareto_distance": distance}
