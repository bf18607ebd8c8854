"""Fold-in with uncertainty (the batched posterior, fold_in_model) and the probes / add-model
commands."""
from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import polars as pl
import pytest
from commands import ROUTERREC, run_many
from planted import three_benchmark_records

import routerrec
from routerrec import fold_in_model, select_probes
from routerrec.coldstart.design import BatchState, Design



@pytest.fixture(scope="module")
def records():
    return three_benchmark_records()


@pytest.fixture(scope="module")
def split(records):
    """ALS fitted without the last model, that model's answers and name, the training set."""
    name = records.models[-1]
    train = records.filter(models=records.models[:-1])
    als = routerrec.fit(train, method="als", rank=3, reg=0.01, iterations=10)
    mine = records.table.filter(pl.col("model") == name)
    return als, dict(zip(mine["prompt"], mine["score"])), name, train


def test_fit_stores_benchmark_labels_and_they_survive_save(split, tmp_path):
    als, *_ = split
    assert set(als.prompt_benchmark) == {"a", "b", "c"}
    assert routerrec.load_model(als.save(tmp_path / "m")).prompt_benchmark == als.prompt_benchmark


def test_batched_posterior_equals_model_fold_in(split):
    """The batched solver used by the evaluation is the same MAP and covariance as
    Model.model_posterior (identity: numba ridge; logistic: its Newton solver)."""
    als, answers, _, train = split
    logistic = routerrec.fit(train, method="logistic", rank=3, iterations=8)
    probes = select_probes(als, 25, strategy="random", seed=2)
    for model in (als, logistic):
        q, b, cov = model.model_posterior({p: answers[p] for p in probes})
        state = BatchState(Design(model), np.ones((1, len(model.prompts)), bool))
        state.observe(model.prompt_indices(probes)[None],
                      np.array([[answers[p] for p in probes]]))
        np.testing.assert_allclose(state.x[0], np.append(q, b), atol=2e-3)
        np.testing.assert_allclose(state.cov[0], cov, rtol=0.02, atol=1e-4)


def test_fold_in_model_estimates_cover_the_truth(split):
    als, answers, name, _ = split
    probes = select_probes(als, 40, strategy="stratified")
    result = fold_in_model(als, name, {p: answers[p] for p in probes})
    assert result.model.models[-1] == name
    assert len(result.scores) == len(als.prompts)
    bench = dict(zip(als.prompts, als.prompt_benchmark))
    for b, est in result.benchmarks.items():
        items = [p for p in als.prompts if b == "overall" or bench[p] == b]
        true = np.mean([answers[p] for p in items])
        assert est["low"] <= est["estimate"] <= est["high"]
        assert abs(est["estimate"] - true) < 0.12, (b, est, true)
        assert est["items"] == len(items)
    assert sum(v["probes"] for k, v in result.benchmarks.items() if k != "overall") == 40


def test_more_probes_narrow_the_intervals(split):
    als, answers, name, _ = split
    widths = []
    for k in (10, 40, 160):
        probes = select_probes(als, k, strategy="random", seed=0)
        est = fold_in_model(als, name, {p: answers[p] for p in probes}).benchmarks["overall"]
        widths.append(est["high"] - est["low"])
    assert widths[0] > widths[1] > widths[2]


def test_fold_in_model_from_50_probes_is_fast_and_does_not_refit(split):
    als, answers, name, _ = split
    probes = select_probes(als, 50, strategy="dopt")
    results = {p: answers[p] for p in probes}
    fold_in_model(als, name, results)  # warm up
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        out = fold_in_model(als, name, results)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.05
    np.testing.assert_array_equal(out.model.prompt_factors, als.prompt_factors)
    # the grown model is add_model's, and the estimates come from the same posterior
    np.testing.assert_array_equal(out.model.predict(), als.add_model(name, results).predict())


def test_fold_in_model_refuses_what_cannot_fold_in(split):
    _, answers, name, train = split
    lightfm = routerrec.fit(train, method="lightfm", rank=3, iterations=2)
    with pytest.raises(NotImplementedError, match="cannot fold in a new model"):
        fold_in_model(lightfm, name, {p: answers[p] for p in lightfm.prompts[:20]})
    knn = routerrec.fit(train, method="knn", k=5)
    with pytest.raises(ValueError, match="noise variance"):
        fold_in_model(knn, name, {p: answers[p] for p in knn.prompts[:20]})


def test_cli_probes_and_add_model(split, tmp_path):
    als, answers, name, _ = split
    als.save(tmp_path / "model")
    run = lambda *a: subprocess.run([ROUTERREC, *a], capture_output=True, text=True, timeout=120)
    res = run("probes", "--model", str(tmp_path / "model"), "--k", "30", "--strategy",
              "stratified", "--out", str(tmp_path / "probes.csv"))
    assert res.returncode == 0, res.stderr
    probes = pl.read_csv(tmp_path / "probes.csv")
    assert probes.columns == ["prompt", "benchmark"] and probes.height == 30
    scored = probes.with_columns(score=pl.col("prompt").replace_strict(answers))
    scored.select("prompt", "score").write_csv(tmp_path / "scored.csv")
    scored.with_columns(pl.lit("nope").alias("prompt")).write_csv(tmp_path / "bad.csv")
    res, bad = run_many(  # independent: run at once
        ("add-model", "--model", tmp_path / "model", "--name", name, "--results",
         tmp_path / "scored.csv", "--out", tmp_path / "model2", "--json"),
        ("add-model", "--model", tmp_path / "model", "--name", "x", "--results",
         tmp_path / "bad.csv"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out["benchmarks"]) == {"a", "b", "c", "overall"} and out["n_probes"] == 30
    assert routerrec.load_model(tmp_path / "model2").models[-1] == name
    # clear errors naming file, column and row
    assert bad.returncode != 0 and "bad.csv, column 'prompt', row 1" in bad.stderr


def test_openllm_smoke(tmp_path):
    """Real records: 40 probes of a held-out Open LLM model give estimates within 10 points."""
    from routerrec.data.shared import load_openllm, shared_data_dir

    shared_data_dir("openllm-v1") or pytest.skip("shared data set openllm-v1 not available")

    records = load_openllm()
    keep = records.models[::10]
    small = records.filter(models=keep)
    name = keep[3]
    model = routerrec.fit(small.filter(models=[m for m in keep if m != name]), method="als",
                          rank=16, reg=0.01, iterations=8)
    mine = small.table.filter(pl.col("model") == name)
    answers = dict(zip(mine["prompt"], mine["score"]))
    probes = [p for p in select_probes(model, 60, strategy="stratified") if p in answers][:40]
    result = fold_in_model(model, name, {p: answers[p] for p in probes})
    true = np.mean([answers[p] for p in model.prompts if p in answers])
    assert abs(result.benchmarks["overall"]["estimate"] - true) < 0.10
