"""The candidate-pool sweep: per seed and benchmark, split the prompts, fit every learned
router once on the training prompts, draw RouterEval's pools and measure every router,
validated and reference router on each (see ``evaluate_pools`` and docs/pools.md)."""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

import numpy as np

from ...util import validate
from ...util.progress import progress_bar
from ..arguments import check_records, check_router_params
from .metrics import (FITTED_REFERENCES, REFERENCE_ROUTERS, TEMPERATURE, reference_accuracy,
                      reference_metrics, router_metrics)
from .selection import GROUPS, POOL_SIZES, select_pool, split_three, stable_hash
from .summary import summarise
from .validation import (CROSS_VALIDATED, VAL_WEIGHTS, VALIDATED, VALIDATED_POOLED, out_of_fold,
                         split_name, validated_weight)

__all__ = ["DEFAULT_ROUTERS", "evaluate_pools", "last_paragraph", "question_view"]

DEFAULT_ROUTERS = ("mf", "knn", "linear", "mf+val", "knn+val", "linear+val",
                   "mf+valpool", "knn+valpool", "linear+valpool")


def last_paragraph(text: str | None) -> str | None:
    """The question of a few-shot prompt: its last non-empty paragraph (the shots repeat)."""
    if not text:
        return text
    parts = [p for p in text.split("\n\n") if p.strip()]
    return parts[-1] if parts else text


def question_view(records):
    """``records`` whose texts are their prompts' last paragraphs (``prompt_view="question"``)."""
    prompts = records.texts.get_column("prompt").to_list()
    return records.with_texts(dict(zip(prompts, map(last_paragraph, records.text_of(prompts)))))


def _base_routers(routers: Sequence[str]) -> list:
    """The learned routers to fit, in order (``X+val`` needs ``X``); names are checked
    against the registry's ``learned_routers()``."""
    from ...routing.registry import ROUTERS, learned_routers

    learned, bases = learned_routers(), []
    for name in routers:
        base = split_name(name)[0]
        if base in ROUTERS and base not in learned:
            raise ValueError(f"{base!r} is a reference router: the sweep always reports "
                             f"{list(REFERENCE_ROUTERS)} (exact expectations)")
        if base not in learned:
            raise ValueError(f"unknown router {name!r}; choose from {sorted(learned)} (append "
                             f"{VALIDATED!r}, {VALIDATED_POOLED!r} or {CROSS_VALIDATED!r} for a "
                             "validated version)")
        if base not in bases:
            bases.append(base)
    return bases


