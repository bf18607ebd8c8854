"""Background refit: the mf router refitted on the training records plus the feedback, swapped
in whole; routing goes on during it and feedback that arrived meanwhile is replayed."""
import time

import numpy as np
import pytest

from online_helpers import HELD_OUT
from routerrec.online import OnlineRouter


def _cells(records, n):
    text = dict(zip(records.texts["prompt"].to_list(), records.texts["text"].to_list()))
    t = records.table.head(n)
    return [(text[p], m, s) for p, m, s in zip(t["prompt"].to_list(), t["model"].to_list(),
                                               t["score"].to_list())]


def test_refit_now_folds_the_feedback_into_the_mf_router(held_out_split, sample_split):
    kept, router, held = held_out_split
    online = OnlineRouter(router, records=kept, policy="greedy")
    online.add_model(HELD_OUT)
    for text, model, score in _cells(held, 300) + _cells(sample_split[1], 50):
        online.feedback(text=text, model=model, score=score, cost=0.001)
    before = online._state.router
    online.refit_now()
    after = online._state.router
    assert after is not before and HELD_OUT in after.models_ and online.refits == 1
    assert online.models == kept.models + [HELD_OUT]
    # the feedback is training data now: the columns start again from the refit
    assert online.posterior(HELD_OUT)["n_feedback"] == 0
    texts = sample_split[1].text_of(sample_split[1].prompts[-20:])  # no feedback on these
    assert [d.model for d in online.route(texts)] == after.route(texts)
    # the refit's mf router was fitted on the feedback prompts too
    assert len(after.completion_.prompts) > len(router.completion_.prompts)


def test_refit_needs_the_training_records(als_router):
    with pytest.raises(ValueError, match="needs the training records"):
        OnlineRouter(als_router).refit_now()
    with pytest.raises(ValueError, match="refit_every needs the training records"):
        OnlineRouter(als_router, refit_every=10)


def test_routing_continues_during_a_background_refit(held_out_split, sample_split):
    kept, router, held = held_out_split
    cells = _cells(held, 200)
    online = OnlineRouter(router, records=kept, policy="thompson", refit_every=100)
    online.add_model(HELD_OUT)
    texts = sample_split[1].text_of(sample_split[1].prompts[:40])
    for text, model, score in cells[:100]:  # the 100th record starts the refit
        online.feedback(text=text, model=model, score=score)
    thread = online._refit_thread
    assert thread is not None and thread.is_alive()
    during, latencies, late = 0, [], 0
    while thread.is_alive():
        start = time.perf_counter()
        decisions = online.route(texts[during % 40:during % 40 + 1])
        latencies.append(time.perf_counter() - start)
        assert len(decisions) == 1
        if late < 50:  # feedback arriving during the refit
            text, model, score = cells[100 + late]
            online.feedback(text=text, model=model, score=score)
            late += 1
        during += 1
    online.wait_refit()
    assert online.refit_error is None and online.refits == 1
    assert during >= 3 and max(latencies) < 1.0
    # the feedback that came during the refit was replayed onto the new state
    assert online.posterior(HELD_OUT)["n_feedback"] == late
    assert HELD_OUT in online._state.router.models_


def test_models_added_and_retired_during_a_refit_stay_so(held_out_split, sample_split):
    kept, router, held = held_out_split
    online = OnlineRouter(router, records=kept, policy="greedy", refit_every=50)
    cells = [c for c in _cells(sample_split[1], 80) if c[1] != HELD_OUT][:50]
    for text, model, score in cells:
        online.feedback(text=text, model=model, score=score)
    online.add_model("late-model")
    online.retire_model(kept.models[0])
    online.wait_refit()
    assert online.refits == 1 and "late-model" in online.models
    assert kept.models[0] not in online.models
    assert kept.models[0] not in {d.model for d in online.route(
        sample_split[1].text_of(sample_split[1].prompts[:50]))}
    assert online.posterior("late-model")["n_feedback"] == 0
    assert all(np.isfinite(d.score) for d in online.route(["a new prompt"]))
