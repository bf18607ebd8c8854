"""Exploration: Thompson, UCB and the directed policy propose, the budget decides (share cap at
every moment, expected regret in score and USD), seeded determinism; the directed policy
explores one new model at a time and stops."""
import numpy as np
import pytest

from online_helpers import HELD_OUT
from routerrec.online import OnlineRouter, ThompsonPolicy, UCBPolicy
from routerrec.kernels.linalg import psd_cholesky
from routerrec.online.explore import DirectedPolicy, ExplorationBudget, record_value
from routerrec.online.posterior import ColumnPosterior


@pytest.fixture
def stream(sample_split):
    test = sample_split[1]
    return test.text_of(test.prompts[:400])


def _router(held_out_split, **kw):
    kept, router, _ = held_out_split
    online = OnlineRouter(router, records=kept, **kw)
    online.add_model(HELD_OUT, cost_per_call=0.001)
    return online


@pytest.mark.parametrize("policy", ["thompson", "ucb", "directed"])
@pytest.mark.parametrize("batch", [1, 50])
def test_share_cap_holds_at_every_decision(held_out_split, stream, policy, batch):
    online = _router(held_out_split, policy=policy, max_explore_share=0.1, max_regret=1.0)
    stream = stream[:100 * batch]  # routing one prompt at a time costs the encoder ~15 ms
    flags = []
    for s in range(0, len(stream), batch):
        flags += [d.explored for d in online.route(stream[s:s + batch])]
    running = np.cumsum(flags) / np.arange(1, len(flags) + 1)
    assert running.max() <= 0.1 + 1e-12
    assert sum(flags) >= 0.08 * len(flags)  # the cap binds: the new model is worth trying
    explored = online.budget.state()
    assert explored == {"decisions": len(stream), "explored": sum(flags)}


def test_greedy_and_zero_share_never_explore(held_out_split, stream):
    for kw in ({"policy": "greedy"}, {"max_explore_share": 0.0, "max_regret": 1.0}):
        assert not any(d.explored for d in _router(held_out_split, **kw).route(stream))


@pytest.mark.parametrize("wtp", [None, 30.0])
def test_regret_cap_bounds_every_exploring_pick(held_out_split, stream, wtp):
    greedy = _router(held_out_split, policy="greedy").route(stream, wtp=wtp)
    # trained models explored too: near the greedy pick, they leave cheap exploration
    online = _router(held_out_split, policy="thompson", max_explore_share=1.0,
                     max_regret=0.02, explore_trained=True, converged_width=0.0)
    decisions = online.route(stream, wtp=wtp)
    explored = [(g, d) for g, d in zip(greedy, decisions) if d.explored]
    assert explored
    for g, d in explored:
        regret = g.score - d.score + ((d.cost - g.cost) / wtp if wtp else 0.0)
        assert regret <= 0.02 + 1e-9 and d.model != g.model
    for g, d in zip(greedy, decisions):
        if not d.explored:
            assert d.model == g.model
    loose = _router(held_out_split, policy="thompson", max_explore_share=1.0, max_regret=1.0,
                    explore_trained=True, converged_width=0.0).route(stream, wtp=wtp)
    assert sum(d.explored for d in loose) > len(explored)


def test_usd_cap_bounds_the_extra_cost(held_out_split, stream):
    greedy = _router(held_out_split, policy="greedy").route(stream, wtp=30.0)
    decisions = _router(held_out_split, max_explore_share=1.0, max_regret=1.0,
                        max_regret_usd=0.0).route(stream, wtp=30.0)
    explored = [(g, d) for g, d in zip(greedy, decisions) if d.explored]
    assert all(d.cost <= g.cost + 1e-12 for g, d in explored)
    free = _router(held_out_split, max_explore_share=1.0, max_regret=1.0).route(stream, wtp=30.0)
    assert any(d.cost > g.cost for g, d in zip(greedy, free) if d.explored)


def test_seeded_determinism(held_out_split, stream):
    def run(seed, policy="thompson"):
        online = _router(held_out_split, policy=policy, seed=seed, max_regret=1.0)
        out = []
        for s in range(0, 200, 40):
            decisions = online.route(stream[s:s + 40])
            out += [(d.request_id, d.model, d.explored) for d in decisions]
            for d in decisions[::3]:
                online.feedback(request_id=d.request_id, score=1.0)
        return out

    assert run(3) == run(3)
    assert [x[1:] for x in run(3)] != [x[1:] for x in run(4)]
    assert [x[1:] for x in run(3, "ucb")] == [x[1:] for x in run(4, "ucb")]  # UCB draws nothing


def test_converged_models_are_explored_only_when_asked(held_out_split, stream):
    settled = _router(held_out_split, converged_width=10.0, max_regret=1.0)
    assert all(settled.posterior(m)["converged"] for m in settled.models)
    assert not any(d.explored for d in settled.route(stream))
    asked = _router(held_out_split, converged_width=10.0, max_regret=1.0,
                    explore_converged=True)
    assert any(d.explored for d in asked.route(stream))


