"""Replay evaluation of online learning (issue 15): a record set streamed as requests.

Prompts with text are put in a seeded order; the first ``train_share`` of them, with the
models present from the start (the "old" models), fit the initial ``mf`` router; the rest
arrive one request at a time. A seeded ``share_new_models`` of the models is held out and
joins mid-stream at the ``arrivals`` fractions of the stream (round-robin). Every decision is
scored with the recorded score of the chosen model, so a request's candidates are the models
present at that time that have a recorded score on its prompt (requests where no old model
has one are dropped). The online router sees feedback for a seeded ``feedback_share`` of its
requests, ``feedback_delay`` requests late (0: before the next request).

Compared on the same stream: ``online`` (``routerrec.online.OnlineRouter``, the policy),
``fixed`` (the same fitted router, never updated, new models never used), ``probe-50``
(each new model folded in the moment it arrives from ``probes`` offline probes chosen by
``select_probes`` among the training prompts it answered, then never updated),
``probe-matched`` (the same with as many probes as the online router's explored calls to
that model: equal probing cost) and the ``oracle`` (per request the best candidate's
recorded score). The probe runs' probes are free information (offline calls whose answers
are known at once and cost no regret), while every exploring call of ``online`` is a real
request whose regret is counted; ``probe_calls`` reports the calls each spent on learning
the new models. Picks are at maximum quality (no willingness to pay); regret is in score
units, summed over requests.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Mapping, Sequence

import numpy as np

from ..coldstart.probes import select_probes
from ..online.explore import POLICIES, make_policy
from ..routing.base import true_matrices
from ..util import validate
from .arguments import check_records
from .report import pyplot

__all__ = ["replay", "best_per_task", "markdown_report", "report_figure", "SOURCES"]

# requests per point of the traffic-share curves, and the trailing window (requests of one
# task) in which a best-on-task new model must hold more than half of the task's traffic
SHARE_WINDOW = 50
CURVE_POINTS = 200
SOURCES = ("explored", "new without feedback", "new unconverged", "new converged",
           "trained", "trained, prompt seen")


def replay(records, *, seed: int = 0, share_new_models: float = 0.2,
           arrivals: Sequence[float] = (0.25, 0.5), feedback_share: float = 1.0,
           feedback_delay: int = 0, train_share: float = 0.3, policy: str = "directed",
           probes: int = 50, new_models: Sequence[str] | None = None,
           router_params: Mapping | None = None, online_params: Mapping | None = None,
           policy_params: Mapping | None = None) -> dict:
    """Replay ``records`` as a request stream and compare online learning with its baselines.

    Returns a JSON-ready report: per router the cumulative regret against the oracle (total
    and as a curve), online's regret against the best never-updated router, and per new
    model its traffic share over time, requests until its posterior converged, its accuracy
    estimate error and, where it is the best model of a task, requests until it held most of
    that task's traffic, and online's regret against fixed split by why online picked
    (``regret_sources``). ``new_models`` names the held-out models instead of drawing them;
    ``policy_params`` are the policy's keywords (e.g. ``{"stop": 0.05}`` for ``directed``).
    """
    from ..online import OnlineRouter

    check_records("records", records)
    seed = validate.integer("seed", seed, low=0)
    policy = validate.choice("policy", policy, sorted(POLICIES))
    policy_params = dict(policy_params or {})
    make_policy(policy, policy_params)  # checked before any fit
    online_params = dict(online_params or {})

    def make_online(router, train):
        return OnlineRouter(router, records=train, policy=make_policy(policy, policy_params),
                            seed=seed, **online_params)

    settings = _settings(records, seed=seed, share_new_models=share_new_models,
                         arrivals=arrivals, feedback_share=feedback_share,
                         feedback_delay=feedback_delay, train_share=train_share, policy=policy,
                         probes=probes, new_models=new_models, router_params=router_params)
    settings["policy_params"] = policy_params
    return _replay(records, settings, make_online)


def _settings(records, *, seed, share_new_models, arrivals, feedback_share, feedback_delay,
              train_share, policy, probes, new_models, router_params) -> dict:
    """The checked settings (every check before any fit)."""
    arrivals = validate.reals("arrivals", arrivals, low=0, high=1)
    if len(arrivals) == 0:
        raise ValueError("arrivals must hold at least one stream fraction, got none")
    if new_models is not None:
        new_models = list(validate.choices("new_models", new_models, records.models))
    if router_params is not None and not isinstance(router_params, Mapping):
        raise TypeError(f"router_params must be a mapping of mf router parameters, got "
                        f"{type(router_params).__name__}")
    return {"seed": seed, "share_new_models": validate.fraction("share_new_models",
                                                                 share_new_models),
            "arrivals": [float(a) for a in arrivals],
            "feedback_share": validate.real("feedback_share", feedback_share, low=0, high=1),
            "feedback_delay": validate.integer("feedback_delay", feedback_delay, low=0),
            "train_share": validate.real("train_share", train_share, low=0.05, high=0.9),
            "policy": policy, "probes": validate.integer("probes", probes, low=1),
            "new_models": new_models, "router_params": dict(router_params or {})}


def _split(records, s: dict):
    """(train records, stream prompt ids, old models, new models in arrival order)."""
    rng = np.random.default_rng(s["seed"])
    prompts = [p for p, t in zip(records.prompts, records.text_of(records.prompts))
               if t is not None]
    order = [prompts[i] for i in rng.permutation(len(prompts))]
    models = records.models
    if s["new_models"] is not None:
        new = list(s["new_models"])
    else:
        n_new = int(round(s["share_new_models"] * len(models)))
        new = [models[i] for i in rng.permutation(len(models))[:n_new]]
    old = [m for m in models if m not in set(new)]
    n_train = int(round(s["train_share"] * len(order)))
    if len(old) < 2 or n_train < 10 or len(order) - n_train < 10:
        raise ValueError(f"{len(order)} prompts with text and {len(old)} models from the start "
                         f"leave too little to replay: need at least 2 models from the start, "
                         f"10 training prompts and 10 streamed ones")
    train = records.filter(prompts=order[:n_train], models=old)
    return train, order[n_train:], old, new


def _replay(records, s: dict, make_online: Callable) -> dict:
    from ..routing.registry import make_router

    t0 = time.perf_counter()
    train, stream, old, new = _split(records, s)
    models = old + new
    sub = records.filter(prompts=stream)
    rows = {p: i for i, p in enumerate(sub.prompts)}
    truth, costs = true_matrices(sub, models=models)
    idx = np.array([rows[p] for p in stream])
    truth, costs = truth[idx], costs[idx]
    keep = np.isfinite(truth[:, :len(old)]).any(axis=1)  # the fixed router needs a candidate
    stream = [p for p, k in zip(stream, keep) if k]
    truth, costs = truth[keep], costs[keep]
    n = len(stream)
    texts = records.text_of(stream)
    arrival = np.zeros(len(models), dtype=np.int64)
    for k in range(len(new)):
        arrival[len(old) + k] = int(round(s["arrivals"][k % len(s["arrivals"])] * n))
    available = np.isfinite(truth) & (np.arange(n)[:, None] >= arrival[None, :])
    router = make_router("mf", seed=s["seed"], **s["router_params"]).fit(train)
    fit_seconds = time.perf_counter() - t0

    predicted = np.full(truth.shape, np.nan)
    predicted[:, :len(old)] = router.predict(texts, models=old)
    pred_costs = np.full(truth.shape, np.nan)
    pred_costs[:, :len(old)] = router.predict_cost(texts, models=old)
    latent = router.latent_rows(router.encoder_.transform(texts))

    def routed(scores):
        return router.choose(np.where(available, scores, np.nan), pred_costs)

    picks = {"fixed": routed(predicted)}
    probe_name = "probe-50" if s["probes"] == 50 else f"probe-{s['probes']}"
    probe_scores, probe_calls = predicted.copy(), {probe_name: 0, "probe-matched": 0}
    for k, name in enumerate(new):
        col, used = _probe_column(router, records, train, name, s["probes"], latent,
                                     s["seed"] + k)
        probe_scores[:, len(old) + k] = col
        probe_calls[probe_name] += used
    picks[probe_name] = routed(probe_scores)

    t1 = time.perf_counter()
    online_picks, explored, converged, final, sources = _stream_online(
        make_online(router, train), texts, truth, costs, available, models, new, arrival, s)
    online_seconds = time.perf_counter() - t1
    picks["online"] = online_picks
    matched = predicted.copy()
    for k, name in enumerate(new):
        calls = int((explored & (online_picks == len(old) + k)).sum())
        if calls:
            col, used = _probe_column(router, records, train, name, calls, latent,
                                         s["seed"] + k)
            matched[:, len(old) + k] = col
            probe_calls["probe-matched"] += used
    probe_calls["online"] = int(sum(explored & (online_picks >= len(old))))
    picks["probe-matched"] = routed(matched)
    picks["oracle"] = router.choose(np.where(available, truth, np.nan),
                                    np.nan_to_num(costs, nan=0.0))
    report = _summarise(picks, truth, available, stream, records, models, new, arrival,
                        explored, converged, final, probe_scores, s)
    report["regret_sources"] = _regret_sources(picks, truth, sources)
    report.update({"n_stream": n, "n_train_prompts": train.n_prompts, "models": old,
                   "probe_calls": probe_calls,
                   "new_models": new, "arrival_steps": {m: int(a) for m, a in
                                                        zip(new, arrival[len(old):])},
                   "method": router.method_, "settings": s,
                   "seconds": {"fit": fit_seconds, "online": online_seconds,
                               "total": time.perf_counter() - t0}})
    return report


def _regret_sources(picks, truth, sources) -> dict:
    """Online's regret minus fixed's, split by why online picked (``_source``): per source the
    decisions where online's pick differs from fixed's and the answers it lost on them."""
    rows = np.arange(len(truth))
    lost = truth[rows, picks["fixed"]] - truth[rows, picks["online"]]
    differ = picks["fixed"] != picks["online"]
    return {k: {"decisions": int((differ & (sources == k)).sum()),
                "regret": float(lost[sources == k].sum())} for k in SOURCES}


def _probe_column(router, records, train, name, k, latent, seed):
    """Predicted scores of new model ``name`` on the stream after an offline probe run of
    ``k`` probes (``select_probes`` among the training prompts it answered; recorded scores;
    ``Model.add_model`` fold-in) and the number of probes used."""
    answered = records.filter(prompts=train.prompts, models=[name]).matrix().prompts
    exclude = sorted(set(train.prompts) - set(answered))
    k = min(k, len(answered))
    chosen = select_probes(router.completion_, k, exclude=exclude, seed=seed)
    truth, _ = true_matrices(records.filter(prompts=chosen, models=[name]), models=[name])
    got = dict(zip(records.filter(prompts=chosen, models=[name]).prompts, truth[:, 0]))
    folded = router.completion_.add_model(name, got)
    return folded.score_rows(latent[:, :-1], latent[:, -1], models=[name])[:, 0], k


def _stream_online(online, texts, truth, costs, available, models, new, arrival, s):
    """Route the stream one request at a time through the online router, delivering the
    revealed feedback ``feedback_delay`` requests late; returns its picks, which were
    explored, the step each new model's posterior first converged and the final posteriors."""
    n, col = len(texts), {m: j for j, m in enumerate(models)}
    reveal = np.random.default_rng([s["seed"], 1]).random(n) < s["feedback_share"]
    joins = {}
    for j in range(len(models) - len(new), len(models)):
        joins.setdefault(int(arrival[j]), []).append(models[j])
    picks, explored = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    sources = np.empty(n, dtype=object)
    pending, converged, waiting, fed = deque(), {}, [], set()
    for t in range(n):
        while pending and pending[0][0] <= t:
            _, request_id, score, cost, text = pending.popleft()
            online.feedback(request_id=request_id, score=score, cost=cost)
            fed.add(text)
        for name in joins.get(t, ()):
            online.add_model(name)
            waiting.append(name)
        candidates = [models[j] for j in np.flatnonzero(available[t])]
        decision = online.route([texts[t]], models=candidates)[0]
        picks[t], explored[t] = col[decision.model], decision.explored
        sources[t] = _source(online, decision, new, texts[t] in fed)
        if reveal[t]:
            cost = costs[t, picks[t]]
            pending.append((t + 1 + s["feedback_delay"], decision.request_id,
                            float(truth[t, picks[t]]), float(cost) if np.isfinite(cost) else None,
                            texts[t]))
        for name in [m for m in waiting if online.posterior(m)["converged"]]:
            converged[name] = t
            waiting.remove(name)
    final = {m: online.posterior(m) for m in new}
    return picks, explored, converged, final, sources


