"""Directories saved by routerrec before the package layout changed still load and predict
the same numbers (tests/fixtures/v1 was written by the flat-package code, commit 471b790)."""
import json
from pathlib import Path

import numpy as np
import pytest

import routerrec

V1 = Path(__file__).parent / "fixtures" / "v1"
EXPECTED = json.loads((V1 / "expected.json").read_text())


@pytest.mark.parametrize("name,key", [("model-als", "model_predict"), ("model-knn", "knn_predict")])
def test_saved_model_loads_and_predicts_the_same(name, key):
    model = routerrec.load_model(V1 / name)
    np.testing.assert_allclose(model.predict(prompts=EXPECTED["prompts"]), EXPECTED[key], rtol=1e-6)


def test_saved_router_loads_and_routes_the_same():
    router = routerrec.load_router(V1 / "router-mf")
    np.testing.assert_allclose(router.predict(EXPECTED["texts"]), EXPECTED["router_predict"],
                               rtol=1e-5, atol=1e-6)
    assert router.route(EXPECTED["texts"], wtp=1e4) == EXPECTED["router_route"]
