"""Probe selection: every strategy returns valid, distinct, restricted prompts; designs that
should beat random on planted data do; cost preference and the adaptive session work."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from planted import planted_frame

import routerrec
from routerrec import ProbeSession, select_probes
from routerrec.coldstart.probes import STRATEGIES, anchor_points


@pytest.fixture(scope="module")
def fitted():
    frame, truth = planted_frame(n_prompts=300, n_models=80, rank=3, density=0.9, noise=0.1,
                                 model_shared=0.3, seed=5)
    bench = pl.when(pl.col("prompt") < "p00100").then(pl.lit("small")).otherwise(pl.lit("big"))
    records = routerrec.records_from_frame(frame.with_columns(benchmark=bench))
    return routerrec.fit(records, method="als", rank=3, reg=0.01, iterations=10), records


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_returns_k_distinct_known_prompts(fitted, strategy):
    model, _ = fitted
    exclude = model.prompts[:20]
    ids = select_probes(model, 15, strategy=strategy, exclude=exclude, seed=1)
    assert len(ids) == len(set(ids)) == 15
    assert set(ids) <= set(model.prompts) and not set(ids) & set(exclude)
    small = select_probes(model, 6, strategy=strategy, benchmarks=["small"])
    bench = dict(zip(model.prompts, model.prompt_benchmark))
    assert {bench[i] for i in small} == {"small"}


def test_stratified_allocation(fitted):
    model, _ = fitted
    bench = dict(zip(model.prompts, model.prompt_benchmark))
    prop = [bench[i] for i in select_probes(model, 30, strategy="stratified")]
    equal = [bench[i] for i in select_probes(model, 30, strategy="stratified",
                                             allocation="equal")]
    assert prop.count("small") == 10 and prop.count("big") == 20  # 100 vs 200 prompts
    assert equal.count("small") == equal.count("big") == 15


def test_bad_arguments_are_clear(fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match="unknown strategy"):
        select_probes(model, 5, strategy="magic")
    with pytest.raises(ValueError, match="unknown benchmark"):
        select_probes(model, 5, benchmarks=["nope"])
    with pytest.raises(ValueError, match="k=1000"):
        select_probes(model, 1000)


def test_dopt_design_has_larger_information_than_random(fitted):
    model, _ = fitted
    Y = np.column_stack([model.prompt_factors, np.ones(len(model.prompts))]).astype(float)

    def logdet(ids):
        y = Y[model.prompt_indices(ids)]
        return np.linalg.slogdet(y.T @ y + 1e-3 * np.eye(Y.shape[1]))[1]

    dopt = logdet(select_probes(model, 12, strategy="dopt"))
    rand = [logdet(select_probes(model, 12, strategy="random", seed=s)) for s in range(10)]
    assert dopt > max(rand)


def test_anchor_weights_are_cluster_shares(fitted):
    model, _ = fitted
    ids, weights = anchor_points(model, 9)
    assert len(ids) == len(weights) == 9
    # per benchmark the weights of its anchors sum to one (3 small + 6 big)
    bench = np.array([dict(zip(model.prompts, model.prompt_benchmark))[i] for i in ids])
    assert weights[bench == "small"].sum() == pytest.approx(1.0)
    assert weights[bench == "big"].sum() == pytest.approx(1.0)


def test_costs_make_cheap_prompts_preferred(fitted):
    model, _ = fitted
    costs = {p: (0.01 if i % 2 else 1.0) for i, p in enumerate(model.prompts)}
    cheap = {p for p, c in costs.items() if c < 0.1}
    for strategy in ("random", "dopt", "info"):
        plain = select_probes(model, 20, strategy=strategy, seed=3)
        thrifty = select_probes(model, 20, strategy=strategy, seed=3, costs=costs,
                                cost_weight=1.0)
        assert len(cheap & set(thrifty)) > len(cheap & set(plain)), strategy
        assert len(cheap & set(thrifty)) >= 16, strategy


def test_adaptive_session_stops_at_budget_or_target(fitted):
    model, records = fitted
    truth = records.table.filter(pl.col("model") == model.models[0])
    answers = dict(zip(truth["prompt"], truth["score"]))
    session = ProbeSession(model, budget=12)
    asked = []
    while not session.done:
        p = session.propose()
        assert p not in asked
        asked.append(p)
        session.record(p, answers.get(p, 0.5))
    assert len(asked) == 12
    result = session.result("copy")
    assert result.n_probes == 12 and "copy" in result.model.models
    # a loose target stops long before the budget
    loose = ProbeSession(model, budget=200, target_width=0.5)
    while not loose.done:
        p = loose.propose()
        loose.record(p, answers.get(p, 0.5))
    assert 1 <= len(loose.answers) < 200
