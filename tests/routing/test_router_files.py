"""Router directories that are damaged or hostile: ``load_router`` refuses them with
``RouterFileError`` naming the directory, before allocating what they claim, and whatever
else it accepts routes without error.

The damage every router is held to (each array missing, reshaped, NaN, text; the models list
cut; each saved value gone) is in test_routers_suite.py; here are the allocation bounds and a
property suite over random edits of saved manifests (200 cases by default,
``HYPOTHESIS_PROFILE=long`` for 20,000; the count is printed in the terminal summary).
"""
from __future__ import annotations

import json
import shutil
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import routerrec
from properties import PROFILE, json_values as json_strategy
from routerrec.methods.model import load_model
from routerrec.routing.base import RouterFileError
from routerrec.routing.registry import ROUTERS, load_router, make_router

SMALL = dict(encoder_params=dict(dim=8))
PARAMS = {"mf": dict(method_params=dict(rank=2), **SMALL),
          "lightfm": dict(rank=2, epochs=2, **SMALL), "knn": dict(ks=(5,), **SMALL),
          "linear": SMALL, "oracle-p": dict(p=0.5),
          "ensemble": dict(routers=("linear", "knn"), router_params={"knn": dict(ks=(5,))},
                           **SMALL)}

pytestmark = pytest.mark.timeout(300)  # a hang fails the run instead of stopping it


@pytest.fixture(scope="module")
def sample():
    records = routerrec.load_sample()
    return (records.filter(prompts=records.prompts[:120]),
            records.filter(prompts=records.prompts[-5:]))


@pytest.fixture(scope="module")
def saved(sample, tmp_path_factory):
    """A saved directory of every registered router."""
    train, _ = sample
    root = tmp_path_factory.mktemp("saved")
    return {name: make_router(name, **PARAMS.get(name, {})).fit(train).save(root / name)
            for name in ROUTERS}


def _edited(src, dst, change):
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    change(manifest)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def _load_traced(path):
    tracemalloc.start()
    try:
        with pytest.raises(RouterFileError) as err:
            load_router(path)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 << 20
    return str(err.value)


def test_a_manifest_claiming_huge_feature_dims_is_refused_before_allocation(saved, tmp_path):
    """n_features=1e12 made routerrec allocate a 7.28 TiB lookup table; a value within the
    int32 range that still needs more than the limit is refused with the way out; an
    ngram_max of 1e12 (found by the property suite below) made routing hang."""
    def claim(n):
        return lambda m: m["state"]["encoder"]["params"].update(n_features=n)

    huge = _edited(saved["linear"], tmp_path / "huge", claim(10**12))
    message = _load_traced(huge)
    assert message.startswith(f"{huge}: ") and \
        "tfidf n_features must be an integer >= 1 and <= 2147483647, got 1000000000000" in message
    large = _edited(saved["knn"], tmp_path / "large", claim(2**30))
    message = _load_traced(large)
    assert message.startswith(f"{large}: ") and "would need 8.0 GiB, above the limit" in message \
        and "use a smaller n_features" in message
    long = _edited(saved["mf"], tmp_path / "long",  # routing made 10**12 passes per prompt
                   lambda m: m["state"]["encoder"]["params"].update(ngram_max=10**12))
    assert "tfidf ngram_max must be an integer >= 1 and <= 16" in _load_traced(long)


def test_arrays_that_contradict_the_manifest_are_refused_before_reading(saved, tmp_path):
    """The shapes come from the manifest (number of models, the encoder's width), checked
    against the npy headers before any array is read."""
    fewer = _edited(saved["linear"], tmp_path / "fewer", lambda m: m.update(models=m["models"][:3]))
    assert _load_traced(fewer).startswith(f"{fewer / 'arrays.npz'}: array 'cost.intercept' has "
                                          "shape (18,); the manifest implies (3,)")
    other = _edited(saved["linear"], tmp_path / "other", lambda m: m.update(router="knn"))
    assert "array 'train_x' is missing" in _load_traced(other)
    unknown = _edited(saved["linear"], tmp_path / "unknown", lambda m: m.update(router="svm"))
    assert "unknown router 'svm'" in _load_traced(unknown)


def test_parts_that_do_not_fit_together_are_refused(saved, tmp_path):
    """An mf router whose completion model is for other models, an ensemble whose member
    list was reordered, a lightfm router whose encoder is narrower than its embeddings:
    refused at load, not at the first route."""
    swapped = tmp_path / "swapped"
    shutil.copytree(saved["mf"], swapped)
    completion = load_model(saved["mf"] / "completion")
    completion.models = completion.models[::-1]
    shutil.rmtree(swapped / "completion")
    completion.save(swapped / "completion")
    assert "completion model is for other models" in _load_traced(swapped)
    reordered = _edited(saved["ensemble"], tmp_path / "reordered",
                        lambda m: m["params"].update(routers=["knn", "linear"]))
    assert "array 'm0.train_x' is missing" in _load_traced(reordered)
    narrow = tmp_path / "narrow"  # lightfm's embeddings are for one more feature than this
    shutil.copytree(saved["lightfm"], narrow)
    with np.load(narrow / "arrays.npz") as npz:
        arrays = dict(npz)
    arrays["enc.components"] = arrays["enc.components"][:, :-1]
    np.savez(narrow / "arrays.npz", **arrays)
    assert _load_traced(narrow).startswith(f"{narrow}: corrupt or unusable router (")


def _paths(value, prefix=()):
    """Every path to a value inside a JSON document (dict keys and list positions)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


json_values = json_strategy(keys=st.text(max_size=6))


@PROFILE
@given(data=st.data(), name=st.sampled_from(sorted(ROUTERS)))
def test_random_edits_of_a_manifest_are_refused_or_route(saved, sample, tmp_path_factory,
                                                         generated_cases, data, name):
    """One value of a saved manifest replaced by a random JSON value, or removed: the router
    is refused with RouterFileError naming its directory, or it loads and routes (ids among
    its models, finite predicted scores for learned routers)."""
    generated_cases["router manifest edits"] += 1
    src = saved[name]
    manifest = json.loads((src / "manifest.json").read_text())
    paths = [p for p in _paths(manifest) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    remove = data.draw(st.booleans(), label="remove")
    new = None if remove else data.draw(json_values | st.sampled_from(
        [0, -1, 1, 2**31, 10**12, 1e308, "tfidf", "linear", [], {}]), label="value")

    def change(m):
        parent = m
        for key in path[:-1]:
            parent = parent[key]
        if remove:
            parent.pop(path[-1])
        else:
            parent[path[-1]] = new

    dst = _edited(src, tmp_path_factory.mktemp("edit") / "r", change)
    try:
        router = load_router(dst)
    except RouterFileError as exc:
        assert str(dst) in str(exc)
        return
    _, test = sample
    picks = router.route_records(test, models=router.models_[:3])
    assert set(picks) <= set(router.models_[:3])
    if not router.reference:
        texts = test.text_of(test.prompts) if router.encoder_.keyed_by == "text" else test.prompts
        assert np.all(np.isfinite(router.predict(texts)))
        assert len(router.route(texts, wtp=1e3)) == len(texts)
