"""Leave-models-out evaluation of cold start: hold models out, probe them, fold them in,
and compare the estimated accuracies with the truth."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ..coldstart.design import BatchState, Design
from ..coldstart.probes import STRATEGIES, default_strategy, select_probes
from ..kernels.linalg import blas_one_thread
from ..util import validate
from .arguments import check_records
from .report import pyplot, write_report as write_files

__all__ = ["evaluate_coldstart", "markdown_report", "report_figures", "write_report"]


def _row_auc(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUC of each row's predictions on its masked binary cells (NaN without both classes)."""
    from scipy.stats import rankdata

    out = np.full(len(truth), np.nan)
    for r in range(len(truth)):
        t, p = truth[r, mask[r]], pred[r, mask[r]]
        pos = int(t.sum())
        if 0 < pos < len(t):
            out[r] = (rankdata(p)[t > 0.5].sum() - pos * (pos + 1) / 2) / (pos * (len(t) - pos))
    return out


def _boot(values: np.ndarray, rng, n: int = 200) -> list[float]:
    """95% percentile bootstrap interval of the mean over rows (held-out models)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan")] * 2
    means = values[rng.integers(0, values.size, (n, values.size))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _score_cell(state: BatchState, truth, has, truth_acc, best, rng, level) -> dict:
    """Errors of one (strategy, budget): fold-in vs the naive per-benchmark mean of probes."""
    est = state.estimates(level=level)
    nb = truth_acc.shape[1]
    e, lo, hi = est["estimate"][:, :nb], est["low"][:, :nb], est["high"][:, :nb]
    ok = np.isfinite(truth_acc)
    err = np.where(ok, np.abs(e - truth_acc), np.nan) * 100
    probe_sum = (np.nan_to_num(truth) * state.probed) @ state.groups[:, :nb]
    probe_n = state.probed.astype(float) @ state.groups[:, :nb]
    overall = probe_sum.sum(1, keepdims=True) / np.maximum(probe_n.sum(1, keepdims=True), 1)
    naive = np.where(probe_n > 0, probe_sum / np.maximum(probe_n, 1), overall)
    naive_err = np.where(ok, np.abs(naive - truth_acc), np.nan) * 100
    per_model = np.nanmean(err, axis=1)
    naive_model = np.nanmean(naive_err, axis=1)
    pred = state.design.predict(state.x)
    unseen = has & ~state.probed
    auc = _row_auc(np.nan_to_num(truth), pred, unseen)
    # routing value: per unprobed prompt, route between the best trained model and the new
    # one by predicted score; gain (points) over always using the best trained model
    both = unseen & np.isfinite(best["truth"])[None, :]
    pick_new = pred > best["pred"][None, :]
    base = np.nan_to_num(best["truth"])[None, :]
    routed = np.where(pick_new, np.nan_to_num(truth), base)
    oracle = np.maximum(np.nan_to_num(truth), base)
    n_both = np.maximum(both.sum(1), 1)
    gain = ((routed - base) * both).sum(1) / n_both * 100
    gain_oracle = ((oracle - base) * both).sum(1) / n_both * 100
    cover = np.where(ok, (truth_acc >= lo) & (truth_acc <= hi), np.nan)
    return {
        "mae": float(np.nanmean(per_model)), "mae_ci": _boot(per_model, rng),
        "naive_mae": float(np.nanmean(naive_model)), "naive_mae_ci": _boot(naive_model, rng),
        "ratio_to_naive": float(np.nanmean(per_model) / np.nanmean(naive_model)),
        "mae_by_benchmark": {b: float(np.nanmean(err[:, j]))
                             for j, b in enumerate(state.names[:nb])},
        "auc": float(np.nanmean(auc)), "auc_ci": _boot(auc, rng),
        "coverage": float(np.nanmean(cover)),
        "interval_width": float(np.nanmean(np.where(ok, hi - lo, np.nan)) * 100),
        "routing_gain": float(np.mean(gain)), "routing_gain_ci": _boot(gain, rng),
        "routing_gain_oracle": float(np.mean(gain_oracle)),
        "probes": float(state.probed.sum(1).mean()),
    }


def evaluate_coldstart(records, *, holdout_models: float = 0.2,
                       budgets: Sequence[int] = (10, 25, 50, 100),
                       strategies: Sequence[str] = ("random", "stratified", "dopt", "info",
                                                    "anchors", "adaptive"),
                       method: str = "auto", params: Mapping | None = None, seed: int = 0,
                       level: float = 0.95, max_models: int | None = None,
                       progress: bool = False) -> dict:
    """Leave-models-out evaluation of adding a new LLM from a few probes.

    A seeded ``holdout_models`` share of the models is removed, the method is fitted on the
    others, and for every held-out model and (strategy, budget) only the probes' answers
    are revealed. Probes are drawn among the items the held-out model really has; random
    and stratified probes are drawn per model. Reports per-benchmark accuracy MAE (points;
    accuracy on the benchmark's items in ``records``), the naive estimate's MAE (mean probe
    answer per benchmark), the AUC of predicted cells on unprobed items, the coverage of
    the intervals and the routing gain of the added model, each with bootstrap intervals
    over held-out models. ``max_models`` caps the held-out models scored (speed).

    Every argument is checked before the fit, and so are the budgets against the data: a
    held-out model must have answered at least ``max(budgets)`` prompts of the training models.
    """
    check_records("records", records)
    holdout_models = validate.fraction("holdout_models", holdout_models)
    budgets = validate.integers("budgets", budgets, low=1)
    strategies = validate.choices("strategies", strategies, STRATEGIES)
    seed = validate.integer("seed", seed, low=0)
    level = validate.fraction("level", level)
    if max_models is not None:
        validate.integer("max_models", max_models, low=1)
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of parameter name -> value, got "
                        f"{type(params).__name__}")
    from ..methods import check_params

    check_params(method, dict(params or {}))  # an unknown or bad parameter, before the fit
    with blas_one_thread():  # many small solves: threaded BLAS only adds contention
        return _evaluate(records, holdout_models, budgets, strategies, method, params, seed,
                         level, max_models, progress)


def _check_budgets(held, train, budget: int) -> None:
    """Probes are drawn among the training prompts a held-out model answered: refuse, before
    the fit, a budget that no held-out model can be given."""
    known = held.table.filter(pl.col("prompt").is_in(train.prompts))
    most = int(known.group_by("model").len().get_column("len").max() or 0)
    if most < budget:
        raise ValueError(f"budgets up to {budget} probes, but no held-out model answered that "
                         f"many of the {train.n_prompts} prompts of the training models (at "
                         f"most {most}): give budgets of at most {most}")


def _evaluate(records, holdout_models, budgets, strategies, method, params, seed, level,
              max_models, progress) -> dict:
    from ..methods import fit
    from ..util.progress import progress_bar

    rng = np.random.default_rng(seed)
    models = np.array(records.models)
    n_out = int(round(holdout_models * len(models)))
    if not 0 < n_out < len(models) - 2:
        raise ValueError(f"holdout_models={holdout_models} leaves {n_out} of {len(models)} "
                         "models out; need at least one out and a few in")
    out = np.sort(rng.permutation(len(models))[:n_out])
    held = [str(m) for m in models[out]]
    held_out = set(held)
    train = records.filter(models=[m for m in records.models if m not in held_out])
    scored = held if max_models is None else held[:max_models]
    _check_budgets(records.filter(models=scored), train, max(budgets))
    t0 = time.perf_counter()
    model = fit(train, method=method, **dict(params or {}))
    fit_seconds = time.perf_counter() - t0
    # truth: held-out models x model.prompts (NaN = not evaluated)
    sub = records.filter(models=scored).table
    known = sub.filter(sub["prompt"].is_in(model.prompts))
    truth = np.full((len(scored), len(model.prompts)), np.nan)
    r = {m: i for i, m in enumerate(scored)}
    truth[[r[m] for m in known["model"]], model.prompt_indices(known["prompt"].to_list())] = (
        known["score"].to_numpy())
    has = np.isfinite(truth)
    keep = has.sum(1) >= max(budgets)
    truth, has, scored = truth[keep], has[keep], [s for s, k in zip(scored, keep) if k]
    design = Design(model)
    nb = len(design.benchmarks)
    onehot = np.eye(nb)[design.groups]
    cnt = has.astype(float) @ onehot
    truth_acc = np.where(cnt > 0, (np.nan_to_num(truth) @ onehot) / np.maximum(cnt, 1), np.nan)
    counts = np.asarray(train.matrix().scores.getnnz(axis=0))
    best_j = int(np.argmax(np.where(counts >= 0.9 * counts.max(), model.model_bias, -np.inf)))
    best_name = model.models[best_j]
    bt = train.filter(models=[best_name]).table
    best_truth = np.full(len(model.prompts), np.nan)
    best_truth[model.prompt_indices(bt["prompt"].to_list())] = bt["score"].to_numpy()
    best = {"truth": best_truth, "pred": model.predict(models=[best_name])[:, 0]}
    patterns, inverse = np.unique(has, axis=0, return_inverse=True)
    results = {}
    work = [(s, k) for s in strategies if s != "adaptive" for k in budgets]
    with progress_bar(len(work) + ("adaptive" in strategies), "cold start",
                      enabled=progress) as bar:
        for strategy, k in work:
            t0 = time.perf_counter()
            idx = np.empty((len(scored), k), dtype=np.int64)
            for p, pattern in enumerate(patterns):
                rows = np.flatnonzero(inverse == p)
                exclude = [model.prompts[i] for i in np.flatnonzero(~pattern)]
                per_model = strategy in ("random", "stratified")
                for j, row in enumerate(rows if per_model else rows[:1]):
                    ids = select_probes(model, k, strategy=strategy, exclude=exclude,
                                        seed=seed * 100003 + int(row))
                    target = [row] if per_model else rows
                    idx[target] = model.prompt_indices(ids)
            state = BatchState(design, has)
            state.observe(idx, np.take_along_axis(truth, idx, axis=1))
            cell = _score_cell(state, truth, has, truth_acc, best, rng, level)
            results.setdefault(strategy, {})[k] = {**cell, "seconds": time.perf_counter() - t0}
            bar.update(1)
        if "adaptive" in strategies:
            t0 = time.perf_counter()
            state = BatchState(design, has)
            for step in range(1, max(budgets) + 1):
                j = state.next_probe()
                state.observe(j, truth[np.arange(len(j)), np.maximum(j, 0)])
                if step in budgets:
                    cell = _score_cell(state, truth, has, truth_acc, best, rng, level)
                    results.setdefault("adaptive", {})[step] = {
                        **cell, "seconds": time.perf_counter() - t0}
            bar.update(1)
    return {"method": model.method, "params": model.params, "seed": seed,
            "holdout_models": holdout_models, "n_models": len(models), "n_heldout": n_out,
            "n_scored": len(scored), "n_prompts": len(model.prompts),
            "benchmarks": design.benchmarks, "budgets": list(budgets),
            "strategies": list(strategies), "default_strategy": default_strategy(model),
            "level": level, "fit_seconds": fit_seconds,
            "best_trained_model": best_name, "results": results}


def markdown_report(report: dict) -> str:
    """One row per (strategy, probes): errors, AUC, interval coverage and routing gain."""
    lines = [f"# Cold start: {report['method']} on {report['n_prompts']} prompts, "
             f"{report['n_scored']} held-out models scored", "",
             "| strategy | probes | MAE (points) | 95% CI | naive MAE | ratio | AUC | "
             "interval coverage | routing gain (points) |", "|---|---|---|---|---|---|---|---|---|"]
    for s, per in report["results"].items():
        for k, c in per.items():
            lines.append(f"| {s} | {k} | {c['mae']:.2f} | {c['mae_ci'][0]:.2f}–{c['mae_ci'][1]:.2f}"
                         f" | {c['naive_mae']:.2f} | {c['ratio_to_naive']:.2f} | {c['auc']:.3f} |"
                         f" {c['coverage']:.2f} | {c['routing_gain']:.2f} |")
    return "\n".join(lines) + "\n"


def report_figures(report: dict):
    """``(name, figure)``: per-benchmark error and AUC of unprobed cells against the budget."""
    plt = pyplot()
    res = report["results"]
    for key, label, name in (("mae", "per-benchmark accuracy MAE (points)", "error_vs_budget"),
                             ("auc", "AUC of unprobed cells", "auc_vs_budget")):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for s, per in res.items():
            ks = sorted(per, key=int)
            ax.plot(ks, [per[k][key] for k in ks], marker="o", label=s)
        if key == "mae":
            naive = res[next(iter(res))]
            ks = sorted(naive, key=int)
            ax.plot(ks, [naive[k]["naive_mae"] for k in ks], "k--", label="naive (first strategy)")
        ax.set_xlabel("probes (total over benchmarks)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        yield name, fig


def write_report(report: dict, out: str | Path) -> list[Path]:
    """``report.json``, ``report.md`` and PNG plots of error / AUC against budget in ``out``
    (``routerrec.evaluation.report.write_report``: strict JSON, atomic files); returns their
    paths in that order."""
    files = write_files(out, report, markdown_report(report), report_figures(report))
    return [files["json"], files["markdown"], *files["plots"]]
