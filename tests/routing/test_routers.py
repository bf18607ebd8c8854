"""Routers on planted topic data: the text decides which specialist model is right.

The contract every router shares (shapes, pools, save/load, determinism, bad input) is
checked by test_routers_suite.py; this file checks what each router is for."""
from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import polars as pl
import pytest

from routerrec import records_from_frame
from routerrec.routing.cost import CostModel, choose
from routerrec.routing.base import true_matrices
from routerrec.routing.learned import MF_METHOD_DEFAULTS
from routerrec.routing.registry import ROUTERS, learned_routers, load_router, make_router
from commands import ROUTERREC, run_many
from planted import SKILL, TOPICS, topic_records, topic_text



@pytest.fixture(scope="module")
def train():
    return topic_records(240, seed=1)


@pytest.fixture(scope="module")
def new_prompts():
    rng = np.random.default_rng(99)
    topics = list(TOPICS)
    texts = [topic_text(rng, topics[i % 3]) for i in range(60)]
    want = [("mathy", "coder", "quizzer")[i % 3] for i in range(60)]
    return texts, want


# the defaults of every learned router, but a small encoder (and fewer lightfm epochs)
PARAMS = {"lightfm": dict(epochs=15)}


@pytest.fixture(scope="module")
def fitted(train):
    return {name: make_router(name, encoder_params=dict(dim=16), **PARAMS.get(name, {})).fit(train)
            for name in learned_routers()}


@pytest.mark.parametrize("name", learned_routers())
def test_learned_router_routes_unseen_prompts_to_the_specialist(fitted, new_prompts, name):
    texts, want = new_prompts
    router = fitted[name]
    scores = router.predict(texts)
    assert scores.shape == (len(texts), 4) and np.all(np.isfinite(scores))
    picks = router.route(texts, models=["mathy", "coder", "quizzer"])
    assert np.mean([p == w for p, w in zip(picks, want)]) >= 0.9


def test_mf_uses_the_completion_model_and_picks_ridge_strength_by_validation(fitted):
    mf = fitted["mf"]
    assert mf.method_ == "logistic"  # binary records, logistic available
    assert mf.alpha_ in mf.alphas and len(mf.validation_) == len(mf.alphas)
    # method_params=None: the method's defaults and the router's, whichever validates better
    assert mf.method_params_ in ({}, MF_METHOD_DEFAULTS["logistic"])
    assert mf.completion_.models == mf.models_


def test_ensemble_is_the_mean_of_its_members_on_one_encoder(fitted, new_prompts):
    texts, _ = new_prompts
    ens = fitted["ensemble"]
    assert [type(r).name for r in ens.members_] == ["linear", "mf"]
    members = (fitted["linear"].predict(texts), fitted["mf"].predict(texts))
    np.testing.assert_allclose(ens.predict(texts), np.mean(members, axis=0), rtol=1e-5, atol=1e-6)
    for member in ("oracle", "auto", "ensemble"):  # auto and ensemble hold routers themselves
        with pytest.raises(ValueError, match=f"member '{member}'"):
            make_router("ensemble", routers=[member], encoder_params=dict(dim=16)).fit(
                topic_records(30, seed=2))


def test_cost_model_learns_cost_per_character(train, new_prompts, fitted):
    cm = fitted["linear"].cost_model_
    assert cm.kind_ == "length" and cm.r2_ > 0.99
    texts, _ = new_prompts
    pred = fitted["linear"].predict_cost(texts, models=["mathy", "cheap"])
    lengths = np.array([len(t) for t in texts])
    np.testing.assert_allclose(pred, np.outer(lengths, [2e-6, 1e-7]), rtol=1e-3, atol=1e-9)
    flat = records_from_frame(train.table.with_columns(pl.lit(0.01).alias("cost")))
    assert CostModel().fit(flat, np.ones(flat.n_prompts)).kind_ == "mean"


def test_wtp_trades_quality_for_cost(fitted, new_prompts):
    texts, want = new_prompts
    router = fitted["linear"]
    assert set(router.route(texts, wtp=0.0)) == {"cheap"}
    rich = router.route(texts, wtp=1e6)
    assert np.mean([p == w for p, w in zip(rich, want)]) >= 0.9
    spent = [router.predict_cost(texts, models=[m])[i, 0] for i, m in enumerate(rich)]
    cheap = router.predict_cost(texts, models=["cheap"])[:, 0]
    assert np.sum(spent) > np.sum(cheap)


