"""Hostile input to the evaluations (issue 11): every bad argument of ``tune``,
``evaluate_coldstart``, ``evaluate_routerbench`` and ``evaluate_pools`` is one sentence before
anything is fitted, and a held-out metric that cannot be computed is NaN (null in files),
never a crash."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import polars as pl
import pytest
from commands import ROUTERREC
from planted import planted_frame, three_benchmark_records, topic_records

import routerrec.methods
from routerrec.data.load import records_from_frame
from routerrec.evaluation import tune as tune_module
from routerrec.evaluation.coldstart import evaluate_coldstart
from routerrec.evaluation.metrics import cell_metrics, heldout_report
from routerrec.evaluation.pools import evaluate_pools
from routerrec.evaluation.routerbench import evaluate_routerbench
from routerrec.evaluation.tune import MIN_VALIDATION_CELLS, tune
from routerrec.methods import load_model
from routerrec.routing.base import Router


@pytest.fixture
def no_fitting(monkeypatch):
    """Any fit of a method or a router fails the test: the refusal must come first."""
    def fitted(*args, **kwargs):
        raise AssertionError("something was fitted before the bad argument was refused")
    monkeypatch.setattr(routerrec.methods, "fit", fitted)
    monkeypatch.setattr(tune_module, "fit", fitted)
    monkeypatch.setattr(Router, "fit", fitted)


def binary_frame(n_prompts=40, n_models=8, seed=0):
    return planted_frame(n_prompts=n_prompts, n_models=n_models, rank=2, density=1.0,
                         binary=True, seed=seed)[0]


def score_train_cells(frame, value, n=None):
    """``frame`` with its first ``n`` (default: every) cells that ``split_cells(0.1, 0)`` keeps
    for training scored ``value`` (the split depends on the cells, not on their scores)."""
    train, _ = records_from_frame(frame).split_cells(0.1, 0)
    kept = train.table.select("prompt", "model").head(-1 if n is None else n)
    kept = kept.with_columns(kept=pl.lit(True))
    return frame.join(kept, on=["prompt", "model"], how="left").with_columns(
        score=pl.when(pl.col("kept")).then(pl.lit(value)).otherwise(pl.col("score"))).drop("kept")


# ----------------------------------------------------------------------------- tune


def test_tune_refuses_auc_on_graded_scores_even_when_the_validation_cells_are_binary(
        no_fitting):
    records = records_from_frame(score_train_cells(binary_frame(), 0.5, n=1))
    assert records.score_kind == "graded"
    assert records.split_cells(0.1, 0)[1].score_kind == "binary"
    with pytest.raises(ValueError, match=r"metric 'auc' needs binary \(0/1\) scores; these "
                                         "records' scores are graded"):
        tune(records, method="als", metric="auc", grid={"rank": [2]})


def test_tune_refuses_a_validation_split_too_small_to_compare_trials(no_fitting):
    tiny = records_from_frame(binary_frame(n_prompts=3, n_models=3))
    with pytest.raises(ValueError, match=rf"validation=0.1 holds out 1 of the 9 cells; tuning "
                                         rf"needs at least {MIN_VALIDATION_CELLS}"):
        tune(tiny, method="als", metric="auc", grid={"rank": [2]}, holdout=None)
    # by default fit's holdout (0.1, seed 0: 1 cell) is set aside first, and the error says so
    with pytest.raises(ValueError, match=r"holds out 1 of the 8 cells left after fit's holdout "
                                         r"of 1; tuning needs"):
        tune(tiny, method="als", metric="auc", grid={"rank": [2]})
    two = records_from_frame(binary_frame(n_prompts=2, n_models=2))
    with pytest.raises(ValueError, match=r"holdout=0.1: split_cells\(0.1\) would hold out no "
                                         r"cell.*holdout=None"):
        tune(two, method="als", grid={"rank": [2]})


def test_tune_refuses_auc_on_validation_cells_of_one_class(no_fitting):
    ones = score_train_cells(binary_frame().with_columns(score=pl.lit(1.0)), 0.0)
    with pytest.raises(ValueError, match=r"needs validation cells of both classes; the 32 "
                                         r"held out are all 1"):
        tune(records_from_frame(ones), method="logistic", metric="auc", grid={"rank": [2]},
             holdout=None)  # score_train_cells marks split_cells(0.1, 0), as tune draws it then


@pytest.mark.parametrize("kwargs, error, message", [
    ({"validation": float("nan")}, ValueError, "validation must be a finite number > 0 and < 1"),
    ({"validation": 1.0}, ValueError, "validation must be a finite number > 0 and < 1"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"trials": 0}, ValueError, "trials must be an integer >= 1"),
    ({"grid": {"rank": 2}}, TypeError, r"grid\['rank'\] must be a list of values"),
    ({"grid": {"rank": []}}, ValueError, r"grid entries \['rank'\] have no values"),
    ({"grid": [("rank", [2])]}, TypeError, "grid must be a mapping"),
    ({"fixed": [("rank", 2)]}, TypeError, "fixed must be a mapping"),
    ({"fixed": {"bogus": 1}}, ValueError, "every trial failed; first error: .*als.* has no "
                                          "parameter 'bogus'; its parameters are rank, "),
    ({"grid": {"rank": [2, 3], "bogus": [1]}}, ValueError, "no parameter 'bogus'"),
    ({"grid": {"rank": ["8"]}}, ValueError, "every trial failed; first error: .*rank must be "
                                            "an integer, got str '8'"),
    ({"metric": "r2"}, ValueError, "metric must be one of 'rmse', .*, got 'r2'"),
    ({"records": [1, 2, 3]}, TypeError, r"records must be Records \(load_records, "
                                        r"records_from_frame or load_sample\), got list"),
])
def test_tune_checks_every_argument_before_fitting(no_fitting, kwargs, error, message):
    records = records_from_frame(binary_frame())
    with pytest.raises(error, match=message):
        tune(**{"records": records, "method": "als", "grid": {"rank": [2]}, **kwargs})


def test_tune_records_a_refused_candidate_without_fitting_it(monkeypatch):
    fits = []
    monkeypatch.setattr(tune_module, "fit", lambda *a, **kw: fits.append(kw) or real_fit(*a, **kw))
    real_fit = routerrec.methods.fit
    result = tune(records_from_frame(binary_frame()), method="knn", grid={"k": [0, 5]})
    assert [t["params"] for t in result["trials"]] == [{"k": 0}, {"k": 5}]
    assert "k must be an integer >= 1" in result["trials"][0]["error"]
    assert fits == [{"method": "knn", "k": 5}]


# ----------------------------------------------------------------------------- cold start


@pytest.fixture(scope="module")
def coldstart_records():
    return three_benchmark_records()


def test_coldstart_refuses_more_probes_than_prompts_before_fitting(coldstart_records,
                                                                   no_fitting):
    with pytest.raises(ValueError, match="budgets up to 100000 probes, but no held-out model "
                                         "answered that many of the 300 prompts of the "
                                         r"training models \(at most 300\)"):
        evaluate_coldstart(coldstart_records, budgets=(100000,), strategies=("random",))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"holdout_models": float("nan")}, ValueError, "holdout_models must be a finite number"),
    ({"budgets": (10, 0)}, ValueError, r"budgets\[1\] must be an integer >= 1, got 0"),
    ({"budgets": 10}, TypeError, "budgets must be a list of integers"),
    ({"budgets": ()}, ValueError, "budgets must hold at least one integer"),
    ({"strategies": "random"}, TypeError, "strategies must be a list of strings, not one"),
    ({"strategies": ("random", "best")}, ValueError,
     r"strategies\[1\] must be one of 'random', .*, got 'best'"),
    ({"strategies": ()}, ValueError, "strategies must name at least one of"),
    ({"records": "records.csv"}, TypeError, "records must be Records"),
    ({"params": {"bogus": 3}}, TypeError, "auto has no parameter 'bogus'; its parameters "
                                          "are rank, "),
    ({"params": {"rank": "8"}}, TypeError, "rank must be an integer, got str '8'"),
    ({"params": [("rank", 8)]}, TypeError, "params must be a mapping"),
    ({"method": "nope"}, ValueError, "unknown method 'nope'"),
    ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ({"level": 95}, ValueError, "level must be a finite number > 0 and < 1"),
    ({"max_models": 0}, ValueError, "max_models must be an integer >= 1"),
])
def test_coldstart_checks_every_argument_before_fitting(coldstart_records, no_fitting, kwargs,
                                                        error, message):
    with pytest.raises(error, match=message):
        evaluate_coldstart(**{"records": coldstart_records, **kwargs})


# ----------------------------------------------------------------------------- RouterBench


@pytest.fixture(scope="module")
def priced():
    return topic_records(30, seed=1), topic_records(12, seed=2, prefix="t")


def test_routerbench_refuses_an_eval_without_one_scored_prompt(priced, no_fitting):
    """Without costs (issue 12: no longer refused) an eval needs one prompt with a score for a
    model of train and test; the refusal comes before any fit."""
    table = priced[1].table.drop("cost")
    other = records_from_frame(table.with_columns(  # "math" scored only by an unknown model
        model=pl.when(pl.col("benchmark") == "math").then("new-" + pl.col("model"))
        .otherwise("model")))
    with pytest.raises(ValueError, match="eval 'math': none of its 4 test prompts has a score "
                                         "for any of the 4 models of train and test"):
        evaluate_routerbench(priced[0], other, routers=("linear",))


def test_routerbench_refuses_an_eval_without_one_complete_prompt(priced, no_fitting):
    complete = topic_records(12, seed=2, prefix="t", density=1.0).table
    gap = records_from_frame(complete.filter(  # no prompt of "math" has a cost for "cheap"
        ~((pl.col("benchmark") == "math") & (pl.col("model") == "cheap"))))
    with pytest.raises(ValueError, match="eval 'math': none of its 4 test prompts has a score "
                                         "and a cost for every one of the 4 models"):
        evaluate_routerbench(priced[0], gap, routers=("linear",))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"bootstrap": -1}, ValueError, "bootstrap must be an integer >= 0"),
    ({"seed": 0.5}, TypeError, "seed must be an integer"),
    ({"lambdas": [1.0, float("nan")]}, ValueError, r"lambdas\[1\] must be a finite number >= 0"),
    ({"lambdas": []}, ValueError, "lambdas must hold at least one"),
    ({"routers": "linear"}, TypeError, "routers must be a list of strings, not one"),
    ({"routers": ("oracle",)}, ValueError, "'oracle' is not a learned router"),
    ({"router_params": {"knn": {}}}, ValueError, r"router_params for routers not evaluated: "
                                                 r"\['knn'\]"),
    ({"router_params": {"linear": 3}}, TypeError, "router_params must map router names"),
    ({"router_params": {"linear": {"bogus": 1}}}, TypeError, "bogus"),
    ({"test": None}, TypeError, "test must be Records"),
])
def test_routerbench_checks_every_argument_before_fitting(priced, no_fitting, kwargs, error,
                                                          message):
    with pytest.raises(error, match=message):
        evaluate_routerbench(**{"train": priced[0], "test": priced[1], "routers": ("linear",),
                                **kwargs})


# ----------------------------------------------------------------------------- pools


@pytest.mark.parametrize("kwargs, error, message", [
    ({"seeds": 0}, ValueError, r"seeds \(a count\) must be an integer >= 1"),
    ({"seeds": True}, TypeError, r"seeds \(a count\) must be an integer"),
    ({"seeds": [1, -1]}, ValueError, r"seeds\[1\] must be an integer >= 0"),
    ({"pools": (3, 1)}, ValueError, r"pools\[1\] must be an integer >= 2"),
    ({"pools": "35"}, TypeError, "pools must be a list of integers"),
    ({"groups": ()}, ValueError, "groups must name at least one of"),
    ({"groups": ("all_strong", "all_medium")}, ValueError,
     r"groups\[1\] must be one of 'all_strong', 'all_weak', 'strong_to_weak', got 'all_medium'"),
    ({"select_on": "test"}, ValueError, "select_on must be one of 'train', 'all', got 'test'"),
    ({"prompt_view": None}, ValueError, "prompt_view must be one of 'question', 'full'"),
    ({"draws": 0}, ValueError, "draws must be an integer >= 1"),
    ({"candidates": 2.0}, TypeError, "candidates must be an integer"),
    ({"val": float("nan")}, ValueError, "val must be a finite number >= 0 and < 1"),
    ({"test": 0}, ValueError, "test must be a finite number > 0 and < 1"),
    ({"val": 0.5, "test": 0.5}, ValueError, r"val \+ test must leave training prompts"),
    ({"val_weights": (0, 2)}, ValueError, r"val_weights\[1\] must be a finite number >= 0 and "
                                          "<= 1"),
    ({"temperature": 0}, ValueError, "temperature must be a finite number > 0"),
    ({"routers": ()}, ValueError, "routers must name at least one"),
    ({"routers": ("linear",), "router_params": {"mf": {}}}, ValueError,
     "router_params for routers not evaluated"),
    ({"routers": ("linear+val",), "router_params": {"linear": {"bogus": 1}}}, TypeError,
     "bogus"),
    ({"benchmarks": "arc"}, TypeError, "benchmarks must be a list of strings"),
    ({"records": None}, TypeError, "records must be Records"),
])
def test_pools_checks_every_argument_before_fitting(priced, no_fitting, kwargs, error, message):
    with pytest.raises(error, match=message):
        evaluate_pools(**{"records": priced[0], **kwargs})


def test_pools_refuse_records_without_benchmarks_instead_of_reporting_nothing(priced,
                                                                             no_fitting):
    unnamed = records_from_frame(priced[0].table.drop("benchmark"))
    with pytest.raises(ValueError, match=r"the records \(<frame>\) name no benchmark; the "
                                         "sweep splits and pools per benchmark"):
        evaluate_pools(unnamed, routers=("linear",), seeds=1)


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("pred", [[np.nan, 0.2, 0.9], [np.inf, 0.2, 0.9], [1e200, 0.2, 0.9]])
def test_metrics_of_diverged_predictions_are_nan_never_an_error_or_a_number(pred):
    metrics = cell_metrics(np.array([0.0, 0.0, 1.0]), np.array(pred), binary=True)
    assert metrics["n"] == 3
    assert np.isnan(metrics["rmse"])  # 1e200 ** 2 overflows
    if not np.isfinite(pred[0]):  # a NaN prediction must not count as a 0 (accuracy 2/3)
        assert all(np.isnan(v) for k, v in metrics.items() if k != "n")


def test_metrics_of_no_cells_are_nan_without_warnings():
    with np.errstate(all="raise"):
        metrics = cell_metrics(np.array([]), np.array([]), binary=False)
    assert metrics["n"] == 0 and np.isnan(metrics["rmse"]) and np.isnan(metrics["mae"])


def test_a_fit_whose_heldout_metrics_are_nan_saves_them_as_null(tmp_path):
    records = records_from_frame(binary_frame())
    model = routerrec.methods.METHODS["mean"](records)
    empty = records.filter(prompts=records.prompts[:1]).filter(models=[])  # no cells
    report = heldout_report(model, records, empty)
    assert report["mean"]["n"] == 0 and np.isnan(report["mean"]["rmse"])
    model.metrics["heldout"] = report
    model.save(tmp_path / "m")
    text = (tmp_path / "m" / "manifest.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    saved = json.loads(text)["metrics"]["heldout"]
    assert saved["mean"]["rmse"] is None and saved["global-mean"]["auc"] is None
    assert load_model(tmp_path / "m").metrics["heldout"]["mean"]["rmse"] is None


def test_cli_fit_with_heldout_metrics_that_are_nan_saves_the_model(tmp_path):
    rows = [(f"p{i}", f"m{j}", 1.0) for i in range(8) for j in range(6)]  # one class: no AUC
    pl.DataFrame(rows, schema=["prompt", "model", "score"], orient="row").write_csv(
        tmp_path / "ones.csv")
    run = subprocess.run([ROUTERREC, "fit", "--data", "ones.csv", "--holdout", "0.5",
                          "--rank", "2", "--out", "m", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["heldout"]["als"]["auc"] is None
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["metrics"]["heldout"]["als"]["auc"] is None
    assert manifest["metrics"]["heldout"]["als"]["n"] == 24


# ----------------------------------------------------------------------------- the commands


def test_cli_refusals_are_one_line_before_anything_is_written(tmp_path):
    """``tune --metric auc`` on graded or tiny records and ``evaluate routerbench`` on records
    without texts (without costs they are evaluated since issue 12), as the real command: one
    ``Error:`` line with the counts, exit status 2."""
    graded = score_train_cells(binary_frame(), 0.5, n=1)
    graded.write_csv(tmp_path / "graded.csv")
    binary_frame(n_prompts=3, n_models=3).write_csv(tmp_path / "tiny.csv")
    topic_records(30, seed=1).table.drop("cost").write_csv(tmp_path / "free.csv")
    commands = {
        "graded": ["tune", "--method", "als", "--metric", "auc", "--data", "graded.csv",
                   "--out", "best.json"],
        "tiny": ["tune", "--method", "als", "--metric", "auc", "--data", "tiny.csv",
                 "--out", "best.json"],
        "free": ["evaluate", "routerbench", "--data", "free.csv", "--routers", "linear",
                 "--out", "rb"]}
    procs = {name: subprocess.Popen([ROUTERREC, *args], cwd=tmp_path, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, args in commands.items()}
    errors = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and "Traceback" not in err, err
        (errors[name],) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert "metric 'auc' needs binary (0/1) scores" in errors["graded"]
    assert ("validation=0.1 holds out 1 of the 8 cells left after fit's holdout of 1"
            in errors["tiny"])
    assert "21 prompt(s) have no text in free.csv" in errors["free"]
    assert not (tmp_path / "best.json").exists() and not (tmp_path / "rb").exists()
