"""``calibrate_wtp``: the largest willingness to pay within a cost or share target, found with
the router's own ``choose``; hand-checked on three models, checked on the sample."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from routerrec import load_sample, records_from_frame
from routerrec.routing.calibrate import (calibrate_wtp, read_calibration, router_fingerprint,
                                         write_calibration)
from routerrec.routing.registry import make_router

def same_features(texts):
    """One feature vector for every prompt: a ridge router then predicts each model's mean."""
    return np.ones((len(texts), 2))


# three models with constant costs and one feature vector for all prompts: the linear router
# predicts each model's training mean for every prompt, so λ·score − cost switches A -> B at λ = (0.2-0.1)/(0.7-0.5) = 0.5 and
# B -> C at λ = (0.5-0.2)/(0.9-0.7) = 1.5 (ties go to the cheaper model)
MEANS = {"A": (0.5, 0.1), "B": (0.7, 0.2), "C": (0.9, 0.5)}


@pytest.fixture(scope="module")
def three():
    rows = [(f"p{i}", m, s, c, f"prompt number {i}") for i in range(4)
            for m, (s, c) in MEANS.items()]
    frame = pl.DataFrame(rows, schema=["prompt", "model", "score", "cost", "text"], orient="row")
    router = make_router("linear", encoder=same_features)
    return router.fit(records_from_frame(frame, cost="cost", text="text"))


PROMPTS = ["any prompt", "another one", "a third"]


@pytest.mark.parametrize("target, wtp, achieved, step", [
    (0.15, 0.5, 0.1, 0.2), (0.11, 0.5, 0.1, 0.2), (0.3, 1.5, 0.2, 0.5), (0.49, 1.5, 0.2, 0.5)])
def test_cost_target_hand_checked(three, target, wtp, achieved, step):
    cal = calibrate_wtp(three, PROMPTS, target_cost=target)
    # the exact switch of the router's float32 predictions, then the hand value
    s, c = three.predict(["x"])[0].astype(float), three.predict_cost(["x"])[0].astype(float)
    lo, hi = (0, 1) if wtp == 0.5 else (1, 2)
    switch = (c[hi] - c[lo]) / (s[hi] - s[lo])
    assert switch == pytest.approx(wtp, rel=1e-6)
    assert cal.wtp <= switch < cal.step_wtp and cal.step_wtp == pytest.approx(switch, rel=1e-8)
    assert cal.achieved == pytest.approx(achieved) and cal.step_achieved == pytest.approx(step)
    assert cal.reachable == pytest.approx((0.1, 0.5)) and cal.prompts == 3
    assert cal.mean_cost == pytest.approx(achieved)
    assert three.route(PROMPTS, wtp=cal.wtp) == [{0.1: "A", 0.2: "B"}[achieved]] * 3


def test_share_target_and_pool_hand_checked(three):
    cal = calibrate_wtp(three, PROMPTS, target_share=("C", 0.5))
    assert cal.wtp == pytest.approx(1.5, rel=1e-6) and cal.shares == {"B": 1.0, "A": 0.0, "C": 0.0}
    # in the pool {A, C}: A -> C at λ = (0.5-0.1)/(0.9-0.5) = 1
    cal = calibrate_wtp(three, PROMPTS, target_share={"C": 0.0}, models=["A", "C"])
    assert cal.wtp == pytest.approx(1.0, rel=1e-6) and cal.models == ["A", "C"]
    assert cal.reachable == (0.0, 1.0) and cal.step_achieved == 1.0


