"""RouteLLM's view of a router: route between one strong and one weak model only.

Each learned router ranks the test prompts by its predicted strong − weak score margin;
sweeping the threshold gives its curve of (share of strong calls, mean true score), from
which APGR and CPT(50%) / CPT(80%) are read (``field.apgr`` / ``field.cpt``). The oracle
ranks by the true margin (RouteLLM's "optimal" curve). Needs no cost: only the pair.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from .field import apgr, cpt, pair_curve

__all__ = ["CPT_LEVELS", "default_pair", "pair_report"]

CPT_LEVELS = (0.5, 0.8)


def default_pair(train, models) -> tuple[str, str] | None:
    """``(strong, weak)`` when none is given: the best model on the training prompts (the
    one a user deploys without a router) and the cheapest other one by mean training cost.
    None without costs: cheap has no meaning there (name the pair instead)."""
    if not train.has_costs:
        return None
    table = (train.table.filter(pl.col("model").is_in(models))
             .group_by("model").agg(pl.col("score").mean(), pl.col("cost").mean()))
    score = dict(zip(table["model"], table["score"]))
    cost = {m: c for m, c in zip(table["model"], table["cost"]) if c is not None}
    strong = max(models, key=lambda m: (score.get(m, -np.inf), -models.index(m)))
    others = [m for m in models if m != strong and m in cost]
    if not others:
        return None
    return strong, min(others, key=lambda m: (cost[m], models.index(m)))


def _metrics(share, quality, weak, strong) -> dict:
    return {"apgr": apgr(share, quality, weak, strong),
            **{f"cpt{round(x * 100)}": cpt(share, quality, weak, strong, x) for x in CPT_LEVELS}}


def _table(margins: dict, truth_strong, truth_weak) -> dict:
    strong, weak = float(truth_strong.mean()), float(truth_weak.mean())
    out = {"n_prompts": int(len(truth_strong)), "strong_score": strong, "weak_score": weak,
           "routers": {}}
    for name, margin in margins.items():
        share, quality = pair_curve(margin, truth_strong, truth_weak)
        out["routers"][name] = _metrics(share, quality, weak, strong)
    return out


def pair_report(fitted, scored, models, strong: str, weak: str) -> dict:
    """APGR and CPT per eval and pooled, on the test prompts where both models are scored
    (evals with none are listed in ``evals_without_both``)."""
    s, w = models.index(strong), models.index(weak)
    evals, pooled, missing = {}, {}, []
    for name, (sub, truth, _) in scored.items():
        both = ~(np.isnan(truth[:, s]) | np.isnan(truth[:, w]))
        if not both.any():
            missing.append(name)
            continue
        margins = {}
        for r, router in fitted.items():
            pred = router.predict_records(sub, models=models)
            margins[r] = (pred[:, s] - pred[:, w])[both]
        ts, tw = truth[both, s], truth[both, w]
        margins["oracle"] = ts - tw
        evals[name] = _table(margins, ts, tw)
        for key, value in [*margins.items(), ("@strong", ts), ("@weak", tw)]:
            pooled.setdefault(key, []).append(value)
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    ts, tw = pooled.pop("@strong", None), pooled.pop("@weak", None)
    return {"strong": strong, "weak": weak, "evals": evals,
            "pooled": _table(pooled, ts, tw) if ts is not None else None,
            "evals_without_both": missing}
