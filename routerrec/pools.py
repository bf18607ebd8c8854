"""RouterEval-style candidate-pool sweep: how routing quality scales from 3 to 1,000 models.

For every benchmark, prompts are split train / validation / test (seeded, stratified);
candidate pools of ``m`` models are drawn the way RouterEval defines its groups, but chosen
on the training prompts only (``select_on="all"`` reproduces RouterEval's selection, which
peeks at the test prompts); every router is fitted **once** per split and benchmark on the
training prompts of all models, and each pool sub-sets the columns of its predictions.
Metrics are RouterEval's: mu, V_B, V_R and E_p, plus the reference routers (oracle, random,
best single, r_o(p)). See docs/pools.md for the exact definitions and their caveats.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import polars as pl

from .files import atomic_write
from .model import LINKS
from .progress import progress_bar

__all__ = ["GROUPS", "POOL_SIZES", "REFERENCE_ACCURACY", "REFERENCE_ROUTERS", "RO_P",
           "TEMPERATURE", "LEARNED_ROUTERS", "METRICS", "TextFactorRouter", "evaluate_pools",
           "make_pool_router", "markdown_report", "plot_report", "pool_metrics",
           "reference_accuracy", "reference_scores",
           "select_pool", "split_three", "summarise", "write_report"]

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


def _dense(records, prompts: Sequence[str], models: Sequence[str]) -> np.ndarray:
    """prompts x models float array of observed scores, NaN where unobserved."""
    out = np.full((len(prompts), len(models)), np.nan, dtype=np.float32)
    if records is None or not len(prompts):
        return out
    m = records.matrix()
    rows = np.array([m.prompt_index.get(p, -1) for p in prompts])
    cols = np.array([m.model_index.get(x, -1) for x in models])
    coo = m.scores.tocoo()
    rmap = np.full(m.shape[0], -1)
    rmap[rows[rows >= 0]] = np.flatnonzero(rows >= 0)
    cmap = np.full(m.shape[1], -1)
    cmap[cols[cols >= 0]] = np.flatnonzero(cols >= 0)
    r, c = rmap[coo.row], cmap[coo.col]
    keep = (r >= 0) & (c >= 0)
    out[r[keep], c[keep]] = coo.data[keep]
    return out


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


def _last_paragraph(text: str | None) -> str:
    """The question of a few-shot prompt: its last non-empty paragraph (shots repeat)."""
    if not text:
        return ""
    parts = [p for p in text.split("\n\n") if p.strip()]
    return parts[-1] if parts else text


class TextFactorRouter:
    """A completion model whose prompt factors for unseen prompts come from their text.

    ``fit`` fits ``routerrec.fit(method, ...)`` on the records (prompts x all models), then a
    ridge map from TF-IDF features of each prompt's last paragraph (few-shot prompts share
    their shots) to its fitted factors and bias. ``predict(texts, models=...)`` scores any
    new prompt against any fitted models without refitting: the scoring path of the pool
    sweep (the routers of ``routerrec.routers`` plug in through the same two calls).
    """

    def __init__(self, *, method: str = "als", rank: int = 8, reg: float = 0.1,
                 iterations: int = 15, alpha: float = 1.0, seed: int = 0):
        self.method = method
        self.rank = rank
        self.reg = reg
        self.iterations = iterations
        self.alpha = alpha
        self.seed = seed

    def fit(self, records) -> "TextFactorRouter":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        from .methods import fit as fit_method

        self.model_ = fit_method(records, method=self.method, rank=self.rank, reg=self.reg,
                                 iterations=self.iterations, seed=self.seed)
        texts = [_last_paragraph(t) for t in records.text_of(self.model_.prompts)]
        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
        try:
            features = self.vectorizer_.fit_transform(texts)
        except ValueError:  # vocabulary empty (no texts): fall back to unigrams seen once
            self.vectorizer_ = TfidfVectorizer(min_df=1)
            features = self.vectorizer_.fit_transform([t or "<empty>" for t in texts])
        target = np.column_stack([self.model_.prompt_factors, self.model_.prompt_bias])
        self.ridge_ = Ridge(alpha=self.alpha).fit(features, target)
        self.models_ = list(self.model_.models)
        return self

    def predict(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted scores, len(texts) x len(models) (all fitted models by default)."""
        model = self.model_
        mi = model.model_indices(models)
        aug = self.ridge_.predict(self.vectorizer_.transform(
            [_last_paragraph(t) for t in texts])).astype(np.float32)
        linear = aug[:, :-1] @ model.model_factors[mi].T
        linear += model.global_mean + aug[:, -1:] + model.model_bias[mi][None, :]
        out = LINKS[model.link](linear)
        return out if model.clip is None else np.clip(out, *model.clip)


