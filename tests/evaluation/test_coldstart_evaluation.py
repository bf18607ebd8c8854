"""The leave-models-out cold-start evaluation (evaluate_coldstart), its report and its command."""
from __future__ import annotations

import json

import pytest
from commands import run_many
from planted import three_benchmark_records

from routerrec.evaluation.coldstart import evaluate_coldstart, write_report


@pytest.fixture(scope="module")
def records():
    return three_benchmark_records()


def test_evaluation_beats_naive_and_reports_everything(records, tmp_path):
    report = evaluate_coldstart(records, holdout_models=0.2, budgets=(10, 30),
                                strategies=("random", "dopt", "adaptive"),
                                params=dict(rank=3, reg=0.01, iterations=8))
    assert report["n_heldout"] == 18 and report["n_scored"] == 18
    for strategy, per in report["results"].items():
        for k, cell in per.items():
            assert cell["probes"] == k
            assert cell["mae"] < cell["naive_mae"], (strategy, k)
            assert cell["auc"] > 0.75
            assert cell["mae_ci"][0] <= cell["mae"] <= cell["mae_ci"][1]
    assert report["results"]["random"][30]["mae"] < report["results"]["random"][10]["mae"]
    paths = write_report(report, tmp_path / "cs")
    assert {p.name for p in paths} == {"report.json", "report.md", "error_vs_budget.png",
                                       "auc_vs_budget.png"}
    assert json.loads((tmp_path / "cs" / "report.json").read_text())["budgets"] == [10, 30]
    assert (tmp_path / "cs" / "error_vs_budget.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_evaluate_coldstart(records, tmp_path):
    data = tmp_path / "records.parquet"
    records.table.write_parquet(data)
    res, helped = run_many(  # independent: run at once
        ("evaluate", "coldstart", "--data", data, "--rank", "3", "--iterations", "5", "--budgets",
         "10,20", "--strategies", "random,info", "--out", tmp_path / "eval", "--json"),
        ("evaluate", "coldstart", "--help"), ok=True)
    assert set(json.loads(res.stdout)["results"]) == {"random", "info"}
    assert (tmp_path / "eval" / "report.md").is_file()
    assert "Example" in helped.stdout
