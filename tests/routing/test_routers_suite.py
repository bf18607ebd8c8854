"""THE shared behavioural suite for routers: every router in ``routing.registry.ROUTERS`` must
pass it.

The tests are parametrised over the registry, so a new router is enrolled the moment it is
registered, and fails ``test_router_is_enrolled`` until it has a row in ``FAST_PARAMS``
(small, quick settings). Data: 200 prompts of the bundled sample to fit on and 40 others to
route (texts, 0/1 scores, costs). Learned routers are asked through texts and through records;
reference routers need the truth, so they answer through records (``predict_records``,
``route_records``) only.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import routerrec
from routerrec.routing.registry import ROUTERS, load_router, make_router

# router -> quick parameters for the small sample below
FAST_PARAMS: dict[str, dict] = {
    "mf": dict(method_params=dict(rank=4), encoder_params=dict(dim=16)),
    "lightfm": dict(rank=4, epochs=5, encoder_params=dict(dim=16)),
    "knn": dict(ks=(5, 20), encoder_params=dict(dim=16)),
    "linear": dict(encoder_params=dict(dim=16)),
    "ensemble": dict(routers=("linear", "knn"), router_params={"knn": dict(ks=(5, 20))},
                     encoder_params=dict(dim=16)),
    "oracle": {},
    "random": {},
    "best-single": {},
    "oracle-p": dict(p=0.5),
}
NAMES = list(ROUTERS)
WTPS = (None, 0.0, 1e3)


@pytest.fixture(scope="module")
def sample():
    records = routerrec.load_sample()
    return (records.filter(prompts=records.prompts[:200]),
            records.filter(prompts=records.prompts[-40:]))


@pytest.fixture(scope="module")
def fitted(sample):
    train, _ = sample
    return {name: make_router(name, **FAST_PARAMS[name]).fit(train) for name in NAMES}


def _snapshot(router, records, pool=None):
    """Everything a router answers for ``records``: scores, costs and picks at several wtp."""
    return (router.predict_records(records, models=pool),
            router.predict_cost_records(records, models=pool),
            [router.route_records(records, models=pool, wtp=w) for w in WTPS])


def _as_json(x):
    """``x`` as it reads back from a saved manifest (tuples become lists)."""
    return json.loads(json.dumps(x))


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_router_is_enrolled():
    missing = [name for name in NAMES if name not in FAST_PARAMS]
    assert not missing, f"add {missing} to FAST_PARAMS in this file"


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_the_router_with_its_fitted_state(name, sample, fitted):
    train, _ = sample
    router = fitted[name]
    assert isinstance(router, ROUTERS[name]) and router.name == name
    assert router.models_ == train.models
    assert make_router(name, **router.get_params()).get_params() == router.get_params()
    summary = router.summary()
    assert summary["router"] == name and summary["params"] == router.get_params()
    assert set(summary) >= {k.rstrip("_") for k in type(router).tuned_attributes}
    assert _as_json(summary)  # reports write it as JSON


@pytest.mark.parametrize("name", NAMES)
def test_predictions_are_prompts_by_models_in_the_order_asked(name, sample, fitted):
    _, test = sample
    router = fitted[name]
    scores, costs, picks = _snapshot(router, test)
    m = len(router.models_)
    assert scores.shape == costs.shape == (test.n_prompts, m)
    assert np.all(np.isfinite(costs)) and np.all(costs >= 0)
    if not router.reference:
        assert np.all(np.isfinite(scores))
    assert all(len(p) == test.n_prompts and set(p) <= set(router.models_) for p in picks)
    pool = router.models_[::-3]  # a reversed subset: columns follow the pool's order
    cols = [router.models_.index(x) for x in pool]
    sub_scores, sub_costs, sub_picks = _snapshot(router, test, pool)
    np.testing.assert_array_equal(sub_scores, scores[:, cols])
    np.testing.assert_array_equal(sub_costs, costs[:, cols])
    assert router.candidates(pool) == pool
    assert all(set(p) <= set(pool) for p in sub_picks)
    if not router.reference:  # texts and records are two doors to the same predictions
        texts = test.text_of(test.prompts)
        np.testing.assert_array_equal(router.predict(texts, models=pool), sub_scores)
        np.testing.assert_array_equal(router.predict_cost(texts, models=pool), sub_costs)
        assert router.route(texts, models=pool, wtp=1e3) == sub_picks[-1]


@pytest.mark.parametrize("name", NAMES)
def test_a_single_model_pool_always_picks_it(name, sample, fitted):
    _, test = sample
    router = fitted[name]
    only = router.models_[1]
    assert router.route_records(test, models=[only], wtp=1e3) == [only] * test.n_prompts


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_answers_identically(name, sample, fitted, tmp_path):
    _, test = sample
    router = fitted[name]
    router.save(tmp_path / "r")
    again = load_router(tmp_path / "r")
    assert type(again) is type(router) and again.models_ == router.models_
    assert again.get_params() == _as_json(router.get_params())
    assert again.summary() == _as_json(router.summary())
    pool = router.models_[:5]
    _assert_same(_snapshot(again, test), _snapshot(router, test))
    _assert_same(_snapshot(again, test, pool), _snapshot(router, test, pool))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_answers(name, sample, fitted):
    train, test = sample
    again = make_router(name, **FAST_PARAMS[name]).fit(train)
    _assert_same(_snapshot(again, test), _snapshot(fitted[name], test))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused_with_a_clear_error(name, sample, fitted):
    train, test = sample
    router = fitted[name]
    for ask in (router.predict_records, router.predict_cost_records, router.route_records):
        with pytest.raises(KeyError, match="unknown model id.*'gpt-9'"):
            ask(test, models=[router.models_[0], "gpt-9"])
        with pytest.raises(ValueError, match="at least one model"):
            ask(test, models=[])
        with pytest.raises(TypeError, match="list of ids"):
            ask(test, models=router.models_[0])
    with pytest.raises(RuntimeError, match="not fitted"):
        make_router(name, **FAST_PARAMS[name]).predict_records(test)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_router(name, **FAST_PARAMS[name]).route_records(test)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_router(name, **FAST_PARAMS[name]).save("never-written")
    with pytest.raises(ValueError, match="empty records"):
        make_router(name, **FAST_PARAMS[name]).fit(train.filter(prompts=[]))
    with pytest.raises(TypeError):
        make_router(name, no_such_param=1)
