"""``method="auto"``: the documented rule (score kind, model count) and its parameter checks."""
from __future__ import annotations

import json

import numpy as np
import pytest
from commands import run_many
from planted import planted_records

import routerrec
from routerrec.methods import check_params
from routerrec.methods.auto import LOGISTIC_MIN_MODELS, auto_method


@pytest.mark.parametrize("n_models, binary, expected", [
    (LOGISTIC_MIN_MODELS - 1, True, ("als", {})),
    (LOGISTIC_MIN_MODELS, True, ("logistic", {"rank": 5})),
    (400, True, ("logistic", {"rank": 32})),
    (400, False, ("als", {})),
])
def test_the_rule_by_score_kind_and_model_count(n_models, binary, expected):
    records, _ = planted_records(n_prompts=60, n_models=n_models, rank=2, density=1.0,
                                 binary=binary, seed=1)
    assert auto_method(records, "numba") == expected
    assert auto_method(records, "spark") == ("als", {})  # the one method Spark runs
    assert auto_method(records.with_feedback("implicit"), "numba") == ("implicit", {})


def test_fit_defaults_to_auto_and_names_the_method_it_picked():
    records, _ = planted_records(n_prompts=80, n_models=LOGISTIC_MIN_MODELS, rank=2,
                                 density=1.0, binary=True, seed=2)
    model = routerrec.fit(records, iterations=3)
    assert (model.method, model.params["rank"], model.params["iterations"]) == ("logistic", 5, 3)
    assert np.isfinite(model.predict()).all()


@pytest.mark.parametrize("params, error, match", [
    ({"members": 3}, TypeError, "auto has no parameter 'members'.*name a method"),
    ({"rank": "8"}, TypeError, "auto parameter rank must be an integer"),
    ({"reg": -1.0}, ValueError, "auto parameter reg"),
])
def test_auto_takes_only_parameters_every_candidate_takes(params, error, match):
    with pytest.raises(error, match=match):
        check_params("auto", params)
    records, _ = planted_records(n_prompts=20, n_models=5, rank=2, seed=0)
    with pytest.raises(error, match=match):
        routerrec.fit(records, **params)


def test_cli_fit_without_method_reports_the_pick(tmp_path):
    proc, text = run_many(("fit", "--iterations", "2", "--out", tmp_path / "m", "--json"),
                          ("fit", "--iterations", "2", "--out", tmp_path / "m2"), ok=True)
    assert json.loads(proc.stdout)["method"] == "als"  # the 20-model sample: below 40 models
    assert "fitted als (auto)" in text.stdout
