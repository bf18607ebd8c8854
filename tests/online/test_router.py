"""OnlineRouter.route / feedback: request ids, delayed, missing and permuted feedback, the greedy
policy, fold-in of a prompt seen again."""
import numpy as np
import pytest

from routerrec.online import Decision, GreedyPolicy, OnlineRouter


def _online(router, records, **kw):
    return OnlineRouter(router, records=records, **{"policy": "greedy", **kw})


@pytest.fixture
def texts(sample_split):
    test = sample_split[1]
    return test.text_of(test.prompts[:60])


def test_greedy_routes_like_the_mf_router_before_feedback(als_router, sample_split, texts):
    online = _online(als_router, sample_split[0])
    decisions = online.route(texts)
    assert all(isinstance(d, Decision) and not d.explored for d in decisions)
    assert [d.model for d in decisions] == als_router.route(texts)
    assert len({d.request_id for d in decisions}) == len(texts)
    np.testing.assert_allclose([d.score for d in decisions],
                               als_router.predict(texts).max(axis=1), atol=1e-5)
    budgeted = online.route(texts, max_cost=1e-4)
    assert [d.model for d in budgeted] == als_router.route(texts, max_cost=1e-4)


def test_feedback_by_request_id_is_taken_once(als_router, sample_split, texts):
    online = _online(als_router, sample_split[0])
    d = online.route(texts[:1])[0]
    online.feedback(request_id=d.request_id, score=1.0)
    assert online.posterior(d.model)["n_feedback"] == 1
    with pytest.raises(LookupError, match="unknown or expired request id"):
        online.feedback(request_id=d.request_id, score=1.0)
    with pytest.raises(LookupError):
        online.feedback(request_id="nope", score=1.0)
    other = next(m for m in online.models if m != d.model)
    d2 = online.route(texts[1:2])[0]
    with pytest.raises(ValueError, match="was routed to"):
        online.feedback(request_id=d2.request_id, model=other if other != d2.model
                        else d.model, score=1.0)
    with pytest.raises(ValueError, match="score"):
        online.feedback(request_id=d2.request_id, score=1.5)  # sample scores are in [0, 1]
    with pytest.raises(ValueError, match="request_id, or a text and a model"):
        online.feedback(score=1.0)
    online.feedback(request_id=d2.request_id, score=0.0)  # the refused calls consumed nothing


def test_expired_request_ids_raise(als_router, sample_split, texts):
    online = _online(als_router, sample_split[0], remember=5)
    decisions = online.route(texts[:10])
    with pytest.raises(LookupError, match="latest 5 requests"):
        online.feedback(request_id=decisions[0].request_id, score=1.0)
    online.feedback(request_id=decisions[-1].request_id, score=1.0)


def _cells(records):
    """The recorded score by (text, model)."""
    text = dict(zip(records.texts["prompt"].to_list(), records.texts["text"].to_list()))
    t = records.table
    return {(text[p], m): s for p, m, s in zip(t["prompt"].to_list(), t["model"].to_list(),
                                               t["score"].to_list())}


def _state(online):
    return {m: (online._state.columns[m].mean, online._state.columns[m].precision)
            for m in online.models}


def test_delayed_missing_and_permuted_feedback_give_the_same_state(als_router, sample_split):
    train, test = sample_split
    texts = test.text_of(test.prompts[:200])
    truth = _cells(test)
    immediate = _online(als_router, train)
    delayed = _online(als_router, train)
    records = []
    for text in texts:  # immediate: each feedback right after its decision
        d = immediate.route([text])[0]
        score = truth.get((text, d.model))
        if score is not None:
            immediate.feedback(request_id=d.request_id, score=score)
            records.append((text, d.model, score))
    # delayed: all routed first, then feedback in a shuffled order
    decisions = delayed.route(texts)
    late = []
    for i in np.random.default_rng(0).permutation(len(texts)):
        score = truth.get((texts[i], decisions[i].model))
        if score is not None:
            delayed.feedback(request_id=decisions[i].request_id, score=score)
            late.append((texts[i], decisions[i].model, score))
    assert len(records) < len(texts) and len(late) < len(texts)  # some feedback never comes
    assert sum(immediate.posterior(m)["n_feedback"] for m in immediate.models) == len(records)
    for done, cells in ((immediate, records), (delayed, late)):
        # the same cells in another order, by text instead of request id: the same state
        again = _online(als_router, train)
        for k in np.random.default_rng(1).permutation(len(cells)):
            text, model, score = cells[k]
            again.feedback(text=text, model=model, score=score)
        a, c = _state(done), _state(again)
        for m in a:
            np.testing.assert_allclose(a[m][0], c[m][0], rtol=1e-9, atol=1e-10)
            np.testing.assert_allclose(a[m][1], c[m][1], rtol=1e-9, atol=1e-8)
    moved = [m for m in immediate.models if immediate.posterior(m)["n_feedback"]]
    assert moved and not np.allclose(_state(immediate)[moved[0]][0],
                                     _state(_online(als_router, train))[moved[0]][0])