# pool-sweep router name -> factory of an unfitted router (fit(records), predict(texts, models=))
LEARNED_ROUTERS: dict[str, Callable] = {"mf-text": TextFactorRouter}


def make_pool_router(name: str, **params):
    """An unfitted learned router: ``LEARNED_ROUTERS`` first, then ``routerrec.routers``."""
    if name in LEARNED_ROUTERS:
        return LEARNED_ROUTERS[name](**params)
    try:
        from .routers import make_router
    except ImportError:
        raise ValueError(f"unknown router {name!r}; choose from {sorted(LEARNED_ROUTERS)}") from None
    return make_router(name, **params)


# ----------------------------------------------------------------------------- the sweep


def evaluate_pools(records, *, benchmarks: Sequence[str] | None = None,
                   pools: Sequence[int] = POOL_SIZES, groups: Sequence[str] = GROUPS,
                   routers: Sequence[str] = ("mf-text",),
                   router_params: Mapping[str, Mapping] | None = None, seeds: int = 3,
                   draws: int = 1, candidates: int = 32, select_on: str = "train",
                   val: float = 0.1, test: float = 0.1, temperature: float = TEMPERATURE,
                   progress: bool = False) -> dict:
    """Run the candidate-pool sweep and return the report (a JSON-ready dict).

    For each seed: one train / val / test split; per benchmark, every learned router is
    fitted once on the training prompts of that benchmark (all models, incomplete ones
    included) and predicts the test prompts for all eligible models once; every pool of
    every size and group then sub-sets those columns. Eligible models are those observed on
    every prompt of the benchmark. ``select_on="train"`` ranks and chooses pools on the
    training prompts; ``"all"`` on every prompt, test included (RouterEval's way).
    """
    if select_on not in ("train", "all"):
        raise ValueError(f"select_on must be 'train' or 'all', got {select_on!r}")
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f"unknown group(s) {bad}; choose from {GROUPS}")
    if any(int(m) < 2 for m in pools):
        raise ValueError(f"pool sizes must be >= 2, got {list(pools)}")
    known = records.benchmarks
    benchmarks = list(benchmarks) if benchmarks else list(known)
    missing = [b for b in benchmarks if b not in known]
    if missing:
        raise ValueError(f"unknown benchmark(s) {missing}; the records have {known}")
    router_params = dict(router_params or {})
    prompt_bench = records.prompt_benchmark
    rows, skipped, timing = [], [], {"fit_seconds": 0.0, "predict_seconds": 0.0, "pool_seconds": 0.0}
    t_start = time.perf_counter()
    total = seeds * len(benchmarks)
    with progress_bar(total, "pool sweep", enabled=progress, unit="split") as bar:
        for seed in range(seeds):
            train_all, _, test_all = split_three(records, seed=seed, val=val, test=test)
            for bench in benchmarks:
                rows += _one_benchmark(records, train_all, test_all, bench, prompt_bench, seed,
                                       pools=pools, groups=groups, routers=routers,
                                       router_params=router_params, draws=draws,
                                       candidates=candidates, select_on=select_on,
                                       temperature=temperature, skipped=skipped, timing=timing)
                bar.update(1)
    timing["total_seconds"] = time.perf_counter() - t_start
    settings = dict(benchmarks=benchmarks, pools=[int(m) for m in pools], groups=list(groups),
                    routers=list(routers), reference_routers=list(REFERENCE_ROUTERS),
                    seeds=seeds, draws=draws, candidates=candidates, select_on=select_on,
                    split={"train": round(1 - val - test, 6), "val": val, "test": test},
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


def _one_benchmark(records, train_all, test_all, bench, prompt_bench, seed, *, pools, groups,
                   routers, router_params, draws, candidates, select_on, temperature,
                   skipped, timing) -> list:
    prompts = [p for p in records.prompts if prompt_bench[p] == bench]
    in_bench = set(prompts)
    train_ids = [p for p in train_all.prompts if p in in_bench]
    test_ids = [p for p in test_all.prompts if p in in_bench]
    bench_records = records.filter(prompts=prompts)
    full = _dense(bench_records, prompts, bench_records.models)
    eligible = [mod for mod, ok in zip(bench_records.models, ~np.isnan(full).any(axis=0)) if ok]
    train = train_all.filter(prompts=train_ids)
    truth = _dense(test_all, test_ids, eligible)
    train_dense = _dense(train, train_ids, eligible)
    selection = train_dense if select_on == "train" else _dense(bench_records, prompts, eligible)
    train_mean = train_dense.mean(axis=0)
    texts = records.text_of(test_ids)
    ref_acc = reference_accuracy(bench)

    predictions = {}
    for name in routers:
        t0 = time.perf_counter()
        router = make_pool_router(name, **router_params.get(name, {})).fit(train)
        t1 = time.perf_counter()
        predictions[name] = np.asarray(router.predict(texts, models=eligible), dtype=np.float32)
        timing["fit_seconds"] += t1 - t0
        timing["predict_seconds"] += time.perf_counter() - t1

    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, _stable_hash(bench)])
    rows = []
    for m in pools:
        for group in groups:
            for draw in range(draws):
                try:
                    pool = select_pool(selection, int(m), group, rng, candidates=candidates)
                except ValueError as exc:
                    skipped.append({"benchmark": bench, "seed": seed, "m": int(m), "group": group,
                                    "reason": str(exc)})
                    break
                t_pool, mean_pool = truth[:, pool], train_mean[pool]
                best = int(np.argmax(mean_pool))
                results = reference_scores(t_pool, mean_pool, best, reference=ref_acc,
                                           temperature=temperature)
                for name, pred in predictions.items():
                    results[name] = pool_metrics(t_pool, pred[:, pool], best, reference=ref_acc,
                                                 temperature=temperature)
                for name, metrics in results.items():
                    rows.append({"benchmark": bench, "group": group, "m": int(m), "router": name,
                                 "seed": seed, "draw": draw, "n_test": len(test_ids), **metrics})
    timing["pool_seconds"] += time.perf_counter() - t0
    return rows


def _stable_hash(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") % (2 ** 31)


# ----------------------------------------------------------------------------- summaries

METRICS = ("mu", "v_b", "v_b_test", "v_r", "e_p")


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
             "the pool's best single model identified on training prompts.", ""]
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
            vals.append("–" if o is None else
                        f"{o['v_b']:.3f} [{o['v_b_lo']:.3f}, {o['v_b_hi']:.3f}] (mu {o['mu']:.3f})")
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
    paths = []
    for group in report["settings"]["groups"]:
        part = frame.filter(pl.col("group") == group)
        if part.height == 0:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, metric, label in ((axes[0], "mu", "mu (mean score of picks)"),
                                  (axes[1], "v_b", "V_B (mu / best single)")):
            for r in shown:
                line = (part.filter(pl.col("router") == r).group_by("m")
                        .agg(pl.col(metric).mean()).sort("m"))
                if line.height:
                    style = "--" if r in REFERENCE_ROUTERS else "-"
                    ax.plot(line["m"].to_list(), line[metric].to_list(), style, marker="o", label=r)
            ax.set_xscale("log")
            ax.set_xlabel("pool size m (log)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{group}: averaged over {', '.join(report['settings']['benchmarks'])} "
                     f"({'training-only' if report['settings']['select_on'] == 'train' else 'RouterEval'} selection)",
                     fontsize=9)
        fig.tight_layout()
        path = out_dir / f"pools_{group}.png"
        atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths


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
