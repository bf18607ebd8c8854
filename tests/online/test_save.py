"""OnlineRouter.save / load: atomic, no pickle, and the loaded router carries on exactly."""
import json

import numpy as np
import pytest

from online_helpers import HELD_OUT
from routerrec.online import DirectedPolicy, OnlineRouter, UCBPolicy
from routerrec.online.router import OnlineFileError


def _busy_router(held_out_split, sample_split, **kw):
    kept, router, held = held_out_split
    online = OnlineRouter(router, records=kept, max_regret=1.0, **kw)
    online.add_model(HELD_OUT, cost_per_call=0.002)
    texts = sample_split[1].text_of(sample_split[1].prompts[:80])
    decisions = online.route(texts)
    for d in decisions[:60]:
        online.feedback(request_id=d.request_id, score=1.0 if d.model == HELD_OUT else 0.0,
                        cost=0.003)
    return online, decisions[60:], texts


@pytest.mark.parametrize("policy", ["thompson", UCBPolicy(beta=1.5),
                                    DirectedPolicy(beta=1.0, stop=0.05)])
def test_loaded_router_carries_on_identically(held_out_split, sample_split, tmp_path, policy):
    online, owed, texts = _busy_router(held_out_split, sample_split, policy=policy,
                                       new_prior_scale=2.0)
    online.save(tmp_path / "online")
    loaded = OnlineRouter.load(tmp_path / "online")
    assert repr(loaded.policy) == repr(online.policy)  # its parameters too
    # a model added after loading starts at the same widened prior
    assert loaded.new_prior_scale == 2.0
    np.testing.assert_array_equal(loaded._state.new_column().precision,
                                  online._state.population[1] / 2.0)
    assert loaded.models == online.models
    for m in online.models:
        assert loaded.posterior(m) == pytest.approx(online.posterior(m))
    # feedback owed on decisions made before the save is taken by the loaded router
    for d in owed[:10]:
        for r in (online, loaded):
            r.feedback(request_id=d.request_id, score=0.5)
    # the same next decisions: the seeded generator's state was saved too
    for r in (online, loaded):
        r.decisions_after = [(d.request_id, d.model, d.explored) for d in r.route(texts[:40])]
    assert loaded.decisions_after == online.decisions_after
    assert loaded.budget.state() == online.budget.state()
    loaded.refit_now()  # the training records were saved with it
    assert HELD_OUT in loaded._state.router.models_


def test_without_records_it_loads_but_cannot_refit(als_router, sample_split, tmp_path):
    online = OnlineRouter(als_router, policy="greedy")
    text = sample_split[1].text_of(sample_split[1].prompts[:1])[0]
    online.feedback(text=text, model=online.models[0], score=1.0)
    online.save(tmp_path / "bare")
    loaded = OnlineRouter.load(tmp_path / "bare")
    np.testing.assert_allclose(loaded._state.columns[online.models[0]].mean,
                               online._state.columns[online.models[0]].mean)
    with pytest.raises(ValueError, match="needs the training records"):
        loaded.refit_now()


def test_damaged_or_foreign_directories_are_refused(als_router, tmp_path):
    online = OnlineRouter(als_router, policy="greedy")
    target = online.save(tmp_path / "o")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["models"] = ["not-a-column"]
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OnlineFileError, match="no saved posterior"):
        OnlineRouter.load(target)
    (target / "manifest.json").write_text("{")
    with pytest.raises(OnlineFileError, match="corrupt manifest"):
        OnlineRouter.load(target)
    with pytest.raises(OnlineFileError, match="no such online router"):
        OnlineRouter.load(tmp_path / "missing")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OnlineFileError, match="not a routerrec directory"):
        online.save(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="custom policy"):
        class Mine(type(online.policy)):
            pass
        OnlineRouter(als_router, policy=Mine()).save(tmp_path / "custom")


def test_a_save_from_before_policy_params_loads_its_ucb_beta(als_router, tmp_path):
    target = OnlineRouter(als_router, policy=UCBPolicy(beta=2.5)).save(tmp_path / "o")
    manifest = json.loads((target / "manifest.json").read_text())
    settings = manifest["settings"]
    assert settings.pop("policy_params") == {"beta": 2.5}
    settings["ucb_beta"] = 2.5  # how saves wrote it before
    (target / "manifest.json").write_text(json.dumps(manifest))
    assert repr(OnlineRouter.load(target).policy) == "UCBPolicy(beta=2.5)"
    settings["policy_params"] = {"beta": 2.5, "nonsense": 1}
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OnlineFileError, match="nonsense"):
        OnlineRouter.load(target)


def test_a_directed_save_from_before_the_horizon_test_loads_with_the_default(als_router,
                                                                             tmp_path):
    target = OnlineRouter(als_router, policy=DirectedPolicy(horizon=50)).save(tmp_path / "o")
    manifest = json.loads((target / "manifest.json").read_text())
    params = manifest["settings"]["policy_params"]
    assert params.pop("horizon") == 50
    assert OnlineRouter.load(target).policy.horizon == 50
    (target / "manifest.json").write_text(json.dumps(manifest))  # as saves wrote it before
    assert OnlineRouter.load(target).policy.horizon == "past"