def test_exploration_goes_to_the_uncertain_new_model(held_out_split, stream):
    online = _router(held_out_split, policy=ThompsonPolicy(), max_regret=1.0)
    explored = [d.model for d in online.route(stream) if d.explored]
    assert explored.count(HELD_OUT) > len(explored) / 2
    ucb = _router(held_out_split, policy=UCBPolicy(beta=3.0), max_regret=1.0)
    explored = [d.model for d in ucb.route(stream) if d.explored]
    assert explored.count(HELD_OUT) > len(explored) / 2


def test_budget_arguments_are_checked():
    with pytest.raises(ValueError, match="max_explore_share"):
        ExplorationBudget(max_explore_share=1.5)
    with pytest.raises(ValueError, match="max_regret"):
        ExplorationBudget(max_regret=-1)
    with pytest.raises(TypeError, match="max_regret_usd"):
        ExplorationBudget(max_regret_usd="1")
    with pytest.raises(ValueError, match="UCB beta"):
        UCBPolicy(beta=-1)
    with pytest.raises(ValueError, match="directed stop"):
        DirectedPolicy(stop=1.5)


def test_only_models_added_live_are_explored_unless_asked(held_out_split, stream):
    """Trained models are not explored by default even when unconverged (a width cap of 0
    leaves every model unconverged); ``explore_trained`` lets the policy try them."""
    online = _router(held_out_split, converged_width=0.0, max_regret=1.0,
                     max_explore_share=1.0)
    explored = [d.model for d in online.route(stream) if d.explored]
    assert explored and set(explored) == {HELD_OUT}
    trained = _router(held_out_split, policy="thompson", converged_width=0.0, max_regret=1.0,
                      max_explore_share=1.0, explore_trained=True)
    assert {d.model for d in trained.route(stream) if d.explored} - {HELD_OUT}


@pytest.mark.parametrize("policy", ["thompson", "directed"])
def test_an_exploring_pick_is_a_model_the_policy_may_explore(held_out_split, stream, policy):
    """Where the new model is the greedy pick and its draw falls below the runner-up, the
    runner-up's pick is not an exploration: it is a trained model, which is not explored."""
    online = _router(held_out_split, policy=policy, max_explore_share=1.0, max_regret=1.0)
    for text in stream[200:230]:
        online.feedback(text=text, model=HELD_OUT, score=1.0)
    texts = stream[:200]
    new = online.models.index(HELD_OUT)
    assert (online.predict(texts).argmax(axis=1) == new).sum() >= 10
    assert {d.model for d in online.route(texts) if d.explored} <= {HELD_OUT}


def _explored_with_feedback(held_out_split, stream, policy, score):
    """Two models added live; every exploring pick gets feedback ``score``. Returns the
    models of the exploring picks and the router."""
    online = _router(held_out_split, policy=policy, max_explore_share=1.0, max_regret=1.0)
    online.add_model("newcomer")
    explored = []
    for text in stream:
        d = online.route([text])[0]
        if d.explored:
            explored.append(d.model)
            online.feedback(request_id=d.request_id, score=score)
    return explored, online


def test_directed_explores_one_new_model_at_a_time(held_out_split, stream):
    """Whatever the feedback so far, the directed policy's proposals differ from the posterior
    means in one column at most, the focus: the new model with the most records among those
    not stopped. Thompson sampling's differ in every explorable column."""
    directed, online = _explored_with_feedback(held_out_split, stream[:200], "directed", 1.0)
    assert {HELD_OUT, "newcomer"} & set(directed)
    state, names = online._state, online.models
    columns = [state.columns[m] for m in names]
    explorable = np.array([m in (HELD_OUT, "newcomer") for m in names])
    assert columns[names.index(HELD_OUT)].n != columns[names.index("newcomer")].n
    z, offset = state.features(state.text_rows(stream[200:]))
    means = state.scores(z @ np.array([c.mean for c in columns]).T + offset[:, None])
    rng = np.random.default_rng(0)
    policies = {"directed": online.policy, "thompson": ThompsonPolicy()}
    moved = {}
    for name, policy in policies.items():
        proposal = policy.propose(columns, z, offset, rng, state.scores, means=means,
                                  explorable=explorable, reference=online._reference())
        moved[name] = set(np.flatnonzero((proposal != means).any(axis=0)))
    focus = online.policy.focus(columns, explorable, online._reference())
    assert focus is not None and moved["directed"] == {focus}
    potential = online.policy.potentials(columns, explorable, online._reference())
    open_ = [j for j in np.flatnonzero(explorable) if potential[j] >= online.policy.stop]
    assert columns[focus].n == max(columns[j].n for j in open_)
    assert moved["thompson"] == set(np.flatnonzero(explorable))