def _source(online, decision, new, seen: bool) -> str:
    """Why online made this pick (``SOURCES``): an exploring pick; a greedy pick of a new
    model with no feedback yet, with some but not converged, or converged; or of a trained
    model on a prompt whose text had feedback before (its row folded in) or had none (only
    the columns' updates can make it differ from fixed's pick)."""
    if decision.explored:
        return "explored"
    if decision.model not in new:
        return "trained, prompt seen" if seen else "trained"
    post = online.posterior(decision.model)
    if post["converged"]:
        return "new converged"
    return "new unconverged" if post["n_feedback"] else "new without feedback"


def _summarise(picks, truth, available, stream, records, models, new, arrival, explored,
               converged, final, probe_scores, s) -> dict:
    n = len(stream)
    rows = np.arange(n)
    got = {r: truth[rows, p] for r, p in picks.items()}
    regret = {r: np.cumsum(got["oracle"] - g) for r, g in got.items() if r != "oracle"}
    probe_name = next(r for r in picks if r.startswith("probe-") and r != "probe-matched")
    step = max(1, n // CURVE_POINTS)
    at = list(range(step - 1, n, step))
    at += [n - 1] if at[-1] != n - 1 else []
    best_fixed = min(regret[r][-1] for r in ("fixed", probe_name))
    bench = records.prompt_benchmark
    tasks = np.array([bench.get(p) or "" for p in stream])
    best = best_per_task(records)
    return {
        "routers": {r: {"regret": float(c[-1]), "mean_score": float(got[r].mean())}
                    for r, c in regret.items()},
        "oracle_mean_score": float(got["oracle"].mean()),
        "regret_vs_best_fixed": float(regret["online"][-1] - best_fixed),
        "explored_share": float(explored.mean()),
        "curves": {"step": [t + 1 for t in at],
                   **{r: [float(c[t]) for t in at] for r, c in regret.items()}},
        "best_per_task": best,
        "new": {m: _new_model(m, models.index(m), picks, truth, available, tasks, arrival,
                              explored, converged, final, probe_scores,
                              [t for t, b in best.items() if b == m]) for m in new},
    }


def best_per_task(records) -> dict:
    """``{benchmark: model}`` with the highest mean recorded score on all of the benchmark's
    prompts, among models that answered at least half as many of them as the most complete
    model (a model seen on a handful of prompts is not "the best" by luck)."""
    import polars as pl

    per = (records.table.filter(pl.col("benchmark").is_not_null())
           .group_by("benchmark", "model").agg(pl.col("score").mean(), pl.len().alias("n")))
    per = per.filter(pl.col("n") >= 0.5 * pl.col("n").max().over("benchmark"))
    top = per.sort(["score", "model"], descending=[True, False]).group_by("benchmark").first()
    return dict(sorted(zip(top["benchmark"].to_list(), top["model"].to_list())))


def _new_model(name, j, picks, truth, available, tasks, arrival, explored, converged, final,
               probe_scores, best_tasks) -> dict:
    """Traffic, convergence, estimate error and best-task takeover of one new model."""
    start = int(arrival[j])
    after = np.arange(len(tasks)) >= start
    cells = available[:, j] & after
    true_mean = float(truth[cells, j].mean()) if cells.any() else float("nan")
    post = final[name]
    share = {r: _windowed(picks[r][after] == j, available[after, j])
             for r in ("online", "oracle")}
    takeovers = {}
    for task in best_tasks:
        on = after & (tasks == task) & available[:, j]
        if on.any():
            takeovers[task] = {r: _takeover(picks[r][on] == j, np.flatnonzero(on) - start)
                               for r in picks}
    return {
        "arrival_step": start, "requests_available": int(cells.sum()),
        "calls": int((picks["online"] == j).sum()),
        "explored_calls": int((explored & (picks["online"] == j)).sum()),
        "converged_after": None if name not in converged else int(converged[name] - start),
        "posterior": post, "true_mean": true_mean,
        "estimate_error": abs(float(post["mean_score"]) - true_mean) * 100,
        "probe_estimate_error": abs(float(np.mean(probe_scores[cells, j])) - true_mean) * 100
        if cells.any() else None,
        "share": share, "best_tasks": takeovers,
    }


def _windowed(chosen: np.ndarray, counted: np.ndarray) -> dict:
    """Share of the requests a model could take that it took, per block of SHARE_WINDOW."""
    starts = list(range(0, len(chosen), SHARE_WINDOW))
    return {"start": starts,
            "share": [float(chosen[a:a + SHARE_WINDOW].sum() /
                            max(1, counted[a:a + SHARE_WINDOW].sum())) for a in starts]}


def _takeover(chosen: np.ndarray, since_arrival: np.ndarray) -> dict:
    """On one task's requests since arrival: requests until the model's share of the trailing
    SHARE_WINDOW task requests first passes one half (None: never), and its share over the
    last SHARE_WINDOW of them."""
    w = min(SHARE_WINDOW, len(chosen))
    trailing = np.convolve(chosen.astype(float), np.ones(w), "valid") / w
    hit = np.flatnonzero(trailing > 0.5)
    return {"requests_until_most": None if hit.size == 0 else int(since_arrival[hit[0] + w - 1]),
            "task_requests": int(len(chosen)), "final_share": float(trailing[-1])}


def markdown_report(report: dict) -> str:
    """Regret per router, then one row per new model."""
    s = report["settings"]
    lines = [f"# Online replay: {report['n_stream']} requests, {len(report['models'])} models from "
             f"the start, {len(report['new_models'])} joining (seed {s['seed']}, policy "
             f"{s['policy']}, feedback share {s['feedback_share']}, delay {s['feedback_delay']})",
             "", f"Oracle mean score {report['oracle_mean_score']:.4f}; online explored "
             f"{100 * report['explored_share']:.1f}% of requests; online regret minus the best "
             f"never-updated router's: {report['regret_vs_best_fixed']:+.2f}.", "",
             "| router | cumulative regret vs oracle | mean score |", "|---|---|---|"]
    lines += [f"| {r} | {v['regret']:.2f} | {v['mean_score']:.4f} |"
              for r, v in report["routers"].items()]
    lines += ["", "Online's regret minus fixed's by why online picked (answers lost; decisions "
              "that differ from fixed's): " + "; ".join(
                  f"{k} {v['regret']:+.1f} ({v['decisions']})"
                  for k, v in report["regret_sources"].items()) + "."]
    lines += ["", "| new model | joins at | calls (explored) | converged after | "
              "estimate error (points; probe-50) | best on |", "|---|---|---|---|---|---|"]
    for m, v in report["new"].items():
        best = ", ".join(f"{t} (most after {b['online']['requests_until_most']})"
                         for t, b in v["best_tasks"].items()) or "-"
        lines.append(f"| {m} | {v['arrival_step']} | {v['calls']} ({v['explored_calls']}) | "
                     f"{v['converged_after']} | {v['estimate_error']:.1f}; "
                     f"{v['probe_estimate_error']:.1f} | {best} |")
    return "\n".join(lines) + "\n"


def report_figure(report: dict):
    """Two panels: cumulative regret against the oracle per router, and each new model's
    share of the requests it could take (blocks of SHARE_WINDOW requests since it joined)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    curves = report["curves"]
    for r in (r for r in curves if r != "step"):
        left.plot(curves["step"], curves[r], label=r)
    for step in sorted(set(report["arrival_steps"].values())):
        left.axvline(step, color="grey", ls=":", lw=1)
    left.set_xlabel("request")
    left.set_ylabel("cumulative regret vs oracle (score)")
    left.legend(fontsize=8)
    for m, v in report["new"].items():
        sh = v["share"]["online"]
        right.plot([v["arrival_step"] + a for a in sh["start"]], sh["share"], label=m)
    right.set_xlabel("request")
    right.set_ylabel(f"new model's share (blocks of {SHARE_WINDOW})")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
