"""RouterBench-style evaluation: cost-quality points, non-decreasing convex hulls and AIQ.

For each eval (benchmark) of the test records and each router, every willingness to pay λ
of the grid gives one point (x = total true cost of the chosen models over the eval's test
prompts, y = their mean true score). Next to them: every single model's point, the oracle's
point and the **zero router**, the non-decreasing convex hull of the single models (any mix
of two models is reachable by randomising between them), which a learned router must beat.
The oracle is RouterBench's point (best true score, cheapest on ties) *and* a curve: per λ,
argmax λ·s − c on the true scores and costs, so its hull bounds every router's hull from
above and "share of the zero → oracle gap closed" compares like with like.

AIQ, the area under a router's non-decreasing convex hull, is computed **jointly** over the
routers compared (zero router and oracle included), in two definitions:

* ``code`` (RouterBench's released code, the one we report): each hull is extended flat to
  the largest cost among all hulls, integrated from its own cheapest point, ÷ that cost;
* ``paper``: the same integral ÷ (c_max − c_min), c_min the smallest cost among all hulls.

Intervals: percentile bootstrap over the eval's test prompts (same resamples for every
router, so differences are paired). Test prompts missing a score or cost for any model are
dropped from AIQ (counted in the report), so every router is judged on the same prompts.
The gap closed is also given **pooled** over all test prompts (one curve over all evals),
beside the per-eval shares and their unweighted mean.

**Max quality** (with or without costs; most research data has no prices): each router's
pick with no willingness to pay (``router.choose(..., wtp=None)``: best predicted score,
cheaper on ties) among the models with a true score on the prompt, beside ``best-single``
(the model best on the training prompts: the ``best-single`` reference router),
``task-best`` (per task, the model best on that task's training prompts; a model never seen
on the task ranks by its overall training mean, a task absent from training falls back to
best-single) and ``oracle``. Per eval and pooled: the mean true score, each router's
difference to the stronger of best-single and task-best with a paired bootstrap interval
(the stronger one taken in each resample), and the share of that baseline → oracle gap
closed. AIQ needs costs: without them the report holds the max-quality tables only.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

import polars as pl

from ..data.records import UNKNOWN_BENCHMARK
from ..routing.base import true_matrices
from ..routing.registry import learned_routers, make_router
from ..util import validate
from ..util.progress import progress_bar
from .arguments import check_records, check_router_params
from .report import pyplot, write_report as write_files

__all__ = ["ROUTERBENCH_LAMBDAS", "DEFAULT_ROUTERS", "lambda_grid", "nondecreasing_hull",
           "joint_aiq", "evaluate_routerbench", "markdown_report", "report_figures",
           "write_report"]

# RouterBench's own willingness-to-pay grid: 32 values, 1e-10 ... 1e9, log-spaced.
ROUTERBENCH_LAMBDAS = np.logspace(-10, 9, 32)
DEFAULT_ROUTERS = ("mf", "knn", "linear", "lightfm")


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
    """``{name: {"code": AIQ, "paper": AIQ}}`` for hulls compared jointly (see module doc)."""
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


def _complete(records, models, name):
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


def _scored(records, models, name):
    """``(records, truth, n_dropped)`` of one eval's test prompts with a true score for at
    least one model; an eval with none is refused before any router is fitted."""
    truth, _ = true_matrices(records, models)
    scored = ~np.isnan(truth).all(axis=1)
    if not scored.any():
        raise ValueError(f"eval {name!r}: none of its {records.n_prompts} test prompts has a "
                         f"score for any of the {len(models)} models of train and test")
    keep = [p for p, ok in zip(records.prompts, scored) if ok]
    return records.filter(prompts=keep), truth[scored], int((~scored).sum())


def _quality_scores(routers, sub, truth, models, references) -> dict:
    """The true score of each router's max-quality pick among the models scored on each
    prompt of ``sub``, then best-single's, task-best's and the oracle's."""
    best, overall, tasks, task = references
    cost = true_matrices(sub, models)[1]
    known = ~np.isnan(truth)
    true_cost = np.where(np.isnan(cost), 0.0, cost)
    rows = np.arange(len(truth))

    def picked(router, scores, costs):
        return truth[rows, router.choose(np.where(known, scores, np.nan), costs)]

    out = {name: picked(r, r.predict_records(sub, models=models),
                        r.predict_cost_records(sub, models=models))
           for name, r in routers.items()}
    out["best-single"] = picked(best, best.truth_scores(truth, overall), true_cost)
    out["task-best"] = picked(best, best.truth_scores(truth, tasks.get(task, overall)), true_cost)
    out["oracle"] = truth[rows, make_router("oracle").truth_picks(truth, true_cost)]
    return out


