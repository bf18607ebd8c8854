"""Reference routers on a truth matrix (the evaluators' view): their pick distributions, the
exact expectations taken from them, and the oracle's picks agreeing with its routing."""
from __future__ import annotations

import numpy as np
import pytest
from planted import topic_records

from routerrec.routing.base import true_matrices
from routerrec.routing.reference import entropy_bits
from routerrec.routing.registry import ROUTERS, make_router

TRUTH = np.array([[1, 0, 0.5], [0, 1, 1], [0.2, 0.2, 0.1], [0, 0, 0]], dtype=np.float64)
COSTS = np.array([[3, 1, 2], [1, 2, 1], [1, 1, 1], [2, 1, 3]], dtype=np.float64)
MEANS = np.array([0.3, 0.6, 0.5])


def reference_routers():
    return [make_router(name) for name, cls in ROUTERS.items() if cls.reference]


@pytest.mark.parametrize("router", reference_routers(), ids=lambda r: r.name)
def test_expectations_are_those_of_the_pick_distribution(router):
    prob = router.pick_probabilities(TRUTH, COSTS, MEANS)
    assert prob.shape == TRUTH.shape and np.allclose(prob.sum(axis=1), 1.0)
    assert router.expected_score(TRUTH, COSTS, MEANS) == pytest.approx(
        (prob * TRUTH).sum(axis=1).mean(), abs=1e-12)
    assert router.pick_entropy(TRUTH, COSTS, MEANS) == pytest.approx(
        entropy_bits(prob).mean(), abs=1e-12)


def test_deterministic_picks_by_hand():
    oracle, best = make_router("oracle"), make_router("best-single")
    # best true score; a tie goes to the cheaper candidate (rows 2 and 4), else the first
    assert oracle.truth_picks(TRUTH, COSTS).tolist() == [0, 2, 0, 1]
    assert oracle.truth_picks(TRUTH).tolist() == [0, 1, 0, 0]
    assert best.truth_picks(TRUTH, train_means=MEANS).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="training means"):
        best.truth_picks(TRUTH)
    # RouterBench's oracle curve: argmax wtp·s − c; a tiny wtp buys the cheapest (ties: score)
    assert oracle.truth_picks(TRUTH, COSTS, wtp=1e-9).tolist() == [1, 2, 0, 1]
    assert oracle.truth_picks(TRUTH, COSTS, wtp=3.0).tolist() == [0, 2, 0, 1]
    p = make_router("oracle-p", p=0.25).pick_probabilities(TRUTH, COSTS)
    np.testing.assert_allclose(p[0], [0.25 + 0.75 / 3, 0.25, 0.25])
    assert make_router("random").pick_entropy(TRUTH) == pytest.approx(np.log2(3))


def test_oracle_truth_picks_are_its_routes():
    train, test = topic_records(60, seed=1, density=1.0), topic_records(30, seed=2, density=1.0)
    oracle = make_router("oracle").fit(train)
    truth, costs = true_matrices(test, oracle.models_)
    picks = oracle.truth_picks(truth, costs)
    assert [oracle.models_[j] for j in picks] == oracle.route_records(test)
    assert oracle.route_records(test, wtp=1e-9) == oracle.route_records(test)  # one point
