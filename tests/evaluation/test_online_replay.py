"""Replay of a record set as a request stream (routerrec.evaluation.online): determinism, the
regret bookkeeping, the delayed / partial feedback queue, model arrivals and the baselines."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import routerrec.online
from routerrec.data.sample import load_sample
from routerrec.data.load import records_from_frame
from routerrec.evaluation.online import best_per_task, markdown_report, replay, report_figure
from routerrec.evaluation.report import pyplot


@pytest.fixture(scope="module")
def records():
    """Every fourth prompt of the sample (500 prompts, 20 models, texts)."""
    full = load_sample()
    return full.filter(prompts=full.prompts[::4])


def _without_times(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "seconds"}


class Recording(routerrec.online.OnlineRouter):
    """The real OnlineRouter, logging the calls the replay makes to it."""

    log: list = []

    def route(self, texts, **kw):
        out = super().route(texts, **kw)
        Recording.log.append(("route", texts[0], list(kw["models"]), out[0]))
        return out

    def feedback(self, **kw):
        Recording.log.append(("feedback", kw))
        super().feedback(**kw)

    def add_model(self, name, **kw):
        Recording.log.append(("add", name))
        super().add_model(name, **kw)


@pytest.fixture()
def recorded(monkeypatch):
    monkeypatch.setattr(routerrec.online, "OnlineRouter", Recording)
    Recording.log = []
    return Recording.log


def test_same_seed_same_report_other_seed_other_stream(records):
    a = replay(records, seed=3, feedback_delay=2)
    b = replay(records, seed=3, feedback_delay=2)
    assert _without_times(a) == _without_times(b)
    c = replay(records, seed=4, feedback_delay=2)
    assert c["new_models"] != a["new_models"] or c["curves"] != a["curves"]


def test_regret_is_counted_against_the_oracle(records):
    report = replay(records, seed=1)
    n = report["n_stream"]
    assert set(report["routers"]) == {"online", "fixed", "probe-50", "probe-matched"}
    for name, r in report["routers"].items():
        curve = np.array(report["curves"][name])
        assert np.all(np.diff(curve) >= -1e-9) and curve[0] >= 0, name  # oracle is the best
        assert curve[-1] == pytest.approx(r["regret"])
        assert r["regret"] == pytest.approx(n * (report["oracle_mean_score"] - r["mean_score"]))
    best = min(report["routers"][b]["regret"] for b in ("fixed", "probe-50"))
    assert report["regret_vs_best_fixed"] == pytest.approx(report["routers"]["online"]["regret"]
                                                           - best)
    assert report["curves"]["step"][-1] == n
    # probing spent: online's exploring calls to new models; probe-matched at most as many
    # (fewer only where a model answered fewer training prompts); probe-50 50 per new model
    # at most
    calls = report["probe_calls"]
    assert calls["online"] == sum(v["explored_calls"] for v in report["new"].values())
    assert calls["probe-matched"] <= calls["online"]
    assert 0 < calls["probe-50"] <= 50 * len(report["new_models"])


def test_feedback_arrives_late_for_a_share_with_the_recorded_score(records, recorded):
    delay = 7
    report = replay(records, seed=2, feedback_share=0.5, feedback_delay=delay)
    routes = [e for e in recorded if e[0] == "route"]
    assert len(routes) == report["n_stream"]
    step_of = {e[3].request_id: i for i, e in enumerate(routes)}
    seen = 0
    scores = {}  # (text, model) -> recorded scores (a few sample texts repeat)
    for t, m, s in zip(records.text_of(records.table["prompt"].to_list()),
                       records.table["model"], records.table["score"]):
        scores.setdefault((t, m), set()).add(s)
    delivered = []
    for event in recorded:
        if event[0] == "route":
            seen += 1
        elif event[0] == "feedback":
            step = step_of[event[1]["request_id"]]
            assert seen - (step + 1) == delay  # exactly `delay` requests routed in between
            _, text, _, decision = routes[step]
            assert event[1]["score"] in scores[(text, decision.model)]
            delivered.append(step)
    assert len(set(delivered)) == len(delivered)
    # about half revealed, and none of the last `delay` requests (the stream ended first)
    assert 0.4 < len(delivered) / (report["n_stream"] - delay) < 0.6
    assert max(delivered) < report["n_stream"] - delay


def test_no_feedback_means_no_feedback_calls(records, recorded):
    replay(records, seed=2, feedback_share=0.0)
    assert not [e for e in recorded if e[0] == "feedback"]


def test_models_join_at_their_arrival_and_candidates_are_observed(records, recorded):
    report = replay(records, seed=5, arrivals=(0.1, 0.6))
    new, arrival = report["new_models"], report["arrival_steps"]
    assert len(new) == 4 and set(arrival.values()) == {round(0.1 * report["n_stream"]),
                                                        round(0.6 * report["n_stream"])}
    observed = {(t, m) for t, m in zip(records.text_of(records.table["prompt"].to_list()),
                                       records.table["model"])}
    joined, step = set(), 0
    for event in recorded:
        if event[0] == "add":
            assert arrival[event[1]] == step
            joined.add(event[1])
        elif event[0] == "route":
            _, text, candidates, decision = event
            assert decision.model in candidates
            assert all((text, m) in observed for m in candidates)
            assert not set(candidates) & (set(new) - joined)
            step += 1
    assert joined == set(new)
    for m, v in report["new"].items():
        assert v["calls"] >= v["explored_calls"] >= 0
        assert v["converged_after"] is None or v["converged_after"] >= 0


def test_greedy_without_feedback_routes_like_the_fixed_router_until_a_model_joins(records):
    report = replay(records, seed=6, policy="greedy", feedback_share=0.0)
    first = min(report["arrival_steps"].values())
    curves = report["curves"]
    before = [i for i, s in enumerate(curves["step"]) if s <= first]
    assert before and [curves["online"][i] for i in before] == [curves["fixed"][i] for i in before]
    assert report["explored_share"] == 0.0


def test_regret_sources_add_up_to_online_minus_fixed(records):
    report = replay(records, seed=3, policy="thompson")
    sources = report["regret_sources"]
    routers = report["routers"]
    assert sum(v["regret"] for v in sources.values()) == pytest.approx(
        routers["online"]["regret"] - routers["fixed"]["regret"])
    explored_new = sum(v["explored_calls"] for v in report["new"].values())
    assert sources["explored"]["decisions"] <= report["explored_share"] * report["n_stream"]
    assert explored_new > 0 and sources["explored"]["decisions"] > 0
    # without feedback nothing moves a trained column: every trained pick is fixed's
    still = replay(records, seed=3, policy="greedy", feedback_share=0.0)["regret_sources"]
    assert still["trained"] == still["trained, prompt seen"] == {"decisions": 0, "regret": 0.0}
    assert still["explored"]["decisions"] == still["new unconverged"]["decisions"] == 0


def test_named_new_models_and_bad_arguments(records):
    report = replay(records, seed=0, new_models=["corvid-ultra"], arrivals=(0.5,))
    assert report["new_models"] == ["corvid-ultra"]
    assert "corvid-ultra" not in report["models"]
    tasks = report["new"]["corvid-ultra"]["best_tasks"]
    assert set(tasks) == {t for t, m in best_per_task(records).items() if m == "corvid-ultra"}
    assert tasks  # the sample's strongest model is the best on some task
    for per in tasks.values():  # the router fitted once never uses a model that joined later
        assert per["fixed"] == {"requests_until_most": None, "task_requests":
                                per["online"]["task_requests"], "final_share": 0.0}
        assert all(0 <= r["final_share"] <= 1 for r in per.values())
    with pytest.raises(ValueError, match="new_models"):
        replay(records, new_models=["no-such-model"])
    with pytest.raises(ValueError, match="arrivals"):
        replay(records, arrivals=())
    with pytest.raises(ValueError, match="arrivals"):
        replay(records, arrivals=(1.5,))
    with pytest.raises(ValueError, match="policy"):
        replay(records, policy="eps")
    with pytest.raises(ValueError, match="directed stop"):
        replay(records, policy="directed", policy_params={"stop": 2.0})
    with pytest.raises(ValueError, match="feedback_delay"):
        replay(records, feedback_delay=-1)
    with pytest.raises(ValueError, match="too little"):
        replay(records.filter(prompts=records.prompts[:20]))


def test_best_per_task_counts_only_models_that_answered_enough():
    rows = [(f"a{i}", "x", 0.9 if i else 0.0, "a") for i in range(10)]  # mean 0.9 on 10
    rows += [(f"a{i}", "y", 1.0, "a") for i in range(4)]  # perfect, but on 4 of 10: too few
    rows += [(f"a{i}", "z", 0.5, "a") for i in range(10)]
    rows += [(f"b{i}", m, float(m == "z"), "b") for i in range(6) for m in "xyz"]
    frame = pl.DataFrame(rows, schema=["prompt", "model", "score", "benchmark"], orient="row")
    assert best_per_task(records_from_frame(frame, benchmark="benchmark")) == {"a": "x", "b": "z"}


def test_markdown_and_figure(records):
    report = replay(records, seed=1, feedback_delay=3)
    text = markdown_report(report)
    assert all(f"| {r} |" in text for r in report["routers"])
    assert all(m in text for m in report["new_models"])
    fig = report_figure(report)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) >= 4
    pyplot().close(fig)


def test_example_online_replay_runs(tmp_path):
    """examples/online_replay.py end to end: the table, one line per new model, the plot."""
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "online_replay.py"
    png = tmp_path / "replay.png"
    proc = subprocess.run([sys.executable, str(example), str(png)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| online |" in proc.stdout and "| probe-50 |" in proc.stdout
    assert proc.stdout.count("joined at request") == 4
    assert png.read_bytes()[:4] == b"\x89PNG"