def _quality_table(scores: dict, routers, bootstrap: int, rng) -> dict:
    """Mean true score per entry; each router's (and the oracle's) difference to the stronger
    of best-single and task-best, with a paired percentile bootstrap interval; gap closed."""
    names = list(scores)
    v = np.column_stack([scores[k] for k in names])
    n, j = len(v), {k: i for i, k in enumerate(names)}
    mean = v.mean(axis=0)
    boot = np.array([v[rng.integers(n, size=n)].mean(axis=0) for _ in range(bootstrap)])
    base = max(mean[j["best-single"]], mean[j["task-best"]])
    base_b = (np.maximum(boot[:, j["best-single"]], boot[:, j["task-best"]])
              if bootstrap else None)
    span = mean[j["oracle"]] - base
    return {
        "n_prompts": n,
        "baseline": "best-single" if mean[j["best-single"]] >= mean[j["task-best"]]
        else "task-best",
        "mean_score": {k: float(mean[i]) for k, i in j.items()},
        "minus_baseline": {
            r: {"diff": float(mean[j[r]] - base),
                "ci": [float(np.percentile(boot[:, j[r]] - base_b, q)) for q in (2.5, 97.5)]
                if bootstrap else None}
            for r in [*routers, "oracle"]},
        "gap_closed": {r: float((mean[j[r]] - base) / span) if span > 0 else float("nan")
                       for r in routers},
    }


def _max_quality(fitted, scored, models, train, bootstrap, seed) -> dict:
    """The max-quality tables: one per eval and one pooled over all test prompts. Its own
    bootstrap stream (seeded from ``seed``) leaves the AIQ intervals as they were."""
    best = make_router("best-single").fit(train)
    overall = best.train_means_[[best.models_.index(m) for m in models]]
    tasks = _task_means(train, models, overall)
    rng = np.random.default_rng([seed, 12])
    evals, pooled, dropped = {}, {}, 0
    for name, (sub, truth, n_dropped) in scored.items():
        scores = _quality_scores(fitted, sub, truth, models, (best, overall, tasks, name))
        evals[name] = {**_quality_table(scores, fitted, bootstrap, rng),
                       "n_dropped_unscored": n_dropped, "task_seen_in_training": name in tasks}
        for k, v in scores.items():
            pooled.setdefault(k, []).append(v)
        dropped += n_dropped
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    return {"evals": evals, "pooled": {**_quality_table(pooled, fitted, bootstrap, rng),
                                       "n_dropped_unscored": dropped},
            "best_single": models[int(np.argmax(overall))],
            "task_best": {t: models[int(np.argmax(m))] for t, m in sorted(tasks.items())}}


def _eval_one(routers, sub, truth, cost, n_dropped, models, lambdas, boot_weights):
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
    result = {
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
    }
    return result


