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
import re
import shutil

import numpy as np
import pytest

import routerrec
from routerrec.routing.base import RouterFileError
from routerrec.routing.registry import ROUTERS, load_router, make_router

# router -> quick parameters for the small sample below
FAST_PARAMS: dict[str, dict] = {
    "mf": dict(method_params=dict(rank=4), encoder_params=dict(dim=16)),
    "lightfm": dict(rank=4, epochs=5, encoder_params=dict(dim=16)),
    "knn": dict(ks=(5, 20), encoder_params=dict(dim=16)),
    "linear": dict(encoder_params=dict(dim=16)),
    # mf as a member: its completion model is a saved sub-directory (m1/completion)
    "ensemble": dict(routers=("linear", "mf"), router_params={"mf": dict(method_params=dict(rank=4))},
                     encoder_params=dict(dim=16)),
    "auto": dict(folds=2, router_params={"knn": dict(ks=(5, 20))}, encoder_params=dict(dim=16),
                 group_params=dict(encoder_params=dict(dim=16))),
    "oracle": {},
    "random": {},
    "best-single": {},
    "oracle-p": dict(p=0.5),
    "task-best": dict(encoder_params=dict(dim=16)),
    "cluster-best": dict(encoder_params=dict(dim=16)),
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


# -- hostile input (issue 11): every router is held to the same refusals

BAD_PROMPTS = [("hello world", TypeError, r"not one string .*for one prompt pass \[text\]"),
               ([123], TypeError, r"texts\[0\] must be a string, got int 123"),
               (["fine", None], TypeError, r"texts\[1\] must be a string, got NoneType"),
               (None, TypeError, "texts must be a list of strings")]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("prompts,error,message", BAD_PROMPTS)
def test_a_prompt_list_must_be_a_list_of_strings(name, fitted, prompts, error, message):
    """A string was routed character by character, ``None`` as ""; 123 raised deep inside."""
    router = fitted[name]
    for ask in (router.predict, router.predict_cost, router.route):
        with pytest.raises(error, match=message):
            ask(prompts)


BAD_PICKS = [
    (dict(wtp="10"), TypeError, r"wtp \(willingness to pay\) must be a number, got str '10'"),
    (dict(wtp=float("nan")), ValueError, r"wtp .* must be a finite number >= 0, got nan"),
    (dict(wtp=float("inf")), ValueError, r"wtp .* must be a finite number >= 0, got inf"),
    (dict(wtp=-1), ValueError, r"wtp .* must be a finite number >= 0, got -1"),
    (dict(max_cost=float("nan")), ValueError, "max_cost must be a finite number >= 0, got nan"),
    (dict(max_cost=-1), ValueError, "max_cost must be a finite number >= 0, got -1"),
    (dict(max_cost=float("inf")), ValueError, "max_cost must be a finite number >= 0, got inf"),
    (dict(max_cost="0.01"), TypeError, "max_cost must be a number, got str"),
    (dict(max_cost=[0.01, 0.02]), ValueError, "max_cost must have 40 values, got 2"),
    (dict(max_cost=[0.01] * 39 + [float("nan")]), ValueError,
     r"max_cost\[39\] must be a finite number >= 0, got nan"),
    (dict(max_cost=[[0.01]] * 40), ValueError, r"flat list of numbers, got shape \(40, 1\)"),
    (dict(max_cost=[None] * 40), TypeError, "max_cost must be a list of numbers"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options,error,message", BAD_PICKS)
def test_pick_options_are_checked_by_the_pick_rule(name, sample, fitted, options, error,
                                                   message):
    """``max_cost=nan`` ignored the budget, -1 was accepted, ``wtp="10"`` and a budget of the
    wrong length raised numpy errors; reference routers ignore wtp but refuse a bad one."""
    _, test = sample
    router = fitted[name]
    with pytest.raises(error, match=message):
        router.route_records(test, **options)
    s, c = router.predict_records(test), router.predict_cost_records(test)
    with pytest.raises(error, match=message):
        router.choose(s, c, **options)
    if not router.reference:
        with pytest.raises(error, match=message):
            router.route(test.text_of(test.prompts), **options)


@pytest.mark.parametrize("name", NAMES)
def test_a_budget_per_prompt_is_kept(name, sample, fitted):
    _, test = sample
    router = fitted[name]
    costs = router.predict_cost_records(test)
    budget = np.sort(costs, axis=1)[:, 1]  # the second-cheapest cost of each prompt
    picks = router.route_records(test, max_cost=budget)
    spent = costs[np.arange(test.n_prompts), [router.models_.index(p) for p in picks]]
    assert np.all(spent <= budget)
    assert router.route_records(test, max_cost=budget.tolist()) == picks
    assert router.route_records(test, max_cost=0) == [  # nothing fits: the cheapest
        router.models_[j] for j in costs.argmin(axis=1)]


def _dense_users():
    """(module, name) of every routing module that imports ``dense_observed``."""
    import sys

    return [(mod, "dense_observed") for key, mod in list(sys.modules.items())
            if key.startswith("routerrec.routing") and hasattr(mod, "dense_observed")]


@pytest.mark.parametrize("name", NAMES)
def test_dense_training_is_declared_and_bounded_before_any_work(name, sample, monkeypatch):
    """The observed-cell mask allocated 93 GiB after 54 s of featurising: a router that fits
    on dense scores says so (``dense_training``) and ``fit`` checks their size first."""
    train, _ = sample
    router = make_router(name, **FAST_PARAMS[name])
    if not router.dense_training:  # then it must never build the dense arrays
        for mod, attr in _dense_users():
            monkeypatch.setattr(mod, attr, lambda m: pytest.fail("dense_observed called"))
        router.fit(train)
        return
    monkeypatch.setenv("ROUTERREC_MAX_ARRAY_BYTES", str(48 * 200 * 18 - 1))
    monkeypatch.setattr("routerrec.routing.base.CostModel.fit",
                        lambda *a, **k: pytest.fail("work started before the size check"))
    with pytest.raises(ValueError, match=rf"fitting the {name} router on 200 prompts x 18 models"
                                         r" .* would need .*; fit on a sample of the prompts"):
        router.fit(train)


def _rewrite(directory, change):
    """Apply ``change(manifest, arrays)`` to a saved router directory, in place."""
    manifest = json.loads((directory / "manifest.json").read_text())
    with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
        arrays = dict(npz)
    change(manifest, arrays)
    (directory / "manifest.json").write_text(json.dumps(manifest))
    np.savez(directory / "arrays.npz", **arrays)


def _damages(arrays):
    """(label, change) pairs: each array dropped, grown by a row, or (floats) poisoned."""
    out = []
    for key, a in arrays.items():
        out.append((f"{key} dropped", lambda m, x, k=key: x.pop(k)))
        out.append((f"{key} grown", lambda m, x, k=key: x.update(
            {k: np.concatenate([x[k], x[k][:1]]) if x[k].ndim else x[k][None]})))
        if a.dtype.kind == "f":
            out.append((f"{key} NaN", lambda m, x, k=key: x[k].flat.__setitem__(0, np.nan)))
        out.append((f"{key} text", lambda m, x, k=key: x.update({k: x[k].astype(str)})))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_damaged_router_directories_are_refused_naming_them(name, fitted, tmp_path):
    """Each array missing, of another shape, holding NaN or text; the models list cut; each
    saved value gone: ``RouterFileError`` naming the directory, never a traceback from inside
    or a router that routes on NaN."""
    good = tmp_path / "good"
    fitted[name].save(good)
    with np.load(good / "arrays.npz") as npz:
        arrays = dict(npz)
    manifest = json.loads((good / "manifest.json").read_text())
    damages = [d for d in _damages(arrays) if not d[0].startswith("enc.ids")]
    damages.append(("models cut", lambda m, x: m.update(models=m["models"][:-1])))
    damages.append(("models one string", lambda m, x: m.update(models="".join(m["models"]))))
    damages.append(("models repeated", lambda m, x: m["models"].__setitem__(1, m["models"][0])))
    for part in ("cost_model", "state"):
        for key in manifest[part]:
            damages.append((f"{part}.{key} gone", lambda m, x, p=part, k=key: m[p].pop(k)))
    for i, (label, change) in enumerate(damages):
        bad = tmp_path / f"bad{i}"
        shutil.copytree(good, bad)
        _rewrite(bad, change)
        with pytest.raises(RouterFileError, match=re.escape(str(bad))) as err:
            load_router(bad)
        assert "Traceback" not in str(err.value), label
