"""``Router.decide``: the ranked candidates ``route``, ``/v1/route`` and the chat gateway share."""
from __future__ import annotations

import numpy as np
import pytest

from routerrec.routing.registry import make_router
from planted import topic_records, topic_text, TOPICS


@pytest.fixture(scope="module")
def router():
    return make_router("linear", encoder_params=dict(dim=16)).fit(topic_records(240, seed=1))


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(7)
    return [topic_text(rng, list(TOPICS)[i % 3]) for i in range(30)]


@pytest.mark.parametrize("policy", [{}, {"wtp": 0.0}, {"wtp": 50.0}, {"max_cost": 0.002},
                                    {"models": ["coder", "cheap"]}, {"wtp": 1e6, "models": ["mathy", "quizzer"]}])
def test_the_first_candidate_is_routes_pick(router, texts, policy):
    decisions = router.decide(texts, ranks=3, **policy)
    assert [d[0][0] for d in decisions] == router.route(texts, **policy)
    pool = policy.get("models", router.models_)
    for d in decisions:
        assert len(d) == min(3, len(pool)) and len({m for m, _, _ in d}) == len(d)
        assert {m for m, _, _ in d} <= set(pool)


def test_ranks_follow_the_pick_rule_with_earlier_picks_removed(router, texts):
    """Under wtp the rule is argmax λ·score − cost, so the full ranking is that value sorted."""
    wtp = 50.0
    scores, costs = router.predict(texts), router.predict_cost(texts)
    for i, ranked in enumerate(router.decide(texts, wtp=wtp, ranks=len(router.models_))):
        assert sorted(m for m, _, _ in ranked) == sorted(router.models_)
        values = [wtp * s - c for _, s, c in ranked]
        assert values == sorted(values, reverse=True)
        for m, s, c in ranked:  # the reported score and cost are the predictions
            j = router.models_.index(m)
            assert (s, c) == (float(scores[i, j]), float(costs[i, j]))


def test_a_budget_is_honoured_then_the_cheapest_rest_follow(router, texts):
    costs = router.predict_cost(texts[:1], models=["cheap", "mathy"])[0]
    budget = float(costs.mean())  # only cheap (a twentieth of the others' price) fits
    ranked = router.decide(texts[:1], max_cost=budget, ranks=3)[0]
    assert ranked[0][0] == "cheap" and ranked[0][2] <= budget
    assert all(c > budget for _, _, c in ranked[1:])  # nothing else fits: the cheapest rest
    per_prompt = router.decide(texts[:2], max_cost=[budget, 1e9], ranks=3)
    assert per_prompt[0] == ranked and per_prompt[1] == router.decide(texts[1:2], ranks=3)[0]
    assert [d[0][0] for d in per_prompt] == router.route(texts[:2], max_cost=[budget, 1e9])


def test_bad_arguments_are_named(router, texts):
    with pytest.raises(ValueError, match="ranks"):
        router.decide(texts, ranks=0)
    with pytest.raises(KeyError, match="unknown model"):
        router.decide(texts, models=["nope"])
    with pytest.raises(TypeError, match="texts"):
        router.decide("one string")