def evaluate_routerbench(train, test, *, routers: Sequence[str] = DEFAULT_ROUTERS,
                         router_params: Mapping[str, Mapping] | None = None,
                         lambdas: Sequence[float] | None = None, bootstrap: int = 200,
                         seed: int = 0, progress: bool = False) -> dict:
    """Fit each router once on ``train`` (all evals), then evaluate it per eval of ``test``.

    ``test`` prompts are grouped by their benchmark (RouterBench's ``eval_name``); models are
    the training records' models; ``routers`` are learned routers of the registry
    (``routing.registry.learned_routers()``). Returns the report dict that ``write_report``
    saves: ``max_quality`` always; ``evals`` (AIQ per eval) and ``pooled`` (AIQ over all
    test prompts) only when both train and test have costs (``settings.costs``), else ``{}``
    and None.
    """
    check_records("train", train)
    check_records("test", test)
    lambdas = lambda_grid() if lambdas is None else validate.reals("lambdas", lambdas, low=0)
    if not len(lambdas):
        raise ValueError("lambdas must hold at least one willingness to pay, got none")
    bootstrap = validate.integer("bootstrap", bootstrap, low=0)
    seed = validate.integer("seed", seed, low=0)
    routers = validate.texts("routers", routers)
    learned = learned_routers()
    for name in routers:
        if name not in learned:
            raise ValueError(f"{name!r} is not a learned router (choose from {sorted(learned)}); "
                             "the oracle and single models are always in the report")
    params = check_router_params(router_params, routers)
    costed = train.has_costs and test.has_costs
    in_test = set(test.models)
    models = [m for m in train.models if m in in_test]
    if not models:
        raise ValueError("train and test records share no model")
    groups = {}
    for p, b in test.prompt_benchmark.items():
        groups.setdefault(b if b is not None else UNKNOWN_BENCHMARK, []).append(p)
    complete = ({name: _complete(test.filter(prompts=groups[name]), models, name)
                 for name in sorted(groups)} if costed else {})
    scored = {name: _scored(test.filter(prompts=groups[name]), models, name)
              for name in sorted(groups)}
    fitted = {}
    with progress_bar(len(routers), "fitting routers", enabled=progress) as bar:
        for name in routers:
            fitted[name] = make_router(name, **params[name]).fit(train)
            bar.update(1)
    rng = np.random.default_rng(seed)

    def boot_weights(n, rng=rng):
        return [rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
                for _ in range(bootstrap)]

    evals = {}
    with progress_bar(len(complete), "evals", enabled=progress) as bar:
        for name, (records, truth, cost, n_dropped) in complete.items():
            evals[name] = _eval_one(fitted, records, truth, cost, n_dropped, models, lambdas,
                                    boot_weights)
            bar.update(1)
    quality = _max_quality(fitted, scored, models, train, bootstrap, seed)
    pooled = None
    if costed:  # one curve over every eval's complete prompts; its own bootstrap stream
        keep = [p for records, *_ in complete.values() for p in records.prompts]
        pool_rng = np.random.default_rng([seed, 1])
        pooled = _eval_one(fitted, *_complete(test.filter(prompts=keep), models, "all"),
                           models, lambdas, lambda n: boot_weights(n, pool_rng))
        pooled = {k: pooled[k] for k in ("n_prompts", "aiq", "gap_closed")}
    summary = {r: ({"mean_aiq_code": float(np.mean([e["aiq"][r]["code"] for e in evals.values()])),
                    "mean_gap_closed": float(np.mean([e["gap_closed"][r]["share"]
                                                      for e in evals.values()])),
                    "pooled_gap_closed": pooled["gap_closed"][r]["share"],
                    "beats_zero_on": [k for k, e in evals.items()
                                      if e["aiq"][r]["code"] >= e["aiq"]["zero"]["code"]]}
                   if costed else {})
               | {"max_quality": {"pooled_mean_score": quality["pooled"]["mean_score"][r],
                                  "pooled_minus_baseline": quality["pooled"]["minus_baseline"][r],
                                  "pooled_gap_closed": quality["pooled"]["gap_closed"][r]}}
               for r in routers}
    given = {n: params[n] for n in router_params or {}}
    return {"settings": {"routers": list(routers), "router_params": given,
                         "models": models, "n_lambdas": int(len(lambdas)),
                         "lambda_range": [float(lambdas.min()), float(lambdas.max())],
                         "includes_routerbench_lambdas": bool(np.isin(ROUTERBENCH_LAMBDAS, lambdas).all()),
                         "bootstrap": bootstrap, "seed": seed,
                         "costs": costed, "aiq_reported": "code" if costed else None,
                         "train": train.source, "test": test.source,
                         "train_prompts": train.n_prompts, "test_prompts": test.n_prompts,
                         "router_details": {n: r.summary() for n, r in fitted.items()}},
            "evals": evals, "pooled": pooled, "max_quality": quality, "summary": summary}


def _quality_lines(title: str, t: dict) -> list:
    """One max-quality table: mean true score, difference to the baseline, gap closed."""
    dropped = t["n_dropped_unscored"]
    lines = [f"### {title} ({t['n_prompts']} test prompts"
             + (f", {dropped} without any score dropped" if dropped else "") + ")", "",
             f"| router | mean true score | − {t['baseline']} | 95% interval | "
             f"gap {t['baseline']}→oracle closed |", "|---|---|---|---|---|"]
    for r, m in t["mean_score"].items():
        d = t["minus_baseline"].get(r)
        g = t["gap_closed"].get(r)
        lines.append(f"| {r} | {m:.4f} | " + (f"{d['diff']:+.4f}" if d else "") + " | "
                     + (f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]" if d and d["ci"] else "")
                     + " | " + (f"{g:.1%}" if g is not None else "") + " |")
    return lines + [""]