def test_choose_rules():
    scores = np.array([[0.9, 0.8, 0.8], [0.5, 0.5, 0.2], [0.9, 0.6, 0.1]])
    costs = np.array([[10.0, 1.0, 0.5], [3.0, 2.0, 1.0], [5.0, 4.0, 3.0]])
    assert choose(scores, costs).tolist() == [0, 1, 0]          # best score, cheaper on ties
    assert choose(scores, costs, wtp=1.0).tolist() == [2, 2, 2]  # λ·s − c
    assert choose(scores, costs, wtp=100.0).tolist() == [0, 1, 0]
    assert choose(scores, costs, max_cost=2.0).tolist() == [2, 1, 2]  # row 3: none fits -> cheapest
    assert choose(scores, costs, max_cost=np.array([20.0, 0.5, 5.0])).tolist() == [0, 2, 0]
    # an unknown (NaN) cost never hands the pick to a model that is not among the best
    assert choose(np.array([[0.1, 0.9]]), np.array([[1.0, np.nan]])).tolist() == [1]
    assert choose(np.array([[0.9, 0.9]]), np.array([[np.nan, 1.0]])).tolist() == [1]
    with pytest.raises(ValueError, match="wtp"):
        choose(scores, costs, wtp=-1.0)


def test_an_unknown_cost_does_not_pass_a_budget():
    """A NaN predicted cost cannot be shown to be within ``max_cost``: the best model that is
    known to fit is chosen (it used to pass, as NaN > budget is False); when nothing is known
    to fit, the cheapest known cost."""
    scores = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    costs = np.array([[np.nan, 1.0, 0.5], [np.nan, 3.0, 2.0]])
    assert choose(scores, costs).tolist() == [0, 0]  # no budget: the unknown cost is no bar
    assert choose(scores, costs, max_cost=1.0).tolist() == [1, 2]
    assert choose(scores, costs, max_cost=[1.0, 2.5]).tolist() == [1, 2]
    assert choose(np.array([[0.9, 0.5]]), np.array([[np.nan, np.nan]]),
                  max_cost=1.0).tolist() == [0]  # nothing known: the first


def test_dense_training_on_big_records_is_refused_at_once(monkeypatch):
    """100,000 prompts x 2,000 models (one observed cell per prompt): the routers' dense copies
    would take 9 GB; fitting used to featurise for a minute and then die allocating them."""
    monkeypatch.delenv("ROUTERREC_MAX_ARRAY_BYTES", raising=False)  # the default limit
    rng = np.random.default_rng(0)
    n, m = 100_000, 2_000
    models = np.r_[np.arange(m), rng.integers(0, m, n - m)]  # every model observed
    frame = pl.DataFrame({"prompt": [f"p{i}" for i in range(n)],
                          "model": [f"m{j}" for j in models],
                          "score": rng.random(n), "text": [f"prompt number {i}" for i in range(n)]})
    records = records_from_frame(frame, text="text")
    assert records.n_models == m
    for name in ("mf", "linear", "knn", "ensemble"):
        start = time.perf_counter()
        with pytest.raises(ValueError, match=rf"fitting the {name} router on 100000 prompts x "
                                             r"2000 models .* would need 8.9 GiB, above the limit"
                                             r" of 2.0 GiB .*use the lightfm router"):
            make_router(name).fit(records)
        assert time.perf_counter() - start < 5


def test_reference_routers(train):
    test = topic_records(60, seed=5, density=1.0, prefix="t")
    truth, cost = true_matrices(test)
    oracle = make_router("oracle").fit(train)
    picks = oracle.route_records(test)
    idx = [test.models.index(p) for p in picks]
    best = truth.max(axis=1)
    assert np.all(truth[np.arange(len(idx)), idx] == best)
    for i, j in enumerate(idx):  # cheapest among the tied best
        tied = truth[i] == best[i]
        assert cost[i, j] == cost[i, tied].min()
    with pytest.raises(NotImplementedError):
        oracle.predict(["some text"])
    assert make_router("oracle-p", p=1.0).fit(train).route_records(test) == picks
    rnd = make_router("random", seed=3).fit(train).route_records(test)
    assert len(set(rnd)) == 4 and rnd == make_router("random", seed=3).fit(train).route_records(test)
    half = make_router("oracle-p", p=0.5, seed=1).fit(train).route_records(test)
    agree = np.mean([a == b for a, b in zip(half, picks)])
    assert 0.5 < agree < 0.95  # p of oracle picks, plus random picks that match by chance
    single = make_router("best-single").fit(train)
    means = true_matrices(train)[0]
    assert set(single.route_records(test)) == {train.models[int(np.nanargmax(np.nanmean(means, 0)))]}
    assert set(single.route_records(test, models=["cheap", "quizzer"])) <= {"cheap", "quizzer"}
    assert sorted(ROUTERS) == sorted(["auto", "mf", "lightfm", "knn", "linear", "ensemble",
                                      "oracle", "random", "best-single", "oracle-p",
                                      "task-best", "cluster-best"])


