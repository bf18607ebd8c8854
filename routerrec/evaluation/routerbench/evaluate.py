"""``evaluate_routerbench``: fit every router once on the training prompts, then judge it
per eval of the test prompts (curves and AIQ with costs, max quality always)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ...data.records import UNKNOWN_BENCHMARK
from ...routing.registry import learned_routers, make_router
from ...util import validate
from ...util.progress import progress_bar
from ..arguments import check_records, check_router_params
from .curves import ROUTERBENCH_LAMBDAS, complete_prompts, eval_curves, lambda_grid
from .quality import max_quality, scored_prompts

__all__ = ["DEFAULT_ROUTERS", "evaluate_routerbench"]

DEFAULT_ROUTERS = ("mf", "knn", "linear", "lightfm")


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
    complete = ({name: complete_prompts(test.filter(prompts=groups[name]), models, name)
                 for name in sorted(groups)} if costed else {})
    scored = {name: scored_prompts(test.filter(prompts=groups[name]), models, name)
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
            evals[name] = eval_curves(fitted, records, truth, cost, n_dropped, models, lambdas,
                                    boot_weights)
            bar.update(1)
    quality = max_quality(fitted, scored, models, train, bootstrap, seed)
    pooled = None
    if costed:  # one curve over every eval's complete prompts; its own bootstrap stream
        keep = [p for records, *_ in complete.values() for p in records.prompts]
        pool_rng = np.random.default_rng([seed, 1])
        pooled = eval_curves(fitted, *complete_prompts(test.filter(prompts=keep), models, "all"),
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
