"""RouterBench-style evaluation: hulls and AIQ by hand, the full report on planted data, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from commands import run_many
from shared_files import require_shared
from planted import topic_records

from routerrec.data.load import load_records
from routerrec.evaluation.routerbench import (ROUTERBENCH_LAMBDAS, evaluate_routerbench, joint_aiq,
                                        lambda_grid, markdown_report, nondecreasing_hull,
                                        write_report)


def test_nondecreasing_hull_by_hand():
    pts = [(1, 0.5), (2, 0.55), (3, 0.8), (4, 0.7), (0.5, 0.2), (5, 0.85), (3, 0.1)]
    hull = nondecreasing_hull(np.array(pts))
    np.testing.assert_allclose(hull, [(0.5, 0.2), (1, 0.5), (3, 0.8), (5, 0.85)])
    # a dominated expensive point never enters; a single point is its own hull
    np.testing.assert_allclose(nondecreasing_hull(np.array([(1, 0.9), (2, 0.5)])), [(1, 0.9)])


def test_joint_aiq_both_definitions_by_hand():
    a = nondecreasing_hull(np.array([(0.5, 0.2), (1, 0.5), (3, 0.8), (5, 0.85)]))
    b = np.array([(2.0, 0.6)])
    aiq = joint_aiq({"a": a, "b": b})
    # a: area 0.175 + 1.3 + 1.65 = 3.125 from 0.5 to 5; b: flat 0.6 from 2 to 5 = 1.8
    assert aiq["a"]["code"] == pytest.approx(3.125 / 5)
    assert aiq["a"]["paper"] == pytest.approx(3.125 / 4.5)
    assert aiq["b"]["code"] == pytest.approx(1.8 / 5)
    assert aiq["b"]["paper"] == pytest.approx(1.8 / 4.5)
    # jointly: b alone would be extended to its own cost only
    assert joint_aiq({"b": b})["b"]["code"] == pytest.approx(0.0)


def test_lambda_grid_contains_routerbench_values():
    assert len(ROUTERBENCH_LAMBDAS) == 32
    assert ROUTERBENCH_LAMBDAS[0] == pytest.approx(1e-10) and ROUTERBENCH_LAMBDAS[-1] == pytest.approx(1e9)
    grid = lambda_grid()
    assert np.isin(ROUTERBENCH_LAMBDAS, grid).all() and np.all(np.diff(grid) > 0)


@pytest.fixture(scope="module")
def report():
    train = topic_records(240, seed=1)
    test = topic_records(90, seed=2, prefix="t")
    return evaluate_routerbench(train, test, routers=("linear", "knn"),
                                router_params={"linear": {"encoder_params": {"dim": 16}},
                                               "knn": {"encoder_params": {"dim": 16}}},
                                bootstrap=30, seed=0)


def test_report_on_planted_data_beats_zero_router_and_stays_under_oracle(report):
    assert sorted(report["evals"]) == ["code", "math", "trivia"]
    for name, e in report["evals"].items():
        aiq = e["aiq"]
        # the per-group baselines trade score for cost like the routers: curves beside them
        assert set(aiq) == {"zero", "linear", "knn", "task-best", "cluster-best", "oracle"}
        for r in ("linear", "knn", "zero", "task-best", "cluster-best"):
            assert aiq[r]["code"] <= aiq["oracle"]["code"] + 1e-12
        # at the largest wtp task-best sends the whole eval (one task) to the task's
        # specialist, the best single model here
        top = e["routers"]["task-best"]["points"][-1]["quality"]
        assert top == pytest.approx(max(m["quality"] for m in e["single_models"]))
        # the text says which specialist is right: a learned router clearly beats the zero router
        assert aiq["linear"]["code"] > aiq["zero"]["code"] + 0.05
        assert e["gap_closed"]["linear"]["share"] > 0.3
        lo, hi = aiq["linear"]["code_ci"]
        assert lo <= aiq["linear"]["code"] <= hi
        assert len(e["routers"]["linear"]["points"]) == report["settings"]["n_lambdas"]
        assert len(e["single_models"]) == 4
        # the zero router's hull passes through the best single model's point
        z = np.array(e["zero_router"]["hull"])
        best = max(e["single_models"], key=lambda s: s["quality"])
        assert z[:, 1].max() == pytest.approx(best["quality"])
    assert report["settings"]["includes_routerbench_lambdas"]
    assert "| linear |" in markdown_report(report)


def test_write_report_files(report, tmp_path):
    files = write_report(report, tmp_path)
    assert json.loads(files["json"].read_text())["settings"]["aiq_reported"] == "code"
    assert len(files["plots"]) == 3
    for p in files["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_single_file_split_and_errors(tmp_path):
    rec = topic_records(150, seed=3)
    data = tmp_path / "records.parquet"
    rec.table.join(rec.texts, on="prompt").write_parquet(data)
    out = tmp_path / "rb"
    res, svm, no_test = run_many(  # independent: run at once
        ("evaluate", "routerbench", "--data", data, "--routers", "linear", "--bootstrap", "5",
         "--out", out, "--json"),
        ("evaluate", "routerbench", "--data", data, "--routers", "svm", "--out", tmp_path / "rb-svm"),
        ("evaluate", "routerbench", "--train", data, "--out", tmp_path / "rb-train"))
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)["summary"]
    assert set(summary) == {"linear"}
    saved = json.loads((out / "report.json").read_text())
    assert saved["settings"]["test_prompts"] == 45  # 30% of each eval's 50 prompts, per eval
    assert sorted(p.name for p in out.glob("*.png")) == ["code.png", "math.png", "trivia.png"]
    assert svm.returncode != 0 and "svm" in svm.stderr
    assert no_test.returncode != 0 and "--test" in no_test.stderr


@pytest.mark.shared
def test_real_routerbench_mbpp_quick():
    train = load_records(require_shared("routerbench", "mbpp_train.csv"))
    test = load_records(require_shared("routerbench", "mbpp_test.csv"))
    rep = evaluate_routerbench(train, test, routers=("linear", "knn"), bootstrap=0)
    e = rep["evals"]["mbpp"]
    assert e["n_prompts"] + e["n_dropped_incomplete"] == test.n_prompts
    assert len(e["single_models"]) == 11
    for r in ("linear", "knn", "zero"):
        assert e["aiq"][r]["code"] <= e["aiq"]["oracle"]["code"]
