"""The method registry: what method modules register is what fit, load_model and fold-in use."""
from __future__ import annotations

import numpy as np
import pytest
from planted import planted_records

import routerrec
from routerrec.methods import ENGINES
from routerrec.methods.model import Model
from routerrec.methods.registry import (FEEDBACK_KINDS, LINKS, MODEL_KINDS, check_feedback,
                                        register_method)


def test_every_method_declares_a_feedback_kind_and_a_default_engine():
    assert set(routerrec.METHODS) >= {"als", "implicit", "knn", "lightfm", "logistic", "mean", "sgd"}
    for name, spec in routerrec.METHODS.items():
        assert spec.name == name and spec.feedback in FEEDBACK_KINDS
        assert "numba" in spec.engines
    assert ENGINES == ("numba", "spark") and set(routerrec.METHODS["als"].engines) == set(ENGINES)
    assert {"identity", "logistic", "preference"} <= set(LINKS)
    assert MODEL_KINDS["factor"] is Model and {"knn", "lightfm"} <= set(MODEL_KINDS)
    assert routerrec.load_model is routerrec.methods.load_model


def test_a_method_is_still_called_like_its_fitter():
    records, _ = planted_records(n_prompts=60, n_models=8, seed=4)
    direct = routerrec.METHODS["als"](records, rank=2, iterations=3)
    np.testing.assert_array_equal(direct.predict(),
                                  routerrec.fit(records, rank=2, iterations=3).predict())
    logistic = routerrec.fit(planted_records(n_prompts=60, n_models=8, binary=True)[0],
                             method="logistic", rank=2, iterations=2, members=1)
    linear = np.array([-2.0, 0.0, 3.0], np.float32)
    np.testing.assert_array_equal(LINKS["logistic"](linear), logistic.apply_link(linear))


def test_engines_and_registrations_are_checked():
    records, _ = planted_records(n_prompts=30, n_models=5, seed=4)
    with pytest.raises(ValueError, match="engine 'spark' runs method 'als' only"):
        routerrec.fit(records, method="lightfm", engine="spark")
    with pytest.raises(ValueError, match="unknown engine 'gpu'"):
        routerrec.fit(records, engine="gpu")
    with pytest.raises(ValueError, match="already has an engine 'numba'"):
        register_method("als")(lambda records: None)
    with pytest.raises(ValueError, match="reads explicit feedback"):
        register_method("als", feedback="implicit")
    check_feedback(records, "als")  # explicit scores for an explicit method: no complaint
    with pytest.raises(ValueError, match="needs implicit feedback"):
        check_feedback(records, "implicit")
