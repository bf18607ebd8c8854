"""Foundation checks on the real records in ../shared/data (skipped when absent)."""
from __future__ import annotations

import pytest

import routerrec
from routerrec.data.shared import load_openllm, load_routerbench, shared_data_dir
from routerrec.evaluation.metrics import heldout_report


def _als_beats_prompt_mean(records, **params):
    train, test = records.split_cells(0.1, seed=0)
    report = heldout_report(routerrec.fit(train, method="als", **params), train, test)
    assert report["als"]["rmse"] < report["prompt-mean"]["rmse"]
    assert report["als"]["auc"] > report["prompt-mean"]["auc"]
    return report


def test_openllm_loads_and_als_beats_prompt_mean():
    shared_data_dir("openllm-v1") or pytest.skip("shared data set openllm-v1 not available")
    records = load_openllm()
    assert (records.n_prompts, records.n_models) == (1075, 5036)
    report = _als_beats_prompt_mean(records, rank=16, iterations=6)
    assert report["als"]["auc"] > 0.94


def test_routerbench_loads_and_als_beats_prompt_mean():
    shared_data_dir("routerbench") or pytest.skip("shared data set routerbench not available")
    records = load_routerbench(split="all")
    assert records.n_models == 11 and records.has_costs
    _als_beats_prompt_mean(records, rank=4, iterations=10)