def test_errors_name_the_problem(train, tmp_path):
    """(Errors every router shares are in test_routers_suite.py.)"""
    with pytest.raises(ValueError, match="unknown router"):
        make_router("svm")
    no_text = records_from_frame(train.table.drop("cost"))
    with pytest.raises(ValueError, match="no text"):
        make_router("linear").fit(no_text)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match="not a routerrec router"):
        load_router(tmp_path / "bad")


def test_cli_fit_router_and_route(train, tmp_path):
    data = tmp_path / "train.parquet"
    train.table.join(train.texts, on="prompt").write_parquet(data)
    out = tmp_path / "router"
    res = subprocess.run([ROUTERREC, "fit", "--router", "linear", "--data", str(data),
                          "--out", str(out), "--json"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["cost_model"] == "length"
    batch, bad = tmp_path / "prompts.jsonl", tmp_path / "bad.jsonl"
    batch.write_text('{"id": "a", "text": "please python loop recursion bug"}\n'
                     '{"id": "b", "text": "please capital river island king"}\n')
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n')
    one, many, no_text, unknown = run_many(  # independent: run at once
        ("route", "--model", out, "--json", "--wtp", "1e6",
         "please integral derivative theorem proof"),
        ("route", "--model", out, "--prompts", batch, "--models", "coder,quizzer", "--out",
         tmp_path / "d.jsonl"),
        ("route", "--model", out, "--prompts", bad),
        ("route", "--model", out, "x", "--models", "gpt-9"))
    assert one.returncode == 0, one.stderr
    decision = json.loads(one.stdout)["decisions"][0]
    assert decision["model"] == "mathy" and set(decision["candidates"]) == set(SKILL)
    assert many.returncode == 0, many.stderr
    lines = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [(d["id"], d["model"]) for d in lines] == [("a", "coder"), ("b", "quizzer")]
    assert no_text.returncode != 0 and "row 2" in no_text.stderr and "'text'" in no_text.stderr
    assert unknown.returncode != 0 and "gpt-9" in unknown.stderr


def test_precomputed_vectors_route_by_prompt_id(train, tmp_path):
    """Bring-your-own embeddings: a router keyed by prompt id (vectors = one-hot topics)."""
    ids = train.prompts + ["new-math", "new-code"]
    topic = [list(TOPICS).index(b) for b in (train.prompt_benchmark[p] for p in train.prompts)]
    vectors = np.eye(3)[topic + [0, 1]] + 0.01
    pl.DataFrame({"prompt": ids, "embedding": vectors.tolist()}).write_parquet(tmp_path / "v.parquet")
    router = make_router("linear", encoder="precomputed",
                         encoder_params={"path": str(tmp_path / "v.parquet")}).fit(train)
    assert router.route(["new-math", "new-code"], models=["mathy", "coder"]) == ["mathy", "coder"]
    assert router.predict_cost(["new-math"]).shape == (1, 4)  # ids: each model's mean cost
    router.save(tmp_path / "r")
    (tmp_path / "v.parquet").unlink()  # the vectors travel with the router
    assert load_router(tmp_path / "r").route(["new-code"], models=["mathy", "coder"]) == ["coder"]


def test_make_router_names_an_unknown_parameter_and_load_router_wants_a_path():
    with pytest.raises(TypeError, match=r"router 'linear' has no parameter 'alpha'; its parameters are alphas"):
        make_router("linear", alpha=-1)
    with pytest.raises(TypeError, match="load_router's directory must be a path"):
        load_router(None)
