"""Fold a new LLM in from a few probe answers, with uncertainty, and evaluate it.

The new model's row ``x = [q, b]`` has the population prior of trained model rows
(``probes.Design``). Given probe answers, its posterior is Gaussian (identity link: exact
ridge/MAP, the same solve as ``Model.add_model``; logistic link: Laplace at the MAP, damped
Newton). A benchmark's accuracy is estimated as the observed probe answers plus the
predicted scores of the other items, divided by the item count; its variance adds the
parameter part ``g^T cov g`` (``g`` the gradient of the predicted sum) and the answer noise of
the unseen items (``p(1-p)`` each for scores in [0, 1]). ``BatchState`` does this for many
new models at once, which is what makes the leave-models-out evaluation fast.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import norm

from ..kernels.als import blas_one_thread
from .probes import Design, select_probes

__all__ = ["FoldInResult", "BatchState", "add_model", "evaluate_coldstart",
           "write_report"]

_NEWTON_STEPS = 8


class BatchState:
    """Posterior of ``n`` new model rows from their probe answers (arrays, not ids).

    ``scope`` (n x n_prompts, bool) marks the items whose accuracy is estimated and that may
    be probed (e.g. the items a held-out model really has); ``cost`` (n_prompts) divides
    the gain of a probe.
    """

    def __init__(self, design: Design, scope: np.ndarray, *, cost: np.ndarray | None = None):
        self.design = design
        self.scope = np.asarray(scope, dtype=bool)
        n = self.scope.shape[0]
        self.cost = np.ones(design.Y.shape[0]) if cost is None else np.asarray(cost, float)
        self.probed = np.zeros_like(self.scope)
        self.idx = np.zeros((n, 0), dtype=np.int64)
        self.vals = np.zeros((n, 0))
        self.x = np.tile(design.prior_mean, (n, 1))
        self.cov = np.tile(design.prior_cov, (n, 1, 1))
        # benchmark one-hot (n_prompts x n_benchmarks) plus an "overall" column
        onehot = np.eye(len(design.benchmarks))[design.groups]
        self.groups = np.column_stack([onehot, np.ones(len(design.groups))])
        self.names = list(design.benchmarks) + ["overall"]

    @property
    def available(self) -> np.ndarray:
        return self.scope & ~self.probed

    # ------------------------------------------------------------ posterior
    def observe(self, idx: np.ndarray, vals: np.ndarray) -> None:
        """Add answers: ``idx`` / ``vals`` of shape (n,) or (n, m); index -1 = no answer."""
        idx = np.asarray(idx, dtype=np.int64).reshape(len(self.x), -1)
        vals = np.asarray(vals, dtype=np.float64).reshape(idx.shape)
        rows = np.repeat(np.arange(len(self.x)), idx.shape[1]).reshape(idx.shape)
        self.probed[rows[idx >= 0], idx[idx >= 0]] = True
        self.idx = np.concatenate([self.idx, idx], axis=1)
        self.vals = np.concatenate([self.vals, vals], axis=1)
        self._solve()

    def _solve(self) -> None:
        d = self.design
        valid = self.idx >= 0
        Yp = d.Y[np.where(valid, self.idx, 0)] * valid[..., None]      # n x s x k1
        off = d.offset[np.where(valid, self.idx, 0)]
        P0, m0 = d.prior_precision, d.prior_mean
        if d.link == "identity":
            H = P0 + np.einsum("nsk,nsl->nkl", Yp, Yp) / d.noise_var
            rhs = P0 @ m0 + np.einsum("nsk,ns->nk", Yp, (self.vals - off) * valid) / d.noise_var
            self.x = np.linalg.solve(H, rhs[..., None])[..., 0]
        else:  # logistic: damped Newton on the convex MAP objective, warm started
            x = self.x
            for _ in range(_NEWTON_STEPS):
                p = 1 / (1 + np.exp(-(np.einsum("nsk,nk->ns", Yp, x) + off)))
                w = p * (1 - p) * valid
                H = P0 + np.einsum("nsk,ns,nsl->nkl", Yp, w, Yp)
                grad = (x - m0) @ P0 + np.einsum("nsk,ns->nk", Yp, (p - self.vals) * valid)
                step = np.linalg.solve(H, grad[..., None])[..., 0]
                x = x - step / np.maximum(1.0, np.linalg.norm(step, axis=1) / 2.0)[:, None]
            p = 1 / (1 + np.exp(-(np.einsum("nsk,nk->ns", Yp, x) + off)))
            H = P0 + np.einsum("nsk,ns,nsl->nkl", Yp, p * (1 - p) * valid, Yp)
            self.x = x
        self.cov = np.linalg.inv(H)

    def set_posterior(self, x: np.ndarray, cov: np.ndarray) -> None:
        """Use a posterior computed elsewhere (``Model.model_posterior``) for one row."""
        self.x, self.cov = np.atleast_2d(x).astype(float), np.asarray(cov, float)[None]

    # ------------------------------------------------------------ estimates
    def _parts(self):
        d = self.design
        pred = d.predict(self.x)
        unseen = self.available  # in scope and not probed
        observed = np.zeros_like(pred)
        rows = np.repeat(np.arange(len(self.x)), self.idx.shape[1]).reshape(self.idx.shape)
        ok = self.idx >= 0
        observed[rows[ok], self.idx[ok]] = self.vals[ok]
        return pred, unseen, observed

    def estimates(self, *, level: float = 0.95) -> dict:
        """Per benchmark (+ ``overall``): estimate, low, high, sd, items, probes; arrays (n, B)."""
        d = self.design
        pred, unseen, observed = self._parts()
        G = self.groups
        scope = self.scope.astype(float)
        n_items = scope @ G
        total = (np.where(unseen, pred, 0.0) + observed * self.probed) @ G
        slope = d.slope(self.x, pred) * unseen
        # gradient of each group's predicted sum w.r.t. the row: (n, B, k1)
        grad = np.einsum("ni,ib,ik->nbk", slope, G, d.Y, optimize=True)
        var_param = np.einsum("nbk,nkl,nbl->nb", grad, self.cov, grad)
        var_noise = (d.cell_var(pred) * unseen) @ G
        safe = np.maximum(n_items, 1)
        est = total / safe
        sd = np.sqrt(var_param + var_noise) / safe
        z = norm.ppf(0.5 + level / 2)
        lo, hi = (-np.inf, np.inf) if not d.bounded else (0.0, 1.0)
        est = np.where(n_items > 0, est, np.nan)
        return {"names": self.names, "estimate": est, "sd": sd,
                "low": np.clip(est - z * sd, lo, hi), "high": np.clip(est + z * sd, lo, hi),
                "items": n_items, "probes": self.probed.astype(float) @ G,
                "gradient": grad}

    # ------------------------------------------------------------ adaptive choice
    def next_probe(self) -> np.ndarray:
        """Per row, the available item that most reduces the summed variance of the
        per-benchmark estimates (each divided by its item count); -1 when none is left."""
        d = self.design
        est = self.estimates()
        u = np.einsum("nbk,nkl->nbl", est["gradient"][:, :-1] / np.maximum(
            est["items"][:, :-1, None], 1), self.cov)              # cov g_b / n_b
        pred = d.predict(self.x)
        proj = np.einsum("ik,nbk->nib", d.Y, u)                    # y_i . cov g_b / n_b
        L = np.linalg.cholesky(self.cov)
        pvar = np.square(np.matmul(d.Y[None], L)).sum(-1)         # y_i^T cov y_i
        # answer noise in the units of the posterior: the training noise (identity link)
        # or 1 / (p(1-p)) (logistic: the Fisher weight at the current estimate)
        noise = d.noise_var if d.link == "identity" else 1 / np.maximum(pred * (1 - pred), 1e-3)
        gain = np.square(proj).sum(-1) / (noise + pvar)
        gain = np.where(self.available, gain / self.cost, -np.inf)
        best = np.argmax(gain, axis=1)
        return np.where(self.available.any(axis=1), best, -1)

    def plan(self, k: int) -> list[int]:
        """``k`` probes for row 0 chosen with no answers (each answer taken as predicted)."""
        chosen = []
        for _ in range(k):
            j = int(self.next_probe()[0])
            if j < 0:
                break
            chosen.append(j)
            self.observe(np.array([j]), self.design.predict(self.x)[:, j])
        return chosen


@dataclass
class FoldInResult:
    """What adding a new LLM gives: the updated model, its predicted score on every prompt,
    and per-benchmark accuracy estimates with ``level`` intervals."""

    name: str
    model: object
    scores: dict
    benchmarks: dict
    n_probes: int
    level: float
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict:
        return {"name": self.name, "n_probes": self.n_probes, "level": self.level,
                "seconds": self.seconds, "benchmarks": self.benchmarks}


def add_model(model, name: str, results: Mapping[str, float], *, level: float = 0.95,
              benchmarks: Sequence[str] | None = None) -> FoldInResult:
    """Fold ``{prompt id: score}`` in as model ``name`` (no refit) and estimate its accuracy
    per benchmark (probe answers + predictions for the other items) with intervals.

    ``benchmarks`` limits the estimates (and their items) to those benchmarks.
    """
    t0 = time.perf_counter()
    with blas_one_thread():  # tiny matrices: threaded BLAS only adds contention (400x measured)
        return _add_model(model, name, results, level, benchmarks, t0)


def _add_model(model, name, results, level, benchmarks, t0) -> FoldInResult:
    new = model.add_model(name, results)
    q, b, cov = model.model_posterior(results)
    design = Design(model)
    scope = np.ones((1, len(model.prompts)), dtype=bool)
    if benchmarks is not None:
        scope[0] = np.isin(np.asarray(model.prompt_benchmark, dtype=object), list(benchmarks))
    state = BatchState(design, scope)
    idx = model.prompt_indices(list(results))
    state.observe(idx[None], np.asarray(list(results.values()), float)[None])
    if cov is not None:  # the link's own solver gave the posterior: use it as is
        state.set_posterior(np.append(q, b), cov)
    est = state.estimates(level=level)
    table = {}
    for j, bench in enumerate(est["names"]):
        if est["items"][0, j] == 0:
            continue
        table[bench] = {k: float(est[k][0, j]) for k in ("estimate", "low", "high", "sd")}
        table[bench].update(items=int(est["items"][0, j]), probes=int(est["probes"][0, j]))
    scores = dict(zip(model.prompts, new.predict(models=[name])[:, 0].tolist()))
    return FoldInResult(name=name, model=new, scores=scores, benchmarks=table,
                        n_probes=len(results), level=level,
                        seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------ evaluation
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
                       method: str = "als", params: Mapping | None = None, seed: int = 0,
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
    """
    with blas_one_thread():  # many small solves: threaded BLAS only adds contention
        return _evaluate(records, holdout_models, budgets, strategies, method, params, seed,
                         level, max_models, progress)


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
    t0 = time.perf_counter()
    model = fit(train, method=method, **dict(params or {}))
    fit_seconds = time.perf_counter() - t0
    scored = held if max_models is None else held[:max_models]
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
    return {"method": method, "params": model.params, "seed": seed,
            "holdout_models": holdout_models, "n_models": len(models), "n_heldout": n_out,
            "n_scored": len(scored), "n_prompts": len(model.prompts),
            "benchmarks": design.benchmarks, "budgets": list(budgets),
            "strategies": list(strategies), "level": level, "fit_seconds": fit_seconds,
            "best_trained_model": best_name, "results": results}


def write_report(report: dict, out: str | Path) -> list[Path]:
    """``report.json``, ``report.md`` and PNG plots of error / AUC against budget in ``out``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..util.files import atomic_write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = report["results"]
    lines = [f"# Cold start: {report['method']} on {report['n_prompts']} prompts, "
             f"{report['n_scored']} held-out models scored", "",
             "| strategy | probes | MAE (points) | 95% CI | naive MAE | ratio | AUC | "
             "interval coverage | routing gain (points) |", "|---|---|---|---|---|---|---|---|---|"]
    for s, per in res.items():
        for k, c in per.items():
            lines.append(f"| {s} | {k} | {c['mae']:.2f} | {c['mae_ci'][0]:.2f}–{c['mae_ci'][1]:.2f}"
                         f" | {c['naive_mae']:.2f} | {c['ratio_to_naive']:.2f} | {c['auc']:.3f} |"
                         f" {c['coverage']:.2f} | {c['routing_gain']:.2f} |")
    paths = [out / "report.json", out / "report.md"]
    atomic_write(paths[0], lambda p: p.write_text(json.dumps(report, indent=1)))
    atomic_write(paths[1], lambda p: p.write_text("\n".join(lines) + "\n"))
    for key, label, name in (("mae", "per-benchmark accuracy MAE (points)", "error_vs_budget"),
                             ("auc", "AUC of unprobed cells", "auc_vs_budget")):
        fig, ax = plt.subplots(figsize=(6, 4))
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
        path = out / f"{name}.png"
        atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)
        paths.append(path)
    return paths