def test_feedback_moves_a_model_and_greedy_follows(als_router, sample_split, texts):
    online = _online(als_router, sample_split[0])
    top = online.route(texts)[0].model
    before = online.posterior(top)["mean_score"]
    for text in sample_split[1].text_of(sample_split[1].prompts[100:400]):
        online.feedback(text=text, model=top, score=0.0)
    after = online.posterior(top)
    assert after["n_feedback"] == 300 and after["mean_score"] < before - 0.1
    assert sum(d.model == top for d in online.route(texts)) < sum(
        d.model == top for d in _online(als_router, sample_split[0]).route(texts))


def test_factor_confidence_holds_a_trained_models_factors_not_its_level(als_router,
                                                                       sample_split, texts):
    """Feedback moves a trained column's bias as at factor_confidence 1 and its factors less;
    at a very large confidence only the bias (the model's level) moves."""
    train, feedback = sample_split[0], sample_split[1].text_of(sample_split[1].prompts[:200])
    moved = {}
    for confidence in (1.0, 32.0, 1e9):
        online = _online(als_router, train, factor_confidence=confidence)
        model = online.models[0]
        start = online._state.columns[model].mean.copy()
        for text in feedback:
            online.feedback(text=text, model=model, score=0.0)
        moved[confidence] = online._state.columns[model].mean - start
    factors = {c: np.linalg.norm(d[:-1]) for c, d in moved.items()}
    assert factors[1.0] > 3 * factors[32.0] and factors[1e9] < 1e-3 * factors[1.0]
    # its level drops with the misses, at least as far as with free factors
    assert moved[1e9][-1] <= moved[32.0][-1] <= moved[1.0][-1] < -0.02
    with pytest.raises(ValueError, match="factor_confidence"):
        _online(als_router, train, factor_confidence=0.5)


def test_a_prompt_seen_again_is_folded_in(als_router, sample_split, texts):
    online = _online(als_router, sample_split[0])
    text = texts[0]
    models = online.models[:6]
    before = [online.route([text], models=[m])[0].score for m in models]
    for m in models:
        online.feedback(text=text, model=m, score=1.0)
    after = [online.route([text], models=[m])[0].score for m in models]
    assert np.mean(after) > np.mean(before) + 0.02
    fresh = _online(als_router, sample_split[0], prompt_cache=0)
    for m in models:
        fresh.feedback(text=text, model=m, score=1.0)
    # without the prompt cache only the columns moved, much less for this one prompt
    assert np.mean([fresh.route([text], models=[m])[0].score for m in models]) < np.mean(after)


def test_greedy_policy_object_and_bad_arguments(als_router, sample_split, texts):
    online = OnlineRouter(als_router, policy=GreedyPolicy())
    assert not any(d.explored for d in online.route(texts))
    with pytest.raises(ValueError, match="policy"):
        OnlineRouter(als_router, policy="eps")
    with pytest.raises(TypeError, match="fitted mf router"):
        OnlineRouter("router")
    with pytest.raises(KeyError, match="unknown model"):
        online.route(texts, models=["no-such-model"])
    with pytest.raises(KeyError, match="unknown model"):
        online.feedback(text=texts[0], model="no-such-model", score=1.0)


def test_threads_route_and_feed_back_at_once(als_router, sample_split):
    """A server calls from many threads: every decision is counted once, the share cap holds
    and every feedback lands."""
    import threading

    online = OnlineRouter(als_router, records=sample_split[0], max_regret=1.0)
    online.add_model("fresh")
    texts = sample_split[1].text_of(sample_split[1].prompts[:200])
    errors = []

    def worker(part):
        try:
            for text in part:
                d = online.route([text])[0]
                online.feedback(request_id=d.request_id, score=1.0)
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(texts[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert online.budget.decisions == 200
    assert online.budget.explored <= 0.1 * 200
    assert sum(online.posterior(m)["n_feedback"] for m in online.models) == 200
