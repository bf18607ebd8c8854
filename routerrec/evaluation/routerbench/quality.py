"""Max quality (with or without costs): each router's pick with no willingness to pay
beside the reference routers a user could deploy instead (``BASELINES``) and the oracle.

The baselines are generic: ``references`` returns, per name, a function that picks one
column per test prompt from the true scores and costs; a new baseline is one more entry
there and in ``BASELINES`` (the stronger baseline is the bar, per resample)."""
from __future__ import annotations

import numpy as np

from ...routing.base import true_matrices
from ...routing.registry import make_router

__all__ = ["BASELINES", "fit_references", "references", "scored_prompts", "quality_table",
           "max_quality"]

# The baselines every router is compared with at maximum quality (the stronger one is the
# bar, per resample); the other references (``references``) are reported beside them.
BASELINES = ("best-single", "task-best")


def _picker(router, models, by_text=False):
    """``pick(sub, truth, true_cost)``: the router's max-quality column per prompt of
    ``sub`` among the models scored on it; ``by_text`` routes by the prompt texts only
    (task-best's classifier instead of the records' task labels)."""
    def pick(sub, truth, cost):
        means = (router.predict(sub.text_of(sub.prompts), models=models) if by_text
                 else router.predict_records(sub, models=models))
        return router.choose(np.where(np.isnan(truth), np.nan, means), cost)
    return pick


def fit_references(train) -> dict:
    """``{name: reference router fitted on train}``: best-single, task-best (only when
    ``train`` has task labels) and cluster-best; fitted once, for the AIQ curves (the
    per-group ones honour wtp) and the max-quality tables."""
    names = ["best-single", *(["task-best"] if train.benchmarks else []), "cluster-best"]
    return {name: make_router(name).fit(train) for name in names}


def references(fitted, models) -> tuple[dict, dict]:
    """``({reference: pick(sub, truth, true_cost) -> column per prompt}, details)`` of the
    reference routers ``fitted`` (``fit_references``); ``details`` (their picks, the task
    classifier's accuracy, the clusters) go in the report.

    ``task-best``: per task (the test prompt's label), the model best on that task's training
    prompts; a task absent from training falls back to best-single. ``task-best (text)``:
    the same router routing by text alone (its classifier's task), what a user without task
    labels at routing time gets. ``cluster-best``: per k-means cluster of the prompt texts.
    Without task labels in ``train`` there is no task-best (the bar is then best-single)."""
    pickers = {name: _picker(r, models) for name, r in fitted.items()}
    cols = [fitted["best-single"].models_.index(m) for m in models]
    best = fitted["best-single"].train_means_[cols]
    details = {"best_single": models[int(np.argmax(best))], "task_best": {},
               "tasks_in_training": set(), "task_classifier_accuracy": None}
    if "task-best" in fitted:
        task = fitted["task-best"]
        pickers = {**{k: pickers[k] for k in BASELINES},  # the table's order
                   "task-best (text)": _picker(task, models, by_text=True),
                   "cluster-best": pickers["cluster-best"]}
        details.update(_group_picks(task, cols, models, "task_best"),
                       tasks_in_training=set(task.groups_.names),
                       task_classifier_accuracy=task.groups_.classifier_accuracy)
    details.update(_group_picks(fitted["cluster-best"], cols, models, "cluster_best"))
    return pickers, details


def _group_picks(router, cols, models, key) -> dict:
    """``{key: {group: its max-quality model among models}}`` of a per-group router."""
    picks = router.group_means_[:, cols].argmax(axis=1)
    return {key: {g: models[j] for g, j in zip(router.groups_.names, picks)}}


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


def _quality_scores(routers, sub, truth, models, pickers) -> dict:
    """The true score of each router's max-quality pick among the models scored on each
    prompt of ``sub``, then each reference router's (random: its expected score) and the
    oracle's."""
    cost = true_matrices(sub, models)[1]
    known = ~np.isnan(truth)
    true_cost = np.where(np.isnan(cost), 0.0, cost)
    rows = np.arange(len(truth))
    out = {}
    for name, r in routers.items():
        scores = np.where(known, r.predict_records(sub, models=models), np.nan)
        out[name] = truth[rows, r.choose(scores, r.predict_cost_records(sub, models=models))]
    for name, pick in pickers.items():
        out[name] = truth[rows, pick(sub, truth, true_cost)]
    out["random"] = np.nanmean(truth, axis=1)  # a uniform pick among the scored models
    out["oracle"] = truth[rows, make_router("oracle").truth_picks(truth, true_cost)]
    return out


def quality_table(scores: dict, bootstrap: int, rng, baselines=BASELINES) -> dict:
    """Mean true score per entry; each router's (and the oracle's) difference to the
    strongest of ``baselines`` (the first on ties), with a paired percentile bootstrap
    interval (the strongest taken in each resample), likewise every other reference router
    (the ``baselines`` missing from ``scores`` are left out); the baseline → oracle gap
    closed."""
    names = list(scores)
    v = np.column_stack([scores[k] for k in names])
    n, j = len(v), {k: i for i, k in enumerate(names)}
    mean = v.mean(axis=0)
    boot = np.array([v[rng.integers(n, size=n)].mean(axis=0) for _ in range(bootstrap)])
    baselines = [b for b in baselines if b in j]
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
            for r in names if r not in baselines},
        "gap_closed": {r: float((mean[j[r]] - base) / span) if span > 0 else float("nan")
                       for r in names if r not in baselines and r != "oracle"},
    }


def max_quality(fitted, scored, models, refs, bootstrap, seed) -> dict:
    """The max-quality tables of the routers ``fitted`` beside the reference routers
    ``refs`` (``fit_references``): one per eval and one pooled over all test prompts. Its
    own bootstrap stream (seeded from ``seed``) leaves the AIQ intervals as they were."""
    pickers, details = references(refs, models)
    seen = details.pop("tasks_in_training")
    rng = np.random.default_rng([seed, 12])
    evals, pooled, dropped = {}, {}, 0
    for name, (sub, truth, n_dropped) in scored.items():
        scores = _quality_scores(fitted, sub, truth, models, pickers)
        evals[name] = {**quality_table(scores, bootstrap, rng),
                       "n_dropped_unscored": n_dropped, "task_seen_in_training": name in seen}
        for k, v in scores.items():
            pooled.setdefault(k, []).append(v)
        dropped += n_dropped
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    return {"evals": evals, "pooled": {**quality_table(pooled, bootstrap, rng),
                                       "n_dropped_unscored": dropped}, **details}
