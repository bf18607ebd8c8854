"""Issue 12: ``evaluate routerbench`` on records without costs (most research data has no
prices). It used to refuse them (the CLI crashed with ZeroDivisionError); it now reports each
router's max-quality picks beside best-single, task-best and the oracle, with paired bootstrap
intervals, per eval and pooled; AIQ only when costs exist, with a pooled gap closed."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from shared_files import require_shared
from planted import topic_records
from commands import ROUTERREC

import routerrec
from routerrec.data.records import Records
from routerrec.evaluation.routerbench import evaluate_routerbench, markdown_report, write_report
from routerrec.routing.base import true_matrices

FAST = {"linear": {"encoder_params": {"dim": 16}}, "knn": {"encoder_params": {"dim": 16}}}
LINEAR = {"linear": FAST["linear"]}


def without_costs(records) -> Records:
    return Records(records.table.drop("cost"), records.texts, source="no costs")


@pytest.fixture(scope="module")
def sample_split():
    return without_costs(routerrec.load_sample()).split_prompts(0.3, 0)


@pytest.fixture(scope="module")
def costfree(sample_split):
    train, test = sample_split
    return evaluate_routerbench(train, test, routers=("linear", "knn"), router_params=FAST,
                                bootstrap=50)


def _check_tables(report, routers):
    q = report["max_quality"]
    for t in [q["pooled"], *q["evals"].values()]:
        means = t["mean_score"]
        assert list(means) == [*routers, "best-single", "task-best", "task-best (text)",
                               "cluster-best", "random", "oracle"]
        base = max(means["best-single"], means["task-best"])
        assert means[t["baseline"]] == base
        for r in [*routers, "task-best (text)", "cluster-best", "random", "oracle"]:
            d = t["minus_baseline"][r]
            assert d["diff"] == pytest.approx(means[r] - base)
            assert d["ci"][0] <= d["ci"][1]
            assert means[r] <= means["oracle"] + 1e-12
    return q


def test_sample_without_costs_gives_the_max_quality_table(costfree, sample_split):
    _, test = sample_split
    assert costfree["settings"]["costs"] is False and costfree["settings"]["aiq_reported"] is None
    assert costfree["evals"] == {} and costfree["pooled"] is None
    q = _check_tables(costfree, ("linear", "knn"))
    assert sorted(q["evals"]) == ["code", "math", "reasoning", "trivia"]
    # pooled over all test prompts: every scored prompt of every eval, the mean of the parts
    n = [t["n_prompts"] for t in q["evals"].values()]
    assert q["pooled"]["n_prompts"] == sum(n) == test.n_prompts
    for k, m in q["pooled"]["mean_score"].items():
        parts = [t["mean_score"][k] for t in q["evals"].values()]
        assert m == pytest.approx(np.dot(parts, n) / sum(n))
    # the oracle is the best true score among the scored models of each prompt
    truth, _ = true_matrices(test, costfree["settings"]["models"])
    assert q["pooled"]["mean_score"]["oracle"] == pytest.approx(np.nanmax(truth, axis=1).mean())
    # random in expectation: the mean true score of the scored models of each prompt
    assert q["pooled"]["mean_score"]["random"] == pytest.approx(np.nanmean(truth, axis=1).mean())
    # task-best routes by the test prompts' labels, task-best (text) by its classifier,
    # whose cross-validated accuracy on the training prompts the report gives
    assert 0 < q["task_classifier_accuracy"] <= 1 and q["cluster_best"]
    assert "cross-validated accuracy" in markdown_report(costfree)
    assert set(costfree["summary"]) == {"linear", "knn"}
    assert costfree["summary"]["knn"]["max_quality"]["pooled_mean_score"] == \
        q["pooled"]["mean_score"]["knn"]


def test_costfree_report_files_have_a_table_and_no_empty_plot(costfree, tmp_path):
    files = write_report(costfree, tmp_path)
    assert files["plots"] == [] and not list(tmp_path.glob("*.png"))
    saved = json.loads(files["json"].read_text())
    assert saved["max_quality"]["pooled"]["n_prompts"] == 600
    text = files["markdown"].read_text()
    assert "no AIQ" in text and "| knn |" in text and "| task-best |" in text
    assert "(pooled)" in text and "AIQ (code)" not in text


def test_task_best_falls_back_to_best_single_for_a_task_absent_from_training(sample_split):
    train, test = sample_split
    train = train.filter(prompts=[p for p, b in train.prompt_benchmark.items() if b != "math"])
    rep = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                               bootstrap=0)
    math = rep["max_quality"]["evals"]["math"]
    assert not math["task_seen_in_training"] and "math" not in rep["max_quality"]["task_best"]
    assert math["mean_score"]["task-best"] == math["mean_score"]["best-single"]
    assert math["minus_baseline"]["linear"]["ci"] is None  # bootstrap=0: no interval
    assert "task absent from training" in markdown_report(rep)


def test_costed_report_adds_pooled_gap_and_max_quality():
    train, test = topic_records(240, seed=1), topic_records(90, seed=2, prefix="t")
    rep = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                               bootstrap=20)
    assert rep["settings"]["costs"] is True and rep["settings"]["aiq_reported"] == "code"
    s, pooled = rep["summary"]["linear"], rep["pooled"]
    assert pooled["n_prompts"] == sum(e["n_prompts"] for e in rep["evals"].values())
    assert s["pooled_gap_closed"] == pooled["gap_closed"]["linear"]["share"]
    assert pooled["aiq"]["linear"]["code"] <= pooled["aiq"]["oracle"]["code"] + 1e-12
    _check_tables(rep, ("linear",))
    text = markdown_report(rep)
    assert "pooled gap closed" in text and "## Max quality" in text


def test_cli_runs_on_records_without_costs(tmp_path):
    """The CLI crashed with ZeroDivisionError here (issue 12)."""
    rec = topic_records(150, seed=3)
    data = tmp_path / "records.parquet"
    rec.table.drop("cost").join(rec.texts, on="prompt").write_parquet(data)
    out = tmp_path / "rb"
    res = subprocess.run([ROUTERREC, "evaluate", "routerbench", "--data", str(data), "--routers",
                          "linear", "--bootstrap", "5", "--out", str(out), "--json"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    saved = json.loads((out / "report.json").read_text())
    assert saved["settings"]["costs"] is False and saved["max_quality"]["pooled"]["n_prompts"] == 45
    assert not list(out.glob("*.png"))


@pytest.mark.shared
def test_mmlu_pro_without_its_cost_proxy():
    require_shared("mmlu-pro", "records.parquet")
    from routerrec.data.shared import load_mmlu_pro

    records = load_mmlu_pro()
    assert not records.has_costs
    keep = [p for p, b in records.prompt_benchmark.items() if b in ("law", "math", "physics")]
    train, test = records.filter(prompts=keep[::4]).split_prompts(0.2, 0)
    rep = evaluate_routerbench(train, test, routers=("linear",), router_params=LINEAR,
                               bootstrap=20)
    q = _check_tables(rep, ("linear",))
    assert sorted(q["evals"]) == ["law", "math", "physics"]
    assert q["pooled"]["n_prompts"] == test.n_prompts
    assert q["pooled"]["mean_score"]["oracle"] > q["pooled"]["mean_score"]["best-single"]
