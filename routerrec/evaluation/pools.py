"""RouterEval-style candidate-pool sweep: how routing quality scales from 3 to 1,000 models.

For every benchmark, prompts are split train / validation / test (seeded, stratified);
candidate pools of ``m`` models are drawn the way RouterEval defines its groups, but chosen
on the training prompts only (``select_on="all"`` reproduces RouterEval's selection, which
peeks at the test prompts); every router of ``routerrec.routers`` is fitted **once** per
split and benchmark on the training prompts of all models, and each pool sub-sets the
columns of its predictions; ``NAME+val`` routers use the validation prompts to fall back to
the best single model on pools where routing does not help, ``NAME+valpool`` make that
decision once per (benchmark, pool size, seed) on the validation prompts of all its pools,
``NAME+cv`` per pool on out-of-fold predictions for the training prompts plus validation.
Metrics are RouterEval's: mu, V_B, V_R and E_p, plus the reference routers (oracle, random,
best single, r_o(p)). See docs/pools.md for the exact definitions and their caveats.
"""
from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ..util.files import atomic_write
from ..util.progress import progress_bar

__all__ = ["GROUPS", "POOL_SIZES", "REFERENCE_ACCURACY", "REFERENCE_ROUTERS", "RO_P",
           "TEMPERATURE", "METRICS", "DEFAULT_ROUTERS", "VALIDATED", "VALIDATED_POOLED",
           "CROSS_VALIDATED", "CV_FOLDS", "VAL_WEIGHTS", "POOL_ROUTER_PARAMS", "combine_reports",
           "evaluate_pools", "last_paragraph", "question_view",
           "validated_weight", "markdown_report", "plot_report", "pool_metrics",
           "reference_accuracy", "reference_scores", "select_pool", "split_three", "summarise",
           "write_report"]

GROUPS = ("all_strong", "all_weak", "strong_to_weak")
POOL_SIZES = (3, 5, 10, 100, 1000)
RO_P = (0.25, 0.5, 0.75)
REFERENCE_ROUTERS = ("oracle", "best-single", "random") + tuple(f"r_o({p})" for p in RO_P)
# One score -> probability map for every router's E_p: softmax(score / TEMPERATURE).
TEMPERATURE = 0.1
# RouterEval's reference accuracies (V_R's denominator), keyed by its benchmark names.
REFERENCE_ACCURACY = {"arc": .852, "hellaswag": .953, "mmlu": .864, "truthfulqa": .669,
                      "winogrande": .875, "gsm8k": .92, "ifeval": .7689, "bbh": .8303,
                      "gpqa": .397, "math": .4, "musr": .699, "mmlu_pro": .637}
_ALIASES = {"harness_arc_challenge_25": "arc", "arc_challenge": "arc", "arc-challenge": "arc",
            "harness_hellaswag_10": "hellaswag", "harness_gsm8k_5": "gsm8k",
            "harness_truthfulqa_mc_0": "truthfulqa", "harness_winogrande_5": "winogrande",
            "mmlu-pro": "mmlu_pro", "math_lvl5": "math"}
_SIDE_SHARE = 0.2  # all_strong / all_weak windows live in the top / bottom 20% of the ranking
_ACC_RANGE = (0.1, 0.9)  # RouterEval keeps models with accuracy strictly inside this range


def reference_accuracy(benchmark: str) -> float | None:
    """RouterEval's reference accuracy for ``benchmark`` (its own or Open LLM names), or None."""
    key = benchmark.lower()
    return REFERENCE_ACCURACY.get(_ALIASES.get(key, key))


# ----------------------------------------------------------------------------- splits


def split_three(records, *, seed: int, val: float = 0.1, test: float = 0.1) -> tuple:
    """Seeded train / validation / test split of whole prompts, stratified by benchmark.

    Two calls of ``Records.split_prompts``: ``test`` of every benchmark's prompts, then
    ``val`` of the original size from the rest (RouterEval's 80/10/10 by default).
    """
    if not (0 < test < 1 and 0 <= val < 1 and val + test < 1):
        raise ValueError(f"need 0 < test, 0 <= val and val + test < 1 (got val={val}, test={test})")
    rest, test_r = records.split_prompts(test, seed=seed)
    if val == 0:
        return rest, None, test_r
    train, val_r = rest.split_prompts(val / (1 - test), seed=seed + 1)
    return train, val_r, test_r