def markdown_report(report: dict) -> str:
    """With costs: one table per eval (AIQ (code, with 95% interval), AIQ (paper), share of
    the gap closed) and a summary; always: the max-quality tables, per eval and pooled."""
    s = report["settings"]
    lines = ["# RouterBench-style evaluation", ""]
    if s["costs"]:
        lines += [f"AIQ computed jointly per eval; reported definition: `code` (RouterBench's code). "
                  f"{s['n_lambdas']} willingness-to-pay values (RouterBench's 32 included); "
                  f"{s['bootstrap']} bootstrap resamples of the test prompts.", ""]
    else:
        lines += [f"The records have no costs, so no AIQ: each router's max-quality picks "
                  f"against best-single, task-best and the oracle; {s['bootstrap']} bootstrap "
                  "resamples of the test prompts.", ""]
    for name, e in report["evals"].items():
        lines += [f"## {name} ({e['n_prompts']} test prompts"
                  + (f", {e['n_dropped_incomplete']} dropped as incomplete" if e["n_dropped_incomplete"] else "")
                  + ")", "",
                  "| router | AIQ (code) | 95% interval | AIQ (paper) | gap zero→oracle closed |",
                  "|---|---|---|---|---|"]
        for r, a in e["aiq"].items():
            g = e["gap_closed"].get(r)
            ci = a["code_ci"]
            lines.append(f"| {r} | {a['code']:.4f} | "
                         + (f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "") + f" | {a['paper']:.4f} | "
                         + (f"{g['share']:.1%}" if g else "") + " |")
        lines.append("")
    if s["costs"]:
        lines += ["## Summary", "",
                  "| router | mean AIQ (code) | mean gap closed | pooled gap closed | "
                  "AIQ ≥ zero router on |", "|---|---|---|---|---|"]
        for r, x in report["summary"].items():
            lines.append(f"| {r} | {x['mean_aiq_code']:.4f} | {x['mean_gap_closed']:.1%} | "
                         f"{x['pooled_gap_closed']:.1%} | "
                         f"{', '.join(x['beats_zero_on']) or 'none'} |")
        lines.append("")
    q = report["max_quality"]
    lines += ["## Max quality (no willingness to pay)", "",
              f"best-single: {q['best_single']}; task-best: "
              + ", ".join(f"{t} → {m}" for t, m in q["task_best"].items()) + ".", ""]
    lines += _quality_lines("all test prompts (pooled)", q["pooled"])
    for name, t in q["evals"].items():
        lines += _quality_lines(name + ("" if t["task_seen_in_training"]
                                        else ", task absent from training"), t)
    return "\n".join(lines)


def report_figures(report: dict):
    """``(name, figure)`` per eval: cost (log axis) vs quality, hulls, single models, oracle.
    None without costs (``report["evals"]`` is empty): a table says it all."""
    plt = pyplot()
    for name, e in report["evals"].items():
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        single = e["single_models"]
        ax.scatter([s["cost"] for s in single], [s["quality"] for s in single], c="grey", s=18,
                   label="single models", zorder=3)
        for s in single:
            ax.annotate(s["model"], (s["cost"], s["quality"]), fontsize=6, alpha=0.7)
        oc = np.array(e["oracle_curve"]["hull"])
        ax.plot(oc[:, 0], oc[:, 1], ":", c="goldenrod", lw=1,
                label=f"oracle curve (AIQ {e['aiq']['oracle']['code']:.3f})")
        z = np.array(e["zero_router"]["hull"])
        ax.plot(z[:, 0], z[:, 1], "k--", lw=1, label=f"zero router (AIQ {e['aiq']['zero']['code']:.3f})")
        for r, d in e["routers"].items():
            h = np.array(d["hull"])
            line, = ax.plot(h[:, 0], h[:, 1], "-", lw=1.5,
                            label=f"{r} (AIQ {e['aiq'][r]['code']:.3f})")
            p = np.array([[q["cost"], q["quality"]] for q in d["points"]])
            ax.scatter(p[:, 0], p[:, 1], s=6, color=line.get_color(), alpha=0.4)
        ax.scatter([e["oracle"]["cost"]], [e["oracle"]["quality"]], marker="*", s=120, c="gold",
                   edgecolors="k", label="oracle", zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel("total cost of the test prompts")
        ax.set_ylabel("mean score")
        ax.set_title(f"{name}: cost-quality")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        yield _slug(name), fig


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def write_report(report: dict, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` and one PNG per eval into ``out_dir``
    (``routerrec.evaluation.report.write_report``: strict JSON, atomic files)."""
    return write_files(out_dir, report, markdown_report(report), report_figures(report))