def test_unreachable_targets_name_the_reachable_range(three):
    with pytest.raises(ValueError, match=r"target mean predicted cost per request 0.05 is out "
                                         r"of reach .* reaches 0.1 .* below 0.5"):
        calibrate_wtp(three, PROMPTS, target_cost=0.05)
    with pytest.raises(ValueError, match=r"0.5 or more needs no wtp: route without --wtp"):
        calibrate_wtp(three, PROMPTS, target_cost=0.5)
    with pytest.raises(ValueError, match="share of calls to C 1 is out of reach"):
        calibrate_wtp(three, PROMPTS, target_share=("C", 1))
    with pytest.raises(KeyError, match="'D' is not a candidate; the candidates are A, B, C"):
        calibrate_wtp(three, PROMPTS, target_share=("D", 0.2))
    with pytest.raises(ValueError, match="target_share must be a finite number >= 0 and <= 1, got 2"):
        calibrate_wtp(three, PROMPTS, target_share=("C", 2))
    with pytest.raises(ValueError, match="give target_cost or target_share"):
        calibrate_wtp(three, PROMPTS, target_cost=0.2, target_share=("C", 0.2))
    with pytest.raises(TypeError, match="prompts must be a list of strings"):
        calibrate_wtp(three, "one prompt", target_cost=0.2)
    with pytest.raises(ValueError, match=r"cost per request is 0.5 at every wtp on these 3 "
                                         r"prompts: this router's picks do not depend on the wtp"):
        calibrate_wtp(three, PROMPTS, target_cost=0.3, models=["C"])


def test_a_router_that_ignores_the_wtp_has_nothing_to_calibrate(three):
    records = load_sample()
    single = make_router("best-single").fit(records)
    with pytest.raises(ValueError, match="picks do not depend on the wtp"):
        calibrate_wtp(single, records.text_of(records.prompts[:20]), target_cost=0.001)


@pytest.fixture(scope="module")
def sample_router():
    records = load_sample()
    return make_router("linear", encoder_params={"dim": 32}).fit(records), records


def test_on_the_sample_the_wtp_is_the_largest_within_the_target(sample_router):
    router, records = sample_router
    texts = records.texts["text"].to_list()[::4]
    scores, costs = router.predict(texts), router.predict_cost(texts).astype(np.float64)
    rows = np.arange(len(texts))

    def cost_at(wtp):
        return costs[rows, router.choose(scores, costs, wtp=wtp)].mean()

    # the claim the search rests on: the mean predicted cost never falls as the wtp grows
    grid = np.geomspace(1e-4, 1e2, 200)
    assert np.all(np.diff([cost_at(w) for w in grid]) >= 0)
    for target in (0.0005, 0.001, 0.002):
        cal = calibrate_wtp(router, texts, target_cost=target)
        assert cost_at(cal.wtp) == pytest.approx(cal.achieved) and cal.achieved <= target
        assert cost_at(cal.step_wtp) > target and cal.step_wtp <= cal.wtp * (1 + 1e-8)
        assert sum(cal.shares.values()) == pytest.approx(1.0)
        picks = router.route(texts, wtp=cal.wtp)
        top = max(cal.shares, key=cal.shares.get)
        assert picks.count(top) / len(texts) == pytest.approx(cal.shares[top])
    # records work like texts (the router reads only their texts)
    sub = records.filter(prompts=records.prompts[::4])
    by_records = calibrate_wtp(router, sub, target_cost=0.001)
    assert by_records.prompts == len(sub.prompts)


def test_calibration_file_round_trip_and_router_check(sample_router, tmp_path):
    router, records = sample_router
    router.save(tmp_path / "r")
    cal = calibrate_wtp(router, records.texts["text"].to_list()[:200], target_cost=0.001,
                        models=["acme-8b", "acme-70b", "acme-405b"])
    write_calibration(tmp_path / "cal.json", cal, tmp_path / "r")
    doc = json.loads((tmp_path / "cal.json").read_text())
    assert doc["format"] == "routerrec-calibration"
    assert doc["router"]["fingerprint"] == router_fingerprint(tmp_path / "r")
    assert read_calibration(tmp_path / "cal.json", tmp_path / "r") == (
        cal.wtp, ["acme-8b", "acme-70b", "acme-405b"])
    make_router("knn", encoder_params={"dim": 8}).fit(records).save(tmp_path / "other")
    with pytest.raises(ValueError, match="was calibrated for another router"):
        read_calibration(tmp_path / "cal.json", tmp_path / "other")
    (tmp_path / "bad.json").write_text('{"format": "routerrec-calibration", "wtp": -1}')
    with pytest.raises(ValueError, match="field 'wtp' must be a finite number >= 0, got -1"):
        read_calibration(tmp_path / "bad.json", tmp_path / "r")
    (tmp_path / "bad.json").write_text('[1, 2]')
    with pytest.raises(ValueError, match="not a calibration file"):
        read_calibration(tmp_path / "bad.json", tmp_path / "r")
