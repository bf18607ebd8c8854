"""``evaluate_routerbench``: fit every router once on the training prompts, then judge it
per eval of the test prompts (curves, AIQ, RouterArena and Pareto distance with costs; max
quality and RouteLLM's strong / weak pair metrics always; optionally out of distribution)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...data.records import UNKNOWN_BENCHMARK
from ...routing.registry import learned_routers, make_router
from ...util import validate
from ...util.progress import progress_bar
from ..arguments import check_records, check_router_params
from .curves import ROUTERBENCH_LAMBDAS, complete_prompts, eval_curves, lambda_grid
from .pair import default_pair, pair_report
from .quality import fit_references, max_quality, scored_prompts

__all__ = ["DEFAULT_ROUTERS", "evaluate_routerbench"]

DEFAULT_ROUTERS = ("mf", "knn", "linear", "lightfm")


def _groups(records) -> dict:
    """``{eval: [prompt, ...]}`` by benchmark (unlabelled prompts under one name)."""
    groups = {}
    for p, b in records.prompt_benchmark.items():
        groups.setdefault(b if b is not None else UNKNOWN_BENCHMARK, []).append(p)
    return groups


def _out_of_distribution(train, test, ood) -> tuple:
    """``(train, test, n_train_dropped)`` for ``ood`` evals: their prompts leave the training
    records entirely and only their test prompts are judged."""
    ood = validate.texts("ood", ood)
    tests = _groups(test)
    for i, name in enumerate(ood):
        if name not in tests:
            raise ValueError(f"ood[{i}] must be an eval of the test records "
                             f"({', '.join(sorted(tests))}), got {name!r}")
    keep = [p for e, ps in _groups(train).items() if e not in ood for p in ps]
    if not keep:
        raise ValueError(f"ood {ood} leaves no training prompt: the routers are trained on "
                         "the other evals, so at least one must stay")
    return (train.filter(prompts=keep), test.filter(prompts=[p for e in ood for p in tests[e]]),
            train.n_prompts - len(keep))


def _pair(strong, weak, train, models):
    """The checked strong / weak pair, the default one (``pair.default_pair``) or None."""
    if (strong is None) != (weak is None):
        raise ValueError(f"give both strong and weak or neither, got strong={strong!r} and "
                         f"weak={weak!r}")
    if strong is None:
        return default_pair(train, models)
    strong = validate.choice("strong", strong, models)
    weak = validate.choice("weak", weak, models)
    if strong == weak:
        raise ValueError(f"strong and weak must be two different models, got {strong!r} twice")
    return strong, weak


def _summary(routers, evals, pooled, quality, pair) -> dict:
    """Per router: AIQ and gap closed (with costs), the pooled max-quality row and the
    pooled strong / weak metrics (with a pair)."""
    out = {}
    for r in routers:
        row = {}
        if pooled is not None:
            row = {"mean_aiq_code": float(np.mean([e["aiq"][r]["code"] for e in evals.values()])),
                   "mean_gap_closed": float(np.mean([e["gap_closed"][r]["share"]
                                                     for e in evals.values()])),
                   "pooled_gap_closed": pooled["gap_closed"][r]["share"],
                   "beats_zero_on": [k for k, e in evals.items()
                                     if e["aiq"][r]["code"] >= e["aiq"]["zero"]["code"]],
                   "pooled_arena": (pooled["arena"]["routers"][r] if pooled["arena"]
                                    else None),
                   "pooled_pareto_distance": pooled["pareto_distance"][r]}
        row["max_quality"] = {"pooled_mean_score": quality["pooled"]["mean_score"][r],
                              "pooled_minus_baseline": quality["pooled"]["minus_baseline"][r],
                              "pooled_gap_closed": quality["pooled"]["gap_closed"][r]}
        if pair is not None and pair["pooled"] is not None:
            row["pair"] = pair["pooled"]["routers"][r]
        out[r] = row
    return out


def evaluate_routerbench(train, test, *, routers: Sequence[str] = DEFAULT_ROUTERS,
                         router_params: Mapping[str, Mapping] | None = None,
                         lambdas: Sequence[float] | None = None, bootstrap: int = 200,
                         seed: int = 0, strong: str | None = None, weak: str | None = None,
                         ood: Sequence[str] | None = None, progress: bool = False) -> dict:
    """Fit each router once on ``train`` (all evals), then evaluate it per eval of ``test``.

    ``test`` prompts are grouped by their benchmark (RouterBench's ``eval_name``); models are
    the training records' models; ``routers`` are learned routers of the registry
    (``routing.registry.learned_routers()``). Returns the report dict that ``write_report``
    saves: ``max_quality`` always; ``evals`` (AIQ, RouterArena, Pareto distance per eval)
    and ``pooled`` only when both train and test have costs (``settings.costs``), else
    ``{}`` and None; ``pair`` (RouteLLM's APGR and CPT) for ``strong`` / ``weak`` (default:
    ``pair.default_pair``; None without costs and without a named pair).
    ``ood``: evals whose prompts are removed from ``train``; only their test prompts are
    judged (the routers never saw the task; task-best falls back to best-single).
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
    dropped_train = 0
    if ood:
        train, test, dropped_train = _out_of_distribution(train, test, ood)
        ood = sorted(set(ood))
    costed = train.has_costs and test.has_costs
    in_test = set(test.models)
    models = [m for m in train.models if m in in_test]
    if not models:
        raise ValueError("train and test records share no model")
    pair = _pair(strong, weak, train, models)
    groups = _groups(test)
    complete = ({name: complete_prompts(test.filter(prompts=groups[name]), models, name)
                 for name in sorted(groups)} if costed else {})
    scored = {name: scored_prompts(test.filter(prompts=groups[name]), models, name)
              for name in sorted(groups)}
    fitted = {}
    with progress_bar(len(routers), "fitting routers", enabled=progress) as bar:
        for name in routers:
            fitted[name] = make_router(name, **params[name]).fit(train)
            bar.update(1)
    refs = fit_references(train)
    # the per-group baselines trade score for cost at each wtp too: curves beside the routers'
    curved = {**fitted, **{k: r for k, r in refs.items() if k in ("task-best", "cluster-best")}}
    rng = np.random.default_rng(seed)

    def boot_weights(n, rng=rng):
        return [rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
                for _ in range(bootstrap)]

    evals = {}
    with progress_bar(len(complete), "evals", enabled=progress) as bar:
        for name, (records, truth, cost, n_dropped) in complete.items():
            evals[name] = eval_curves(curved, records, truth, cost, n_dropped, models, lambdas,
                                      boot_weights)
            bar.update(1)
    quality = max_quality(fitted, scored, models, refs, bootstrap, seed)
    pooled = None
    if costed:  # one curve over every eval's complete prompts; its own bootstrap stream
        keep = [p for records, *_ in complete.values() for p in records.prompts]
        pool_rng = np.random.default_rng([seed, 1])
        pooled = eval_curves(curved, *complete_prompts(test.filter(prompts=keep), models, "all"),
                             models, lambdas, lambda n: boot_weights(n, pool_rng))
        pooled = {k: pooled[k] for k in ("n_prompts", "aiq", "gap_closed", "arena",
                                         "pareto_distance")}
    pair = pair_report(fitted, scored, models, *pair) if pair else None
    given = {n: params[n] for n in router_params or {}}
    return {"settings": {"routers": list(routers), "router_params": given,
                         "models": models, "n_lambdas": int(len(lambdas)),
                         "lambda_range": [float(lambdas.min()), float(lambdas.max())],
                         "includes_routerbench_lambdas": bool(np.isin(ROUTERBENCH_LAMBDAS, lambdas).all()),
                         "bootstrap": bootstrap, "seed": seed,
                         "costs": costed, "aiq_reported": "code" if costed else None,
                         "ood": ood or None, "ood_train_prompts_dropped": dropped_train,
                         "train": train.source, "test": test.source,
                         "train_prompts": train.n_prompts, "test_prompts": test.n_prompts,
                         "router_details": {n: r.summary() for n, r in fitted.items()}},
            "evals": evals, "pooled": pooled, "max_quality": quality, "pair": pair,
            "summary": _summary(routers, evals, pooled, quality, pair)}