def test_directed_stops_exploring_a_model_unlikely_to_change_the_decision(held_out_split,
                                                                          stream):
    """Every try fails: after a try or two a model's chance of beating the greedy pick on
    recent prompts is below ``stop`` and it is not tried again while it stays there."""
    explored, online = _explored_with_feedback(held_out_split, stream, "directed", 0.0)
    assert set(explored) == {HELD_OUT, "newcomer"}
    assert all(explored.count(m) <= 3 for m in set(explored))
    state = online._state
    columns = [state.columns[m] for m in online.models]
    explorable = np.array([m in (HELD_OUT, "newcomer") for m in online.models])
    potential = online.policy.potentials(columns, explorable, online._reference())
    assert potential[explorable].max() < online.policy.stop
    assert not potential[~explorable].any()
    assert online.policy.focus(columns, explorable, online._reference()) is None
    assert not any(d.explored for d in online.route(stream[:100]))


def test_directed_tries_the_focus_only_where_it_could_beat_the_greedy_pick(held_out_split,
                                                                            stream):
    """The focus is proposed at its upper bound: an exploring pick happens only on a prompt
    where that bound beats the greedy pick, and a larger beta explores at least as often."""
    greedy = _router(held_out_split, policy="greedy").route(stream)
    counts = []
    for beta in (0.5, 3.0):
        policy = DirectedPolicy(beta=beta, stop=0.0)
        online = _router(held_out_split, policy=policy, max_explore_share=1.0, max_regret=1.0)
        decisions = online.route(stream)  # one batch: no feedback, the focus is fixed
        assert {d.model for d in decisions if d.explored} <= {HELD_OUT}
        for g, d in zip(greedy, decisions):
            assert d.model == (HELD_OUT if d.explored else g.model)
        counts.append(sum(d.explored for d in decisions))
    assert 0 < counts[0] < counts[1]


@pytest.mark.parametrize("records", [1, 4])
def test_record_value_is_the_expected_gain_of_the_updated_decisions(records):
    """Identity link: ``records`` records at a prompt, drawn from the predictive and added by
    the real rank-one update, change the recent decisions against a rival by what
    ``record_value`` says (Monte Carlo, 4,000 draws, within 5%)."""
    rng = np.random.default_rng(3)
    k = 4
    a = rng.standard_normal((k, k))
    column = ColumnPosterior(rng.standard_normal(k) * 0.3, a @ a.T + np.eye(k), link="identity",
                             noise_var=0.5)
    z, offset = np.r_[rng.standard_normal(k - 1), 1.0][None], np.array([0.2])
    z_ref = np.column_stack([rng.standard_normal((30, k - 1)), np.ones(30)])
    offset_ref = rng.standard_normal(30) * 0.1
    rival = z_ref @ column.mean + rng.standard_normal(30) * 0.3
    value = record_value(column, z, offset, (z_ref, offset_ref), rival, (records,))[0, 0]
    before = np.maximum(z_ref @ column.mean, rival)
    gains = []
    for _ in range(4000):
        drawn = ColumnPosterior(column.mean, column.precision, link="identity",
                                noise_var=column.noise_var)
        x = column.mean + psd_cholesky(column.cov) @ rng.standard_normal(k)  # a true column
        for y in z[0] @ x + offset[0] + rng.standard_normal(records) * np.sqrt(column.noise_var):
            drawn.update(z[0], offset[0], y)
        gains.append(np.mean(np.maximum(z_ref @ drawn.mean, rival) - before))
    assert value > 0
    assert np.mean(gains) / records == pytest.approx(value, rel=0.05)


def test_directed_horizon_bounds_exploration(held_out_split, stream):
    """No horizon, no exploring pick; a longer one explores at least as much as a shorter and
    None (the test off) the most; ``"past"`` is as many requests as routed so far, these
    included: on a fresh router routing 400 prompts at once, the decisions of horizon 400."""
    picks = {}
    for horizon in (0.0, 3.0, 10.0, 400.0, None, "past"):
        policy = DirectedPolicy(stop=0.0, horizon=horizon)
        online = _router(held_out_split, policy=policy, max_explore_share=1.0, max_regret=1.0)
        picks[horizon] = [(d.model, d.explored) for d in online.route(stream)]  # one batch
    counts = {h: sum(e for _, e in p) for h, p in picks.items()}
    assert counts[0.0] == counts[3.0] == 0
    assert 0 < counts[10.0] < counts[400.0] <= counts[None]
    assert picks["past"] == picks[400.0] and len(stream) == 400
    with pytest.raises(TypeError, match="directed horizon"):
        DirectedPolicy(horizon="soon")
    with pytest.raises(ValueError, match="directed horizon"):
        DirectedPolicy(horizon=-1)
