"""Property suite for the methods' boundaries: whatever a caller passes as parameters, and
whatever a model directory's manifest fields and arrays hold, routerrec either refuses it with
the documented error or works with it, never predicting NaN.

Runs the ``properties.PROFILE`` (200 cases in the normal run, ``HYPOTHESIS_PROFILE=long``
20,000); the number of generated cases is printed in the terminal summary.
"""
import json
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from properties import PROFILE, json_values

import routerrec
from routerrec import methods
from routerrec.methods.model import ModelFileError
from routerrec.methods.registry import METHODS

# JSON-like values of every type, with the floats that broke things (NaN, inf, 0, huge
# integers) likely; finite floats stay within 1e6, where float32 arithmetic cannot overflow
floats = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -0.0]) | st.floats(
    -1e6, 1e6)
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.integers(-3, 50)
           | floats | st.text(max_size=8) | st.sampled_from(["model", "prompt", "global"]))
values = json_values(scalars=scalars)
specs = st.sampled_from(sorted((m, e) for m, s in METHODS.items() for e in s.engines))


@PROFILE
@given(spec=specs, data=st.data())
def test_parameters_are_checked_or_refused_with_the_documented_errors(generated_cases, spec,
                                                                      data):
    generated_cases["method parameters"] += 1
    method, engine = spec
    declared = list(METHODS[method].params[engine])
    names = st.sampled_from(declared) | st.text(max_size=6)
    params = data.draw(st.dictionaries(names, values, max_size=4))
    try:
        checked = methods.check_params(method, params, engine=engine)
    except (TypeError, ValueError) as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert checked.keys() == params.keys()
    assert methods.check_params(method, checked, engine=engine) == checked  # idempotent
    for key, value in checked.items():
        if isinstance(value, float):
            assert np.isfinite(value), key


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One saved model per kind and link: factor (identity), knn, lightfm and logistic."""
    sample = routerrec.load_sample()
    root = tmp_path_factory.mktemp("saved")
    models = {"factor": routerrec.fit(sample, rank=2, iterations=2),
              "knn": routerrec.fit(sample.filter(prompts=sample.prompts[:300]), method="knn"),
              "lightfm": routerrec.fit(sample, method="lightfm", rank=2, iterations=1),
              "logistic": routerrec.fit(sample, method="logistic", rank=2, iterations=1,
                                        members=1)}
    return {kind: model.save(root / kind) for kind, model in models.items()}


FIELDS = ["global_mean", "clip", "noise_var", "link", "method", "params", "prompts", "models",
          "metrics", "prompt_benchmark", "kind", "params.reg", "params.kind", "params.k",
          "params.shrink", "params.rank"]


@PROFILE
@given(kind=st.sampled_from(["factor", "knn", "lightfm", "logistic"]),
       changes=st.dictionaries(st.sampled_from(FIELDS), values | st.just("<delete>"),
                               min_size=1, max_size=3),
       poison=st.none() | st.tuples(st.sampled_from(["prompt_bias", "model_bias",
                                                    "prompt_factors", "model_factors",
                                                    "res_data", "similarity"]),
                                    st.integers(0, 10**6), floats))
def test_a_model_file_loads_and_predicts_finite_scores_or_is_refused(
        saved, tmp_path_factory, generated_cases, kind, changes, poison):
    generated_cases["model files"] += 1
    path = tmp_path_factory.mktemp("case") / "m"
    shutil.copytree(saved[kind], path)
    manifest = json.loads((path / "manifest.json").read_text())
    for key, value in changes.items():
        target, _, field = key.rpartition(".")
        where = manifest.get("params") if target else manifest
        if not isinstance(where, dict):  # params itself was replaced
            continue
        if value == "<delete>":
            where.pop(field, None)
        else:
            where[field] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    if poison is not None:
        name, at, value = poison
        with np.load(path / "arrays.npz") as npz:
            arrays = dict(npz)
        if name in arrays and arrays[name].size:
            arrays[name].reshape(-1)[at % arrays[name].size] = value
        np.savez(path / "arrays.npz", **arrays)
    try:
        model = routerrec.load_model(path)
    except ModelFileError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    scores = model.predict(model.prompts[:50])
    assert np.isfinite(scores).all()
