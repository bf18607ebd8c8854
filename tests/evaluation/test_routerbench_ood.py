"""``evaluate routerbench`` with the field's metrics (APGR / CPT, RouterArena, Pareto distance)
and out of distribution (``--ood``), on planted topic records and through the real CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from commands import run_many
from planted import topic_records

from routerrec.data.records import Records
from routerrec.evaluation.routerbench import (apgr, evaluate_routerbench, markdown_report,
                                              pair_curve)
from routerrec.routing.base import true_matrices
from routerrec.routing.registry import make_router

LINEAR = {"linear": {"encoder_params": {"dim": 16}}}


@pytest.fixture(scope="module")
def split():
    return topic_records(240, seed=1), topic_records(90, seed=2, prefix="t")


@pytest.fixture(scope="module")
def costed(split):
    return evaluate_routerbench(*split, routers=("linear",), router_params=LINEAR, bootstrap=10)


def test_costed_report_has_arena_pareto_and_the_default_pair(costed, split):
    for name, e in costed["evals"].items():
        # the planted text says which specialist is right: linear is nearer the oracle
        # curve than the zero router on every eval, and no curve is above it
        d = e["pareto_distance"]
        assert 0 <= d["linear"] < d["zero"], name
        arena = e["arena"]
        assert arena["beta"] == 0.1 and (arena["c_max_per_1000"], arena["c_min_per_1000"]) == (200, 0.0044)
        s = arena["routers"]["linear"]
        assert s["best"] >= s["max_quality"] and 0 <= s["best"] <= 1
    # default pair: the best model on the training prompts vs the cheapest other one
    pair = costed["pair"]
    assert (pair["strong"], pair["weak"]) == ("coder", "cheap")
    # on code the strong model beats the weak one; the oracle's ranking recovers most
    code = pair["evals"]["code"]
    assert code["strong_score"] > code["weak_score"]
    assert code["routers"]["oracle"]["apgr"] > code["routers"]["linear"]["apgr"]
    assert code["routers"]["oracle"]["cpt50"] <= code["routers"]["linear"]["cpt50"]
    # the same number from the router's own predictions on the eval's test prompts
    train, test = split
    router = make_router("linear", **LINEAR["linear"]).fit(train)
    sub = test.filter(prompts=[p for p, b in test.prompt_benchmark.items() if b == "code"])
    models = costed["settings"]["models"]
    s, w = models.index("coder"), models.index("cheap")
    truth = true_matrices(sub, models)[0]
    both = ~np.isnan(truth[:, [s, w]]).any(axis=1)
    pred = router.predict_records(sub, models=models)
    share, quality = pair_curve((pred[:, s] - pred[:, w])[both], truth[both, s], truth[both, w])
    assert code["routers"]["linear"]["apgr"] == pytest.approx(
        apgr(share, quality, truth[both, w].mean(), truth[both, s].mean()))
    summary = costed["summary"]["linear"]
    assert summary["pair"] == pair["pooled"]["routers"]["linear"]
    assert summary["pooled_pareto_distance"] == costed["pooled"]["pareto_distance"]["linear"]
    text = markdown_report(costed)
    assert "| router | APGR | CPT(50%) | CPT(80%) |" in text and "RouterArena S" in text


def test_cost_free_report_has_the_pair_only_when_named(split):
    train, test = (Records(r.table.drop("cost"), r.texts, source="no costs") for r in split)
    plain = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                                 bootstrap=0)
    assert plain["pair"] is None and plain["evals"] == {} and "pair" not in plain["summary"]["linear"]
    named = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                                 bootstrap=0, strong="mathy", weak="cheap")
    assert named["pair"]["strong"] == "mathy" and set(named["pair"]["evals"]) == {"code", "math", "trivia"}
    assert "APGR" in markdown_report(named) and "RouterArena" not in markdown_report(named)
    with pytest.raises(ValueError, match="strong must be one of"):
        evaluate_routerbench(train, test, routers=("linear",), strong="gpt-9", weak="cheap")
    with pytest.raises(ValueError, match="both strong and weak"):
        evaluate_routerbench(train, test, routers=("linear",), strong="mathy")


def test_ood_trains_without_the_eval_and_judges_only_it(split, costed):
    train, test = split
    ood = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                               bootstrap=10, ood=["math"])
    s = ood["settings"]
    n_math = sum(b == "math" for b in train.prompt_benchmark.values())
    assert s["ood"] == ["math"] and s["ood_train_prompts_dropped"] == n_math > 0
    assert s["train_prompts"] == train.n_prompts - n_math
    assert list(ood["evals"]) == ["math"] and list(ood["max_quality"]["evals"]) == ["math"]
    q = ood["max_quality"]["evals"]["math"]
    assert q["task_seen_in_training"] is False
    assert q["mean_score"]["task-best"] == q["mean_score"]["best-single"]
    # the same test prompts: a router that never saw math cannot find its specialist
    inside = costed["max_quality"]["evals"]["math"]
    assert q["n_prompts"] == inside["n_prompts"]
    assert q["mean_score"]["linear"] < inside["mean_score"]["linear"] - 0.3
    assert ood["evals"]["math"]["aiq"]["linear"]["code"] < costed["evals"]["math"]["aiq"]["linear"]["code"]
    assert "Out of distribution: the prompts of math" in markdown_report(ood)
    with pytest.raises(ValueError, match=r"ood\[0\] must be an eval of the test records"):
        evaluate_routerbench(train, test, routers=("linear",), ood=["poetry"])
    with pytest.raises(ValueError, match="leaves no training prompt"):
        evaluate_routerbench(train, test, routers=("linear",), ood=["math", "code", "trivia"])


@pytest.mark.parametrize("costs", [True, False])
def test_cli_pair_and_ood(tmp_path, costs):
    rec = topic_records(150, seed=3)
    table = rec.table if costs else rec.table.drop("cost")
    data = tmp_path / "records.parquet"
    table.join(rec.texts, on="prompt").write_parquet(data)
    out = tmp_path / "rb"
    base = ("evaluate", "routerbench", "--data", data, "--routers", "linear")
    res, text, bad_ood, bad_pair = run_many(  # independent: run at once
        (*base, "--bootstrap", "5", "--strong", "quizzer", "--weak", "cheap", "--ood", "trivia",
         "--out", out, "--json"),
        (*base, "--bootstrap", "0", "--strong", "quizzer", "--weak", "cheap", "--out",
         tmp_path / "rb2"),
        (*base, "--ood", "poetry", "--out", tmp_path / "rb3"),
        (*base, "--strong", "quizzer", "--out", tmp_path / "rb4"))
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["ood"] == ["trivia"] and shown["pair"] == {"strong": "quizzer", "weak": "cheap"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["settings"]["test_prompts"] == 15  # 30% of trivia's 50 prompts
    assert list(saved["pair"]["evals"]) == ["trivia"]
    assert (saved["evals"]["trivia"]["arena"] is not None if costs else saved["evals"] == {})
    assert "Out of distribution" in (out / "report.md").read_text()
    assert text.returncode == 0 and "RouteLLM pair quizzer (strong) vs cheap (weak)" in text.stdout
    assert bad_ood.returncode == 2 and "ood[0]" in bad_ood.stderr
    assert bad_pair.returncode == 2 and "weak" in bad_pair.stderr