# ----------------------------------------------------------------------------- pools


def _candidates(ranked: np.ndarray, m: int, group: str, rng: np.random.Generator) -> np.ndarray:
    """One random pool of ``group`` from models ``ranked`` best first (RouterEval's groups)."""
    n = len(ranked)
    if group == "strong_to_weak":  # one model from each of m equal rank groups
        return np.array([rng.choice(g) for g in np.array_split(ranked, m)])
    side = max(int(math.ceil(_SIDE_SHARE * n)), m)  # top / bottom 20%, at least m models
    region = ranked[:side] if group == "all_strong" else ranked[::-1][:side]
    start = int(rng.integers(0, side - m + 1))  # a window of m rank-adjacent models
    return region[start:start + m]


def select_pool(selection: np.ndarray, m: int, group: str, rng: np.random.Generator, *,
                candidates: int = 32) -> np.ndarray:
    """Column indices of one pool of ``m`` models, chosen from ``selection`` (prompts x models).

    Models whose mean on ``selection`` lies in (0.1, 0.9) are ranked by it; ``candidates``
    random pools of the group are drawn and the one whose oracle on ``selection`` is highest
    is kept (RouterEval maximises the oracle). Pass training prompts only as ``selection``
    to keep the test prompts out of the choice.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; choose from {GROUPS}")
    acc = np.nanmean(selection, axis=0)
    inside = np.flatnonzero((acc > _ACC_RANGE[0]) & (acc < _ACC_RANGE[1]))
    if m > len(inside):
        raise ValueError(f"pool of {m} models asked, only {len(inside)} eligible models")
    ranked = inside[np.argsort(-acc[inside], kind="stable")]
    best, best_oracle = None, -np.inf
    for _ in range(max(1, candidates)):
        pool = _candidates(ranked, m, group, rng)
        oracle = float(np.nanmax(selection[:, pool], axis=1).mean())
        if oracle > best_oracle:
            best, best_oracle = pool, oracle
    return best


# ----------------------------------------------------------------------------- metrics


def _entropy_bits(prob: np.ndarray) -> np.ndarray:
    p = np.clip(prob, 1e-30, 1.0)
    return -(prob * np.log2(p)).sum(axis=1)


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def pool_metrics(truth: np.ndarray, scores: np.ndarray, best: int, *,
                 reference: float | None = None, temperature: float = TEMPERATURE,
                 prob: np.ndarray | None = None) -> dict:
    """RouterEval's metrics of one router on one pool.

    ``truth`` and ``scores`` are test prompts x pool models; the router picks the argmax of
    ``scores`` (first on ties). ``best`` is the pool column of the best single model as
    identified on training prompts. Returns ``mu`` (mean true score of the picks), ``v_b``
    (mu / that model's test mean), ``v_b_test`` (mu / the best test mean in the pool, the
    hindsight denominator, biased upward on few test prompts), ``v_r`` (mu / ``reference``)
    and ``e_p`` (mean entropy in bits of softmax(scores / temperature), or of ``prob``).
    """
    pick = np.argmax(scores, axis=1)
    mu = float(truth[np.arange(len(truth)), pick].mean())
    return _ratios(mu, truth, best, reference,
                   float(_entropy_bits(_softmax(scores, temperature) if prob is None else prob).mean()))


def _ratios(mu: float, truth: np.ndarray, best: int, reference, e_p: float) -> dict:
    def ratio(a, b):
        return a / b if b and b > 0 else float("nan")

    return {"mu": mu, "v_b": ratio(mu, float(truth[:, best].mean())),
            "v_b_test": ratio(mu, float(truth.mean(axis=0).max())),
            "v_r": ratio(mu, reference) if reference else float("nan"), "e_p": e_p}


def reference_scores(truth: np.ndarray, train_mean: np.ndarray, best: int, *,
                     reference: float | None = None, temperature: float = TEMPERATURE) -> dict:
    """Metrics of the reference routers on one pool: ``{router name: metrics}``.

    oracle = the true scores (first best model on ties); best-single = training means;
    random and r_o(p) are exact expectations (the limit of averaging over many draws):
    r_o(p) picks the oracle's model with probability p, else a uniform random model, so
    its mu is p * oracle + (1 - p) * random, and its per-prompt probability vector (for
    E_p) is p * one-hot(oracle pick) + (1 - p) / m.
    """
    n, m = truth.shape
    out = {"oracle": pool_metrics(truth, truth, best, reference=reference, temperature=temperature),
           "best-single": pool_metrics(truth, np.broadcast_to(train_mean, truth.shape), best,
                                       reference=reference, temperature=temperature)}
    oracle_mu, random_mu = out["oracle"]["mu"], float(truth.mean())
    uniform = np.full((n, m), 1.0 / m)
    out["random"] = _ratios(random_mu, truth, best, reference, float(np.log2(m)))
    onehot = np.zeros((n, m))
    onehot[np.arange(n), np.argmax(truth, axis=1)] = 1.0
    for p in RO_P:
        prob = p * onehot + (1 - p) * uniform
        out[f"r_o({p})"] = _ratios(p * oracle_mu + (1 - p) * random_mu, truth, best, reference,
                                   float(_entropy_bits(prob).mean()))
    return out


# ----------------------------------------------------------------------------- routers

# "<router>+val": the learned router, checked per pool on the validation prompts (see
# ``validated_weight``); it shares the base router's single fit. "<router>+valpool": the
# same check made once per (benchmark, pool size m, seed) on the validation prompts of all
# that setting's pools (every group and draw) together: more evidence per decision, one
# decision for pools that differ only by group. "<router>+cv": the per-pool check made on
# out-of-fold predictions for the training prompts (CV_FOLDS refits on the other folds,
# each fold compared with the best single model of the other folds) and the validation
# prompts together: about nine times the evidence of "+val", at CV_FOLDS extra fits.
VALIDATED = "+val"
VALIDATED_POOLED = "+valpool"
CROSS_VALIDATED = "+cv"
CV_FOLDS = 5
DEFAULT_ROUTERS = ("mf", "knn", "linear", "mf+val", "knn+val", "linear+val",
                   "mf+valpool", "knn+valpool", "linear+valpool")
# Weights on best-single that "+val" routers choose from on validation prompts: 0 = the
# learned router, 1 = best single (fallback). Ties go to the larger weight.
VAL_WEIGHTS = (0.0, 1.0)
# What the sweep passes to routerrec.routers.make_router unless ``router_params`` says
# otherwise (the settings measured in docs/pools.md).
POOL_ROUTER_PARAMS: dict[str, dict] = {}


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


def _split_name(name: str) -> tuple:
    """``(base router, validation suffix or "")`` of a sweep router name."""
    for suffix in (VALIDATED_POOLED, VALIDATED, CROSS_VALIDATED):
        if name.endswith(suffix):
            return name[:-len(suffix)], suffix
    return name, ""


def _base_routers(routers: Sequence[str]) -> list:
    """The learned routers of ``routerrec.routers`` to fit (``X+val`` needs ``X``)."""
    from ..routing.registry import ROUTERS

    bases = []
    for name in routers:
        base = _split_name(name)[0]
        cls = ROUTERS.get(base)
        if cls is None:
            learned = sorted(k for k, c in ROUTERS.items() if not c.reference)
            raise ValueError(f"unknown router {name!r}; choose from {learned} (append "
                             f"{VALIDATED!r}, {VALIDATED_POOLED!r} or {CROSS_VALIDATED!r} for a "
                             "validated version)")
        if cls.reference:
            raise ValueError(f"{base!r} is a reference router: the sweep always reports "
                             f"{list(REFERENCE_ROUTERS)} (exact expectations)")
        if base not in bases:
            bases.append(base)
    return bases


def _mu(truth: np.ndarray, scores: np.ndarray) -> float:
    return float(truth[np.arange(len(truth)), np.argmax(scores, axis=1)].mean())


def validated_weight(val_truth, val_pred, train_mean, *,
                     weights: Sequence[float] = VAL_WEIGHTS) -> float:
    """The weight w on best-single whose blend ``(1 - w) * pred + w * train_mean`` picks the
    best models on the validation prompts (highest mu; ties go to the larger w).

    With the default weights (0, 1) this is a fallback: the learned router is used on a pool
    only if it beats the best single model on the pool's validation prompts. Lists of
    arrays choose one w for all the parts by their mu over all their prompts: one part per
    pool (``+valpool``) or per cross-validation fold (``+cv``, each fold with its own
    ``train_mean``).
    """
    parts = (list(zip(val_truth, val_pred, train_mean)) if isinstance(val_truth, list)
             else [(val_truth, val_pred, train_mean)])
    parts = [p for p in parts if len(p[0])]
    best_w, best_mu = 1.0, -np.inf
    if not parts:  # nothing to check routing on: keep the best single model
        return best_w
    for w in sorted(weights, reverse=True):
        mu = np.average([_mu(t, (1 - w) * pr + w * tm[None, :]) for t, pr, tm in parts],
                        weights=[len(t) for t, *_ in parts])
        if mu > best_mu + 1e-9:
            best_w, best_mu = float(w), mu
    return best_w


# ----------------------------------------------------------------------------- the sweep


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

    ``routers`` name learned routers of ``routerrec.routers`` (``mf``, ``knn``, ``linear``,
    ``lightfm``), each optionally as ``NAME+val``, ``NAME+valpool`` or ``NAME+cv`` (see
    ``validated_weight``; ``+cv`` adds ``CV_FOLDS`` refits on training folds). For each seed:
    one train / val / test split; per benchmark, every learned router is built by
    ``make_router(name, **POOL_ROUTER_PARAMS[name], **router_params[name])``, fitted once on
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
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(x) for x in seeds]
    if not seeds:
        raise ValueError("need at least one seed")
    if select_on not in ("train", "all"):
        raise ValueError(f"select_on must be 'train' or 'all', got {select_on!r}")
    if prompt_view not in ("question", "full"):
        raise ValueError(f"prompt_view must be 'question' or 'full', got {prompt_view!r}")
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"unknown group(s) {bad}; choose from {GROUPS}")
    if any(int(m) < 2 for m in pools):
        raise ValueError(f"pool sizes must be >= 2, got {list(pools)}")
    routers = list(dict.fromkeys(routers))
    bases = _base_routers(routers)
    if val == 0 and any(_split_name(r)[1] in (VALIDATED, VALIDATED_POOLED) for r in routers):
        raise ValueError(f"'{VALIDATED}' / '{VALIDATED_POOLED}' routers need validation "
                         f"prompts (val > 0; '{CROSS_VALIDATED}' works without)")
    known = records.benchmarks
    benchmarks = list(benchmarks) if benchmarks else list(known)
    missing = [b for b in benchmarks if b not in known]
    if missing:
        raise ValueError(f"unknown benchmark(s) {missing}; the records have {known}")
    params = {b: {**POOL_ROUTER_PARAMS.get(b, {}), **dict((router_params or {}).get(b, {}))}
              for b in bases}
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
    from ..routing.base import true_matrices
    from ..routing.registry import make_router

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

    test_pred, val_pred = {}, {}
    for name in _base_routers(routers):
        t0 = time.perf_counter()
        router = make_router(name, **params[name]).fit(train)
        t1 = time.perf_counter()
        test_pred[name] = np.asarray(router.predict_records(test_r, models=eligible), np.float32)
        val_pred[name] = (no_val if val_r is None else
                          np.asarray(router.predict_records(val_r, models=eligible), np.float32))
        timing["fit_seconds"] += t1 - t0
        timing["predict_seconds"] += time.perf_counter() - t1
    # What each per-pool check ("+val", "+cv") decides on: (truth, prediction, best-single
    # means) parts; the validation prompts, and for "+cv" the out-of-fold training prompts.
    evidence = {}
    for name in routers:
        base, kind = _split_name(name)
        if kind in (VALIDATED, CROSS_VALIDATED):
            folds = (_out_of_fold(train, train_dense, eligible, base, params[base], seed=seed,
                                  timing=timing) if kind == CROSS_VALIDATED else [])
            evidence[name] = folds + [(val_truth, val_pred[base], train_mean)]

    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, _stable_hash(bench)])
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
                    for name in routers for base, kind in [_split_name(name)]
                    if kind == VALIDATED_POOLED}
        for group, draw, pool in drawn:
            t_pool, mean_pool = truth[:, pool], train_mean[pool]
            best = int(np.argmax(mean_pool))
            results = reference_scores(t_pool, mean_pool, best, reference=ref_acc,
                                       temperature=temperature)
            weights = {"best-single": 1.0}
            for name in routers:
                base = _split_name(name)[0]
                if name in evidence:
                    parts = evidence[name]
                    w = validated_weight([t[:, pool] for t, _, _ in parts],
                                         [pr[:, pool] for _, pr, _ in parts],
                                         [tm[pool] for _, _, tm in parts], weights=val_weights)
                else:
                    w = pooled_w.get(name, 0.0)
                weights[name] = w
                scores = (1 - w) * test_pred[base][:, pool] + w * mean_pool[None, :]
                results[name] = pool_metrics(t_pool, scores, best, reference=ref_acc,
                                             temperature=temperature)
            for name, metrics in results.items():
                rows.append({"benchmark": bench, "group": group, "m": int(m), "router": name,
                             "seed": seed, "draw": draw, "n_test": len(t_pool), **metrics,
                             "w_best": weights.get(name, float("nan"))})
    timing["pool_seconds"] += time.perf_counter() - t0
    return rows


def _out_of_fold(train, train_dense, eligible, name, params, *, seed, timing,
                 folds=CV_FOLDS) -> list:
    """``[(truth, prediction, best-single means)]`` per fold of ``train``'s prompts.

    Each fold's prompts are predicted by router ``name`` refitted on the other folds, and
    paired with the training means of the other folds, so the router and best-single are
    compared on prompts neither has seen (the ``+cv`` check). ``train_dense`` is ``train``'s
    truth for ``eligible`` (rows in ``train.prompts`` order), sliced rather than rebuilt.
    """
    from ..routing.registry import make_router

    prompts = np.asarray(train.prompts, dtype=object)
    order = np.random.default_rng([seed, _stable_hash(name), folds]).permutation(len(prompts))
    parts = []
    for fold in np.array_split(order, folds):
        if len(fold) == 0:
            continue
        held_rows = np.sort(fold)
        rest_rows = np.setdiff1d(np.arange(len(prompts)), held_rows)
        held = train.filter(prompts=prompts[held_rows].tolist())
        t0 = time.perf_counter()
        router = make_router(name, **params).fit(train.filter(prompts=prompts[rest_rows].tolist()))
        timing["cv_fit_seconds"] += time.perf_counter() - t0
        parts.append((train_dense[held_rows],
                      np.asarray(router.predict_records(held, models=eligible), np.float32),
                      train_dense[rest_rows].mean(axis=0)))
    return parts


def _stable_hash(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") % (2 ** 31)


# ----------------------------------------------------------------------------- summaries

METRICS = ("mu", "v_b", "v_b_test", "v_r", "e_p", "w_best")


def _interval(values: np.ndarray) -> tuple:
    """Mean and 95% t-interval over independent seeds (nan half-width for one seed)."""
    from scipy import stats

    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def summarise(rows: list) -> dict:
    """Mean and 95% interval over seeds of every metric.

    ``cells``: per (benchmark, group, m, router), draws averaged within a seed first.
    ``overall``: per (m, router), averaged over benchmarks and groups within a seed, so the
    interval is again over seeds.
    """
    if not rows:
        return {"cells": [], "overall": []}
    frame = pl.DataFrame(rows)
    per_seed = frame.group_by("benchmark", "group", "m", "router", "seed").agg(
        [pl.col(k).mean() for k in METRICS])
    overall_seed = per_seed.group_by("m", "router", "seed").agg([pl.col(k).mean() for k in METRICS])
    return {"cells": _with_intervals(per_seed, ["benchmark", "group", "m", "router"]),
            "overall": _with_intervals(overall_seed, ["m", "router"])}


def combine_reports(reports: Sequence[dict]) -> dict:
    """One report from sweeps that differ only in their seeds (e.g. seeds run in parallel).

    Every setting but the seeds and the router list must match and no seed may repeat; the
    combined report keeps the routers every sweep has and recomputes the summaries over
    the union of the seeds (seeds are independent, so this equals one sweep over them all).
    """
    if not reports:
        raise ValueError("nothing to combine")
    first = reports[0]["settings"]
    routers = [r for r in first["routers"] if all(r in rep["settings"]["routers"] for rep in reports)]
    bases = {_split_name(r)[0] for r in routers}
    for rep in reports[1:]:
        s = rep["settings"]
        differ = [k for k in first if k not in ("seeds", "routers", "router_params")
                  and s.get(k) != first[k]]
        differ += [f"router_params[{b}]" for b in sorted(bases)
                   if s["router_params"].get(b) != first["router_params"].get(b)]
        if differ:
            raise ValueError(f"the sweeps differ in {differ}; only seeds and routers may differ")
    seeds = [seed for rep in reports for seed in rep["settings"]["seeds"]]
    repeated = sorted({x for x in seeds if seeds.count(x) > 1})
    if repeated:
        raise ValueError(f"seeds {repeated} are in more than one sweep")
    keep = set(routers) | set(REFERENCE_ROUTERS)
    rows = [row for rep in reports for row in rep["rows"] if row["router"] in keep]
    settings = {**first, "seeds": seeds, "routers": routers,
                "router_params": {b: first["router_params"][b] for b in first["router_params"]
                                  if b in bases}}
    timing = {k: sum(rep["timing"].get(k, 0.0) for rep in reports) for k in reports[0]["timing"]}
    return {"settings": settings, "selection": reports[0]["selection"], "rows": rows,
            "summary": summarise(rows), "skipped": [x for rep in reports for x in rep["skipped"]],
            "timing": timing}


def _with_intervals(per_seed: pl.DataFrame, keys: list) -> list:
    out = []
    for key, part in per_seed.sort(keys).group_by(keys, maintain_order=True):
        row = dict(zip(keys, key))
        row["seeds"] = part.height
        for k in METRICS:
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = _interval(part.get_column(k).to_numpy())
        out.append(row)
    return out


# ----------------------------------------------------------------------------- output


def _router_order(report: dict) -> list:
    return list(report["settings"]["routers"]) + list(REFERENCE_ROUTERS)


def markdown_report(report: dict) -> str:
    """One table per benchmark: rows routers, columns m x group, cells "V_B (mu)"."""
    s = report["settings"]
    lines = [f"# Candidate-pool sweep ({s['source']})", "",
             f"**Pool selection:** {report['selection']}.", "",
             f"Seeds {s['seeds']}, draws per seed {s['draws']}, split "
             f"{s['split']['train']:.0%}/{s['split']['val']:.0%}/{s['split']['test']:.0%} "
             "(train/val/test). Cells: V_B (mu), mean over seeds; V_B = mu / test mean of "
             "the pool's best single model identified on training prompts. "
             f"NAME{VALIDATED}: NAME on pools where it beats best-single on the pool's "
             f"validation prompts, else best-single; NAME{VALIDATED_POOLED}: the same choice "
             "made once per benchmark, pool size and seed on the validation prompts of all "
             f"its pools; NAME{CROSS_VALIDATED}: the per-pool choice made on out-of-fold "
             f"predictions for the training prompts ({CV_FOLDS} folds) and the validation "
             "prompts (share of pools routed in the last table).",
             ""]
    cells = {(c["benchmark"], c["group"], c["m"], c["router"]): c for c in report["summary"]["cells"]}
    cols = [(m, g) for m in s["pools"] for g in s["groups"]]
    for bench in s["benchmarks"]:
        lines += [f"## {bench}", "",
                  "| router | " + " | ".join(f"m={m} {g}" for m, g in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for r in _router_order(report):
            vals = []
            for m, g in cols:
                c = cells.get((bench, g, m, r))
                vals.append("–" if c is None else f"{c['v_b']:.3f} ({c['mu']:.3f})")
            lines.append(f"| {r} | " + " | ".join(vals) + " |")
        lines.append("")
    lines += ["## Averaged over benchmarks and groups", "",
              "| router | " + " | ".join(f"m={m}" for m in s["pools"]) + " |",
              "|---|" + "---|" * len(s["pools"])]
    overall = {(o["m"], o["router"]): o for o in report["summary"]["overall"]}
    for r in _router_order(report):
        vals = []
        for m in s["pools"]:
            o = overall.get((m, r))
            routed = (f", routed {1 - o['w_best']:.0%}" if o is not None and _split_name(r)[1]
                      else "")
            vals.append("–" if o is None else f"{o['v_b']:.3f} [{o['v_b_lo']:.3f}, "
                        f"{o['v_b_hi']:.3f}] (mu {o['mu']:.3f}{routed})")
        lines.append(f"| {r} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def plot_report(report: dict, out_dir) -> list:
    """PNG per group: mu and V_B against pool size (log axis), averaged over benchmarks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pathlib import Path

    out_dir = Path(out_dir)
    frame = pl.DataFrame(report["summary"]["cells"])
    shown = list(report["settings"]["routers"]) + ["oracle", "best-single", "random"]
    bases = list(dict.fromkeys(_split_name(r)[0] for r in report["settings"]["routers"]))
    paths = []
    for group in report["settings"]["groups"]:
        part = frame.filter(pl.col("group") == group)
        if part.height == 0:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        for ax, metric, label in ((axes[0], "mu", "mu (mean score of picks)"),
                                  (axes[1], "v_b", "V_B (mu / best single)")):
            for r in shown:
                line = (part.filter(pl.col("router") == r).group_by("m")
                        .agg(pl.col(metric).mean()).sort("m"))
                if line.height:
                    ax.plot(line["m"].to_list(), line[metric].to_list(), label=r,
                            **_line_style(r, bases))
            ax.set_xscale("log")
            ax.set_xlabel("pool size m (log)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.suptitle(f"{group}: averaged over {', '.join(report['settings']['benchmarks'])} "
                     f"({'training-only' if report['settings']['select_on'] == 'train' else 'RouterEval'} selection)",
                     fontsize=9)
        fig.tight_layout()
        path = out_dir / f"pools_{group}.png"
        atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths


# Plot styles: one colour per base router, one line style per validated form, reference
# routers in greys, so a dozen lines stay tellable apart.
_SUFFIX_STYLE = {"": "-", VALIDATED: "-.", VALIDATED_POOLED: ":", CROSS_VALIDATED: "--"}
_REFERENCE_STYLE = {"oracle": ("black", "^"), "best-single": ("dimgrey", "s"),
                    "random": ("darkgrey", "v")}


def _line_style(router: str, bases: list) -> dict:
    if router in _REFERENCE_STYLE:
        colour, marker = _REFERENCE_STYLE[router]
        return {"color": colour, "marker": marker, "linestyle": "--", "linewidth": 1}
    base, kind = _split_name(router)
    return {"color": f"C{bases.index(base) % 10}", "marker": "o", "markersize": 4,
            "linestyle": _SUFFIX_STYLE[kind]}


def write_report(report: dict, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``out_dir`` (atomically)."""
    import json
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "report.json", lambda p: p.write_text(json.dumps(_finite(report), indent=1)))
    atomic_write(out_dir / "report.md", lambda p: p.write_text(markdown_report(report)))
    plots = plot_report(report, out_dir)
    return {"json": str(out_dir / "report.json"), "markdown": str(out_dir / "report.md"),
            "plots": [str(p) for p in plots]}


def _finite(obj):
    """NaN -> None so the JSON is strict."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj
