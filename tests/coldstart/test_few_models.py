"""Cold start with the 5-25 models users have: no flags needed, no failure, honest intervals.

Planted records with a known structure: low-rank logistic scores plus, when asked, a
per-(model, benchmark) offset the factors cannot capture (what makes real intervals too
narrow when they ignore it).
"""
from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

import routerrec
from routerrec import fold_in_model, records_from_frame, select_probes
from routerrec.coldstart.probes import ADAPTIVE_MIN_MODELS, ProbeSession, default_strategy
from routerrec.evaluation.coldstart import evaluate_coldstart
from routerrec.methods.discrepancy import benchmark_discrepancy


def few_model_records(n_models, *, offset_sd=0.0, n_prompts=300, seed=0):
    """Binary answers of ``n_models`` on three benchmarks (a, b, c): a rank-2 logistic model
    plus a N(0, offset_sd^2) logit offset per (model, benchmark)."""
    rng = np.random.default_rng(seed)
    bench = np.repeat(np.array(["a", "b", "c"]), n_prompts // 3)
    P = rng.normal(0, 0.8, (len(bench), 2))
    Q = rng.normal(0, 0.8, (n_models, 2))
    offset = rng.normal(0, offset_sd, (n_models, 3))[:, np.searchsorted(["a", "b", "c"], bench)]
    logit = rng.normal(0, 1, len(bench))[:, None] + rng.normal(0.5, 0.8, n_models) + P @ Q.T
    truth = 1 / (1 + np.exp(-(logit + offset.T)))
    values = (rng.random(truth.shape) < truth).astype(float)
    r, c = np.nonzero(np.ones_like(values, dtype=bool))
    return records_from_frame(pl.DataFrame({
        "prompt": [f"p{i:04d}" for i in r], "model": [f"m{j:02d}" for j in c],
        "score": values[r, c], "benchmark": bench[r]}))


@pytest.fixture(scope="module")
def six():
    return few_model_records(6, seed=1)


@pytest.mark.parametrize("method, rank", [("auto", None), ("als", 1), ("als", 32),
                                          ("logistic", 2), ("logistic", 32)])
def test_five_trained_models_are_enough_at_any_rank(six, method, rank):
    """Fold-in, every probe strategy and adaptive probing run with 5 trained models, even
    with a rank far above the model count (the prior's covariance is shrunk)."""
    train = six.filter(models=six.models[:5])
    model = routerrec.fit(train, method=method, **({} if rank is None else {"rank": rank}))
    mine = six.table.filter(pl.col("model") == six.models[5])
    answers = dict(zip(mine["prompt"], mine["score"]))
    for strategy in ("random", "stratified", "dopt", "info", "adaptive", None):
        probes = select_probes(model, 20, strategy=strategy)
        assert len(set(probes)) == 20
    session = ProbeSession(model, budget=30)
    while not session.done:
        prompt = session.propose()
        session.record(prompt, answers[prompt])
    result = session.result("new")
    for row in result.benchmarks.values():
        assert np.isfinite([row["estimate"], row["low"], row["high"]]).all()
        assert row["low"] <= row["estimate"] <= row["high"]
    assert fold_in_model(model, "new", {p: answers[p] for p in probes}).model.has_model("new")


def test_cold_start_with_fewer_than_three_models_says_what_to_do(six):
    model = routerrec.fit(six.filter(models=six.models[:2]), method="als", rank=2)
    with pytest.raises(ValueError, match="at least 3 trained models.*has 2"):
        select_probes(model, 5, strategy="dopt")


def test_discrepancy_finds_what_the_factors_miss():
    """Measured leave-one-model-out, the per-benchmark discrepancy is near 0 when the scores
    are low-rank and grows with a planted per-(model, benchmark) offset."""
    clean = few_model_records(24, seed=3)
    offset = few_model_records(24, offset_sd=0.8, seed=3)
    values = {}
    for name, records in (("clean", clean), ("offset", offset)):
        model = routerrec.fit(records, method="logistic", rank=2, members=1)
        found = benchmark_discrepancy(model, records.matrix().scores)
        assert found == model.discrepancy  # fit stores it
        values[name] = np.mean(list(found["benchmarks"].values()))
    assert values["offset"] > 4 * values["clean"] + 1e-4
    # a logit offset of sd 0.8 moves an accuracy near 0.6 by about 0.8 * 0.24 = 0.19
    assert 0.05 ** 2 < values["offset"] < 0.4 ** 2


@pytest.mark.parametrize("method", ["als", "logistic"])
def test_intervals_cover_held_out_models_with_few_models(method):
    """Leave models out of 24 (with a planted offset the factors miss): the 95% intervals
    cover 85-99% of the held-out models' true accuracies, pooled over three splits (without
    the discrepancy term they covered 77-78% here)."""
    records = few_model_records(24, offset_sd=1.0, seed=5)
    covered = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for seed in range(3):
            report = evaluate_coldstart(records, holdout_models=0.25, budgets=(30,),
                                        strategies=("random", "adaptive"), method=method,
                                        params={"rank": 2}, seed=seed)
            covered += [report["results"][s][30]["coverage"] for s in ("random", "adaptive")]
    assert 0.85 <= np.mean(covered) <= 0.99, covered


def test_default_probe_strategy_follows_the_model_count():
    small = routerrec.fit(few_model_records(12), method="als", rank=2)
    large = routerrec.fit(few_model_records(ADAPTIVE_MIN_MODELS), method="als", rank=2)
    assert default_strategy(small) == "stratified"
    assert default_strategy(large) == "adaptive"
    assert select_probes(small, 9) == select_probes(small, 9, strategy="stratified")
