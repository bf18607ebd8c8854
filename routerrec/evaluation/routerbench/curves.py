"""Cost-quality curves of one eval: points per willingness to pay, non-decreasing convex
hulls (the zero router is that of the single models), the oracle curve and joint AIQ with
paired bootstrap intervals (see the package doc for the definitions)."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ...routing.base import true_matrices
from ...routing.registry import make_router
from .tradeoffs import tradeoff_metrics

__all__ = ["ROUTERBENCH_LAMBDAS", "lambda_grid", "nondecreasing_hull", "joint_aiq",
           "complete_prompts", "eval_curves"]

# RouterBench's own willingness-to-pay grid: 32 values, 1e-10 ... 1e9, log-spaced.
ROUTERBENCH_LAMBDAS = np.logspace(-10, 9, 32)


def lambda_grid(per_decade: int = 10) -> np.ndarray:
    """RouterBench's 32 values plus ``per_decade`` log-spaced values per decade over the same range."""
    dense = np.logspace(-10, 9, 19 * per_decade + 1)
    return np.unique(np.concatenate([ROUTERBENCH_LAMBDAS, dense]))


def nondecreasing_hull(points: np.ndarray) -> np.ndarray:
    """Upper concave hull of the Pareto-efficient (cost, quality) points, sorted by cost.

    Starts at the cheapest point (best quality among equally cheap ones); a point is kept
    only if it is better than every cheaper point and lies strictly above the chord of its
    neighbours.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.lexsort((-pts[:, 1], pts[:, 0]))]
    frontier = []
    for x, y in pts:
        if not frontier or y > frontier[-1][1]:
            if frontier and x == frontier[-1][0]:
                continue
            frontier.append((x, y))
    hull = []
    for p in frontier:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()  # the middle point is on or under the chord
            else:
                break
        hull.append(p)
    return np.array(hull, dtype=np.float64).reshape(-1, 2)


def joint_aiq(hulls: Mapping[str, np.ndarray]) -> dict:
    """``{name: {"code": AIQ, "paper": AIQ}}`` for hulls compared jointly (see package doc)."""
    c_max = max(h[-1, 0] for h in hulls.values())
    c_min = min(h[0, 0] for h in hulls.values())
    out = {}
    for name, h in hulls.items():
        ext = np.vstack([h, [c_max, h[-1, 1]]])
        area = float(np.sum(np.diff(ext[:, 0]) * (ext[1:, 1] + ext[:-1, 1]) / 2))
        out[name] = {"code": area / c_max if c_max > 0 else float(h[-1, 1]),
                     "paper": area / (c_max - c_min) if c_max > c_min else float(h[-1, 1])}
    return out


def _choices(router, records, cols, lambdas):
    """Column picked per (λ, prompt) by a learned router (predicted scores and costs)."""
    s = router.predict_records(records, models=cols)
    c = router.predict_cost_records(records, models=cols)
    return np.stack([router.choose(s, c, wtp=lam) for lam in lambdas])


def complete_prompts(records, models, name):
    """``(records, truth, cost, n_dropped)`` of one eval's test prompts that have a score and
    a cost for every model; an eval with none is refused before any router is fitted."""
    truth, cost = true_matrices(records, models)
    complete = ~(np.isnan(truth).any(axis=1) | np.isnan(cost).any(axis=1))
    if not complete.any():
        raise ValueError(f"eval {name!r}: none of its {records.n_prompts} test prompts has a "
                         f"score and a cost for every one of the {len(models)} models of train "
                         "and test; AIQ compares routers on the same prompts")
    keep = [p for p, ok in zip(records.prompts, complete) if ok]
    # the filtered records keep records' (sorted) prompt order
    return (records.filter(prompts=keep), truth[complete], cost[complete],
            int((~complete).sum()))


def eval_curves(routers, sub, truth, cost, n_dropped, models, lambdas, boot_weights) -> dict:
    """One eval's report: single models, oracle, each router's points and hull, joint AIQ
    with percentile intervals over ``boot_weights(n)``, the zero → oracle gap closed,
    RouterArena's score and the Pareto distance to the oracle curve."""
    n = len(truth)
    rows = np.arange(n)
    picks = {name: _choices(r, sub, models, lambdas) for name, r in routers.items()}
    # the oracle's curve: per λ, argmax λ·s − c on the *true* scores and costs; its last
    # point (best true score, cheapest on ties) is "the oracle" of RouterBench's plots
    oracle = make_router("oracle")
    curve = [oracle.truth_picks(truth, cost, wtp=lam) for lam in lambdas]
    picks["oracle"] = np.vstack([np.stack(curve), oracle.truth_picks(truth, cost)[None, :]])

    def curves(w):
        """Points of everything under prompt weights ``w`` (n,), hulls and joint AIQ."""
        single = np.column_stack([w @ cost, w @ truth / w.sum()])
        hulls = {"zero": nondecreasing_hull(single)}
        pts = {}
        for name, pk in picks.items():
            p = np.column_stack([cost[rows, pk] @ w, truth[rows, pk] @ w / w.sum()])
            pts[name] = p
            hulls[name] = nondecreasing_hull(p)
        o = pts["oracle"][-1:]
        return single, pts, hulls, o, joint_aiq(hulls)

    single, pts, hulls, o, aiq = curves(np.ones(n))
    boots = [curves(w)[4] for w in boot_weights(n)]
    names = list(hulls)

    def ci(values):
        return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]

    def gap(a):
        d = a["oracle"]["code"] - a["zero"]["code"]
        return {r: (a[r]["code"] - a["zero"]["code"]) / d if d > 0 else float("nan") for r in routers}

    g, gboot = gap(aiq), [gap(b) for b in boots]
    return {
        "n_prompts": n, "n_dropped_incomplete": n_dropped,
        "single_models": [{"model": m, "cost": float(x), "quality": float(y)}
                          for m, (x, y) in zip(models, single)],
        "oracle": {"cost": float(o[0, 0]), "quality": float(o[0, 1])},
        "routers": {r: {"points": [{"wtp": float(lam), "cost": float(x), "quality": float(y)}
                                   for lam, (x, y) in zip(lambdas, pts[r])],
                        "hull": hulls[r].tolist()} for r in routers},
        "oracle_curve": {"hull": hulls["oracle"].tolist()},
        "zero_router": {"hull": hulls["zero"].tolist()},
        "aiq": {r: {"code": aiq[r]["code"], "paper": aiq[r]["paper"],
                    "code_ci": ci([b[r]["code"] for b in boots]) if boots else None,
                    "paper_ci": ci([b[r]["paper"] for b in boots]) if boots else None,
                    "minus_zero_ci": ci([b[r]["code"] - b["zero"]["code"] for b in boots])
                    if boots else None}
                for r in names},
        "gap_closed": {r: {"share": g[r], "ci": ci([b[r] for b in gboot]) if boots else None}
                       for r in routers},
        **tradeoff_metrics(models, single, pts, hulls, lambdas, n,
                           bool(((truth >= 0) & (truth <= 1)).all())),
    }