def evaluate_pools(records, *, benchmarks: Sequence[str] | None = None,
                   pools: Sequence[int] = POOL_SIZES, groups: Sequence[str] = GROUPS,
                   routers: Sequence[str] = DEFAULT_ROUTERS,
                   router_params: Mapping[str, Mapping] | None = None,
                   seeds: int | Sequence[int] = 3,
                   draws: int = 1, candidates: int = 32, select_on: str = "train",
                   val: float = 0.1, test: float = 0.1, val_weights: Sequence[float] = VAL_WEIGHTS,
                   prompt_view: str = "question", temperature: float = TEMPERATURE,
                   progress: bool = False) -> dict:
    """Run the candidate-pool sweep and return the report (a JSON-ready dict).

    ``routers`` name learned routers of the registry (``routing.registry.learned_routers()``:
    ``mf``, ``knn``, ``linear``, ...), each optionally as ``NAME+val``, ``NAME+valpool`` or
    ``NAME+cv`` (see ``validated_weight``; ``+cv`` adds ``CV_FOLDS`` refits on training
    folds). For each seed: one train / val / test split; per benchmark, every learned router
    is built by ``make_router(name, **router_params[name])``, fitted once on
    the training prompts of that benchmark (all models, incomplete ones included) and
    predicts the validation and test prompts (``predict_records``) for all eligible models
    once; every pool of every size and group then sub-sets those columns (``models=``
    semantics, no refit). Eligible models are those observed on every prompt of the
    benchmark. ``select_on="train"`` ranks and chooses pools on the training prompts;
    ``"all"`` on every prompt, test included (RouterEval's way). ``prompt_view="question"``
    shows routers only each prompt's last paragraph (few-shot prompts repeat their shots);
    ``"full"`` the whole prompt. ``seeds=3`` runs seeds 0, 1, 2; a sequence names the seeds
    (fresh seeds keep design decisions apart from the seeds a result is reported on).
    """
    check_records("records", records)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        seeds = list(range(validate.integer("seeds (a count)", seeds, low=1)))
    seeds = validate.integers("seeds", seeds, low=0)
    pools = validate.integers("pools", pools, low=2)
    groups = validate.choices("groups", groups, GROUPS)
    draws = validate.integer("draws", draws, low=1)
    candidates = validate.integer("candidates", candidates, low=1)
    validate.choice("select_on", select_on, ("train", "all"))
    validate.choice("prompt_view", prompt_view, ("question", "full"))
    val = validate.real("val", val, low=0, high=1, high_open=True)
    test = validate.fraction("test", test)
    if val + test >= 1:
        raise ValueError(f"val + test must leave training prompts (< 1), got {val} + {test}")
    val_weights = validate.reals("val_weights", val_weights, low=0, high=1).tolist()
    if not val_weights:
        raise ValueError("val_weights must hold at least one weight, got none")
    temperature = validate.real("temperature", temperature, low=0, low_open=True)
    routers = list(dict.fromkeys(validate.texts("routers", routers)))
    if not routers:
        raise ValueError("routers must name at least one learned router, got none")
    bases = _base_routers(routers)
    if val == 0 and any(split_name(r)[1] in (VALIDATED, VALIDATED_POOLED) for r in routers):
        raise ValueError(f"'{VALIDATED}' / '{VALIDATED_POOLED}' routers need validation "
                         f"prompts (val > 0; '{CROSS_VALIDATED}' works without)")
    known = records.benchmarks
    if not known:
        raise ValueError(f"the records ({records.source}) name no benchmark; the sweep splits "
                         "and pools per benchmark: load a benchmark column (load_records("
                         "benchmark=COLUMN); CLI --benchmark-col)")
    benchmarks = validate.texts("benchmarks", benchmarks) if benchmarks else list(known)
    missing = [b for b in benchmarks if b not in known]
    if missing:
        raise ValueError(f"unknown benchmark(s) {missing}; the records have {known}")
    params = check_router_params(router_params, bases)
    shown = question_view(records) if prompt_view == "question" else records
    rows, skipped = [], []
    timing = {"fit_seconds": 0.0, "cv_fit_seconds": 0.0, "predict_seconds": 0.0, "pool_seconds": 0.0}
    t_start = time.perf_counter()
    with progress_bar(len(seeds) * len(benchmarks), "pool sweep", enabled=progress, unit="split") as bar:
        for seed in seeds:
            split = split_three(shown, seed=seed, val=val, test=test)
            for bench in benchmarks:
                rows += _one_benchmark(shown, split, bench, seed, pools=pools, groups=groups,
                                       routers=routers, params=params, draws=draws,
                                       candidates=candidates, select_on=select_on,
                                       val_weights=val_weights, temperature=temperature,
                                       skipped=skipped, timing=timing)
                bar.update(1)
    timing["total_seconds"] = time.perf_counter() - t_start
    settings = dict(benchmarks=benchmarks, pools=[int(m) for m in pools], groups=list(groups),
                    routers=routers, router_params=params, reference_routers=list(REFERENCE_ROUTERS),
                    seeds=seeds, draws=draws, candidates=candidates, select_on=select_on,
                    split={"train": round(1 - val - test, 6), "val": val, "test": test},
                    val_weights=list(val_weights), prompt_view=prompt_view,
                    temperature=temperature, source=records.source)
    return {"settings": settings, "selection": _selection_note(select_on), "rows": rows,
            "summary": summarise(rows), "skipped": skipped, "timing": timing}


def _selection_note(select_on: str) -> str:
    if select_on == "train":
        return ("pools chosen on training prompts only (ranking, (0.1, 0.9) filter and "
                "oracle-maximising choice never see validation or test scores)")
    return ("pools chosen RouterEval's way, on all prompts including the test prompts: the "
            "choice maximises the oracle on the very prompts it is scored on, which favours "
            "the oracle and routers")


def _part(split_records, in_bench):
    """The prompts of one benchmark in one part of the split (None when there are none)."""
    ids = [] if split_records is None else [p for p in split_records.prompts if p in in_bench]
    return split_records.filter(prompts=ids) if ids else None


