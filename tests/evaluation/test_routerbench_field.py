"""The field's router metrics on hand-computed examples: RouteLLM's APGR and CPT, RouterArena's
score, the Pareto distance to the oracle curve (definitions in docs/routerbench.md)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from routerrec.evaluation.routerbench import apgr, arena_score, cpt, pair_curve, pareto_distance

# a router's curve: (share of strong calls, mean score); weak 0.5, strong 0.9
SHARE, QUALITY = [0.0, 0.5, 1.0], [0.5, 0.8, 0.9]


def test_apgr_by_hand():
    # trapezoids: 0.5 (0.5 + 0.8) / 2 + 0.5 (0.8 + 0.9) / 2 = 0.75; weak area 0.5, strong 0.9
    assert apgr(SHARE, QUALITY, 0.5, 0.9) == pytest.approx((0.75 - 0.5) / (0.9 - 0.5))
    # the order of the points does not matter; the straight line recovers half the gap
    assert apgr(SHARE[::-1], QUALITY[::-1], 0.5, 0.9) == pytest.approx(0.625)
    assert apgr([0, 1], [0.5, 0.9], 0.5, 0.9) == pytest.approx(0.5)
    # RouteLLM's formula on its own terms (trapezoid areas over share, percent / 100)
    share, q = np.array([0, 20, 40, 70, 100]) / 100, np.array([0.5, 0.62, 0.7, 0.85, 0.9])
    routellm = (np.trapezoid(q, share) - 0.5) / (0.9 - 0.5)
    assert apgr(share, q, 0.5, 0.9) == pytest.approx(routellm)
    # no gap to recover: undefined, not a number that hides it
    assert math.isnan(apgr(SHARE, QUALITY, 0.9, 0.9))


def test_cpt_by_hand():
    # 50%: target 0.7 on the segment (0, 0.5) -> (0.5, 0.8): share 0.5 * 0.2 / 0.3
    assert cpt(SHARE, QUALITY, 0.5, 0.9, 0.5) == pytest.approx(1 / 3)
    # 80%: target 0.82 on (0.5, 0.8) -> (1, 0.9): 0.5 + 0.5 * 0.02 / 0.1
    assert cpt(SHARE, QUALITY, 0.5, 0.9, 0.8) == pytest.approx(0.6)
    # on a rising curve it is RouteLLM's np.interp(target, quality, share)
    assert cpt(SHARE, QUALITY, 0.5, 0.9, 0.5) == pytest.approx(np.interp(0.7, QUALITY, SHARE))
    # a curve that never gets there, and one that starts above the target
    assert math.isnan(cpt(SHARE, [0.5, 0.6, 0.7], 0.5, 0.9, 0.8))
    assert cpt(SHARE, [0.85, 0.8, 0.9], 0.5, 0.9, 0.5) == 0.0
    # the first crossing counts when the curve dips after it
    assert cpt([0, 0.5, 0.75, 1], [0.5, 0.9, 0.6, 0.9], 0.5, 0.9, 0.5) == pytest.approx(0.25)


def test_pair_curve_by_hand():
    margin = [0.3, -0.1, 0.3, 0.0]
    strong, weak = [1, 0, 0, 1], [0, 1, 1, 0]
    share, quality = pair_curve(margin, strong, weak)
    # the two prompts with margin 0.3 go to the strong model together (one threshold)
    np.testing.assert_allclose(share, [0, 0.5, 0.75, 1])
    np.testing.assert_allclose(quality, [0.5, 0.5, 0.75, 0.5])
    # a router that ranks nothing is the straight line: APGR 0.5, like RouteLLM's random
    share, quality = pair_curve([0.2] * 4, [1, 1, 0, 1], [0, 1, 0, 0])
    np.testing.assert_allclose(share, [0, 1])
    assert apgr(share, quality, 0.25, 0.75) == pytest.approx(0.5)
    # the oracle's margin (true strong - weak) recovers the gap first
    share, quality = pair_curve([1, 0, 0, 1], [1, 1, 0, 1], [0, 1, 0, 0])
    assert apgr(share, quality, 0.25, 0.75) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="strong_scores must have 4 values"):
        pair_curve(margin, [1, 0], weak)


def test_arena_score_by_hand():
    # C = (log2 8 - log2 2) / (log2 8 - log2 0.5) = 2 / 4; S = 1.1 * 0.8 * 0.5 / (0.08 + 0.5)
    assert arena_score(0.8, 2.0, c_max=8, c_min=0.5) == pytest.approx(0.44 / 0.58)
    # RouterArena's own range (USD per 1,000 queries, 200 and 0.0044) and beta 0.1
    assert arena_score(0.7, 200.0) == pytest.approx(0.0)
    assert arena_score(1.0, 0.0044) == pytest.approx(1.0)
    c = (math.log2(200) - math.log2(1.0)) / (math.log2(200) - math.log2(0.0044))
    assert arena_score(0.6, 1.0, beta=0.5) == pytest.approx(1.5 * 0.6 * c / (0.5 * 0.6 + c))
    with pytest.raises(ValueError, match="accuracy"):
        arena_score(1.5, 1.0)
    with pytest.raises(ValueError, match="c_max must be above c_min"):
        arena_score(0.5, 1.0, c_max=1, c_min=2)


def test_pareto_distance_by_hand():
    oracle = [(1, 0.6), (3, 0.9), (5, 1.0)]
    router = [(1, 0.5), (4, 0.8)]
    # at the oracle's vertices the router's hull reaches 0.5, 0.5 + 0.3 * 2 / 3 = 0.7, 0.8
    assert pareto_distance(router, oracle) == pytest.approx((0.1 + 0.2 + 0.2) / 3)
    assert pareto_distance(oracle, oracle) == 0.0
    # a router stuck at the cheap end is far from the oracle's expensive vertices
    assert pareto_distance([(1, 0.6)], oracle) == pytest.approx((0 + 0.3 + 0.4) / 3)
