"""Max quality (with or without costs): each router's pick with no willingness to pay
beside the reference routers a user could deploy instead (``BASELINES``) and the oracle.

The baselines are generic: ``references`` returns, per name, a function that picks one
column per test prompt from the true scores and costs; a new baseline is one more entry
there and in ``BASELINES`` (the stronger baseline is the bar, per resample)."""
from __future__ import annotations

import numpy as np
import polars as pl

from ...data.records import UNKNOWN_BENCHMARK
from ...routing.base import true_matrices
from ...routing.registry import make_router

__all__ = ["BASELINES", "references", "scored_prompts", "quality_table", "max_quality"]

# The baselines every router is compared with at maximum quality, in table order.
BASELINES = ("best-single", "task-best")


def _task_means(train, models, overall) -> dict:
    """``{task: per-model mean training score on it}`` (task-best's scores); a model never
    scored on the task keeps its overall training mean."""
    col = {m: j for j, m in enumerate(models)}
    table = (train.table.filter(pl.col("model").is_in(models))
             .with_columns(pl.col("benchmark").fill_null(UNKNOWN_BENCHMARK))
             .group_by("benchmark", "model").agg(pl.col("score").mean()))
    out = {}
    for task, model, mean in table.iter_rows():
        out.setdefault(task, overall.copy())[col[model]] = mean
    return out


def references(train, models) -> tuple[dict, dict]:
    """``({baseline: pick(truth, true_cost, task) -> column per prompt}, details)`` for the
    ``BASELINES``, fitted on ``train``; ``details`` (best_single, task_best) go in the report.

    ``task-best``: per task, the model best on that task's training prompts; a task absent
    from training falls back to best-single."""
    best = make_router("best-single").fit(train)
    overall = best.train_means_[[best.models_.index(m) for m in models]]
    tasks = _task_means(train, models, overall)

    def best_of(means_of):
        """Picks the best model by ``means_of(task)`` among the models scored on each prompt."""
        def pick(truth, cost, task):
            ranked = best.truth_scores(truth, means_of(task))
            return best.choose(np.where(np.isnan(truth), np.nan, ranked), cost)
        return pick

    pickers = {"best-single": best_of(lambda task: overall),
               "task-best": best_of(lambda task: tasks.get(task, overall))}
    details = {"best_single": models[int(np.argmax(overall))],
               "task_best": {t: models[int(np.argmax(m))] for t, m in sorted(tasks.items())},
               "tasks_in_training": set(tasks)}
    return pickers, details


def scored_prompts(records, models, name):
    """``(records, truth, n_dropped)`` of one eval's test prompts with a true score for at
    least one model; an eval with none is refused before any router is fitted."""
    truth, _ = true_matrices(records, models)
    scored = ~np.isnan(truth).all(axis=1)
    if not scored.any():
        raise ValueError(f"eval {name!r}: none of its {records.n_prompts} test prompts has a "
                         f"score for any of the {len(models)} models of train and test")
    keep = [p for p, ok in zip(records.prompts, scored) if ok]
    return records.filter(prompts=keep), truth[scored], int((~scored).sum())


def _quality_scores(routers, sub, truth, models, pickers, task) -> dict:
    """The true score of each router's max-quality pick among the models scored on each
    prompt of ``sub``, then each baseline's and the oracle's."""
    cost = true_matrices(sub, models)[1]
    known = ~np.isnan(truth)
    true_cost = np.where(np.isnan(cost), 0.0, cost)
    rows = np.arange(len(truth))
    out = {}
    for name, r in routers.items():
        scores = np.where(known, r.predict_records(sub, models=models), np.nan)
        out[name] = truth[rows, r.choose(scores, r.predict_cost_records(sub, models=models))]
    for name, pick in pickers.items():
        out[name] = truth[rows, pick(truth, true_cost, task)]
    out["oracle"] = truth[rows, make_router("oracle").truth_picks(truth, true_cost)]
    return out


def quality_table(scores: dict, routers, bootstrap: int, rng,
                  baselines=BASELINES) -> dict:
    """Mean true score per entry; each router's (and the oracle's) difference to the
    strongest of ``baselines`` (the first on ties), with a paired percentile bootstrap
    interval (the strongest taken in each resample); the baseline → oracle gap closed."""
    names = list(scores)
    v = np.column_stack([scores[k] for k in names])
    n, j = len(v), {k: i for i, k in enumerate(names)}
    mean = v.mean(axis=0)
    boot = np.array([v[rng.integers(n, size=n)].mean(axis=0) for _ in range(bootstrap)])
    cols = [j[b] for b in baselines]
    base = mean[cols].max()
    base_b = boot[:, cols].max(axis=1) if bootstrap else None
    span = mean[j["oracle"]] - base
    return {
        "n_prompts": n,
        "baseline": baselines[int(np.argmax(mean[cols]))],
        "mean_score": {k: float(mean[i]) for k, i in j.items()},
        "minus_baseline": {
            r: {"diff": float(mean[j[r]] - base),
                "ci": [float(np.percentile(boot[:, j[r]] - base_b, q)) for q in (2.5, 97.5)]
                if bootstrap else None}
            for r in [*routers, "oracle"]},
        "gap_closed": {r: float((mean[j[r]] - base) / span) if span > 0 else float("nan")
                       for r in routers},
    }


def max_quality(fitted, scored, models, train, bootstrap, seed) -> dict:
    """The max-quality tables: one per eval and one pooled over all test prompts. Its own
    bootstrap stream (seeded from ``seed``) leaves the AIQ intervals as they were."""
    pickers, details = references(train, models)
    seen = details.pop("tasks_in_training")
    rng = np.random.default_rng([seed, 12])
    evals, pooled, dropped = {}, {}, 0
    for name, (sub, truth, n_dropped) in scored.items():
        scores = _quality_scores(fitted, sub, truth, models, pickers, name)
        evals[name] = {**quality_table(scores, fitted, bootstrap, rng),
                       "n_dropped_unscored": n_dropped, "task_seen_in_training": name in seen}
        for k, v in scores.items():
            pooled.setdefault(k, []).append(v)
        dropped += n_dropped
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    return {"evals": evals, "pooled": {**quality_table(pooled, fitted, bootstrap, rng),
                                       "n_dropped_unscored": dropped}, **details}