def _one_benchmark(records, split, bench, seed, *, pools, groups, routers, params, draws,
                   candidates, select_on, val_weights, temperature, skipped, timing) -> list:
    from ...routing.base import true_matrices
    from ...routing.registry import make_router

    prompt_bench = records.prompt_benchmark
    prompts = [p for p in records.prompts if prompt_bench[p] == bench]
    in_bench = set(prompts)
    train, val_r, test_r = (_part(part, in_bench) for part in split)
    bench_records = records.filter(prompts=prompts)
    full = true_matrices(bench_records)[0]
    eligible = [mod for mod, ok in zip(bench_records.models, ~np.isnan(full).any(axis=0)) if ok]
    truth = true_matrices(test_r, eligible)[0]
    no_val = np.zeros((0, len(eligible)), np.float32)
    val_truth = true_matrices(val_r, eligible)[0] if val_r is not None else no_val
    train_dense = true_matrices(train, eligible)[0]
    selection = train_dense if select_on == "train" else true_matrices(bench_records, eligible)[0]
    train_mean = train_dense.mean(axis=0)
    ref_acc = reference_accuracy(bench)

    fitted, test_pred, val_pred = {}, {}, {}
    bases = _base_routers(routers)
    for name in dict.fromkeys([*bases, *FITTED_REFERENCES]):  # a reference listed is fitted once
        t0 = time.perf_counter()
        fitted[name] = router = make_router(name, **params.get(name, {})).fit(train)
        t1 = time.perf_counter()
        test_pred[name] = np.asarray(router.predict_records(test_r, models=eligible), np.float32)
        if name in bases:  # the validated checks read the routers' own, not the references'
            val_pred[name] = (no_val if val_r is None else np.asarray(
                router.predict_records(val_r, models=eligible), np.float32))
        timing["fit_seconds"] += t1 - t0
        timing["predict_seconds"] += time.perf_counter() - t1
    # What each per-pool check ("+val", "+cv") decides on: (truth, prediction, best-single
    # means) parts; the validation prompts, and for "+cv" the out-of-fold training prompts.
    evidence = {}
    for name in routers:
        base, kind = split_name(name)
        if kind in (VALIDATED, CROSS_VALIDATED):
            folds = (out_of_fold(train, train_dense, eligible, base, params[base], seed=seed,
                                  timing=timing) if kind == CROSS_VALIDATED else [])
            evidence[name] = folds + [(val_truth, val_pred[base], train_mean)]

    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, stable_hash(bench)])
    rows = []
    for m in pools:
        drawn = []  # (group, draw, pool) of this pool size, in the order the rng draws them
        for group in groups:
            for draw in range(draws):
                try:
                    drawn.append((group, draw, select_pool(selection, int(m), group, rng,
                                                           candidates=candidates)))
                except ValueError as exc:
                    skipped.append({"benchmark": bench, "seed": seed, "m": int(m), "group": group,
                                    "reason": str(exc)})
                    break
        pooled_w = {name: validated_weight([val_truth[:, p] for *_, p in drawn],
                                           [val_pred[base][:, p] for *_, p in drawn],
                                           [train_mean[p] for *_, p in drawn], weights=val_weights)
                    for name in routers for base, kind in [split_name(name)]
                    if kind == VALIDATED_POOLED}
        for group, draw, pool in drawn:
            t_pool, mean_pool = truth[:, pool], train_mean[pool]
            best = int(np.argmax(mean_pool))
            results = reference_metrics(t_pool, mean_pool, best, reference=ref_acc,
                                        temperature=temperature)
            for name in FITTED_REFERENCES:
                results[name] = router_metrics(fitted[name], t_pool, test_pred[name][:, pool],
                                               best, reference=ref_acc, temperature=temperature)
            weights = {"best-single": 1.0}
            for name in routers:
                base = split_name(name)[0]
                if name in evidence:
                    parts = evidence[name]
                    w = validated_weight([t[:, pool] for t, _, _ in parts],
                                         [pr[:, pool] for _, pr, _ in parts],
                                         [tm[pool] for _, _, tm in parts], weights=val_weights)
                else:
                    w = pooled_w.get(name, 0.0)
                weights[name] = w
                scores = (1 - w) * test_pred[base][:, pool] + w * mean_pool[None, :]
                results[name] = router_metrics(fitted[base], t_pool, scores, best,
                                               reference=ref_acc, temperature=temperature)
            for name, metrics in results.items():
                rows.append({"benchmark": bench, "group": group, "m": int(m), "router": name,
                             "seed": seed, "draw": draw, "n_test": len(t_pool), **metrics,
                             "w_best": weights.get(name, float("nan"))})
    timing["pool_seconds"] += time.perf_counter() - t0
    return rows

