"""add_model / retire_model: a model joins at the population prior cold start uses, learns from
feedback until it converges, and a retired model is gone from routing at once."""
import numpy as np
import pytest

from online_helpers import HELD_OUT
from routerrec.coldstart.design import Design
from routerrec.online import OnlineRouter


def _held_out_cells(held):
    """(text, score) of the held-out model's recorded cells."""
    text = dict(zip(held.texts["prompt"].to_list(), held.texts["text"].to_list()))
    return [(text[p], s) for p, s in zip(held.table["prompt"].to_list(),
                                          held.table["score"].to_list())]


def test_a_new_model_starts_at_the_cold_start_prior(held_out_split):
    kept, router, _ = held_out_split
    online = OnlineRouter(router, records=kept, policy="greedy", new_prior_scale=1.0)
    online.add_model(HELD_OUT, cost_per_call=0.002)
    assert online.models[-1] == HELD_OUT
    column = online._state.columns[HELD_OUT]
    design = Design(router.completion_)
    np.testing.assert_allclose(column.mean, design.prior_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(column.precision, design.prior_precision, rtol=1e-5)
    post = online.posterior(HELD_OUT)
    assert post["n_feedback"] == 0 and not post["converged"]
    assert post["width"] > 5 * online.posterior(online.models[0])["width"]
    decision = online.route(["any prompt"], models=[HELD_OUT])[0]
    assert decision.model == HELD_OUT and decision.cost == pytest.approx(0.002)
    with pytest.raises(ValueError, match="already live"):
        online.add_model(HELD_OUT)
    with pytest.raises(ValueError):
        online.add_model("")


def test_new_prior_scale_widens_a_new_models_prior_and_feedback_moves_it_further(
        held_out_split):
    """A scale s (the default 2) is cold start's prior with its covariance times s: the same
    mean, the precision over s; at 4 the same records move the column further than at 1."""
    kept, router, _ = held_out_split
    cells = _held_out_cells(held_out_split[2])[:40]
    design = Design(router.completion_)
    moved = {}
    for scale in (1.0, 4.0):
        online = OnlineRouter(router, records=kept, policy="greedy", new_prior_scale=scale)
        online.add_model(HELD_OUT)
        column = online._state.columns[HELD_OUT]
        np.testing.assert_allclose(column.mean, design.prior_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(column.precision * scale, design.prior_precision, rtol=1e-5)
        for text, score in cells:
            online.feedback(text=text, model=HELD_OUT, score=score)
        moved[scale] = np.linalg.norm(column.mean - column.prior_mean)
    assert OnlineRouter(router, records=kept).new_prior_scale == 2.0
    assert moved[4.0] > 1.5 * moved[1.0] > 0
    with pytest.raises(ValueError, match="new_prior_scale"):
        OnlineRouter(router, records=kept, new_prior_scale=0.5)


def test_feedback_teaches_a_new_model_its_accuracy(held_out_split, sample_split):
    kept, router, held = held_out_split
    cells = _held_out_cells(held)
    unseen = _held_out_cells(sample_split[1].filter(models=[HELD_OUT]))  # held-out prompts
    truth = float(np.mean([s for _, s in unseen]))
    online = OnlineRouter(router, records=kept, policy="greedy", converged_width=0.1)
    online.add_model(HELD_OUT)

    def error():
        decisions = online.route([t for t, _ in unseen], models=[HELD_OUT])
        return abs(np.mean([d.score for d in decisions]) - truth)

    prior_error = error()
    widths = []
    for k, (text, score) in enumerate(cells[:400]):
        online.feedback(text=text, model=HELD_OUT, score=score)
        if k in (9, 99, 399):
            widths.append(online.posterior(HELD_OUT)["width"])
    post = online.posterior(HELD_OUT)
    assert widths[0] > widths[1] > widths[2] and post["converged"]
    assert error() < min(0.05, prior_error / 2)


def test_retired_model_is_gone_at_once(als_router, sample_split):
    train, test = sample_split
    texts = test.text_of(test.prompts[:50])
    online = OnlineRouter(als_router, records=train, policy="greedy")
    decisions = online.route(texts)
    favourite = max(set(d.model for d in decisions), key=[d.model for d in decisions].count)
    online.retire_model(favourite)
    assert favourite not in online.models and len(online.models) == len(train.models) - 1
    assert favourite not in {d.model for d in online.route(texts)}
    # feedback still owed on a decision for the retired model is accepted and ignored
    pending = next(d for d in decisions if d.model == favourite)
    online.feedback(request_id=pending.request_id, score=1.0)
    for call in (lambda: online.posterior(favourite), lambda: online.retire_model(favourite),
                 lambda: online.route(texts, models=[favourite]),
                 lambda: online.feedback(text=texts[0], model=favourite, score=1.0)):
        with pytest.raises(KeyError, match="unknown model"):
            call()
    online.add_model(favourite)  # it may come back, as a new model at the prior
    assert online.posterior(favourite)["n_feedback"] == 0


def test_row_noise_is_the_rows_variance_through_each_column(held_out_split):
    """Each column's ``row_var`` is ``v' S v``: ``S`` the prompt row's prior covariance, ``v =
    [q, 1]`` at the column's prior mean; without ``row_noise`` it is 0."""
    kept, router, _ = held_out_split
    online = OnlineRouter(router, records=kept)
    online.add_model(HELD_OUT)
    cov = np.linalg.inv(online._state.prompt_precision)
    for name in (online.models[0], HELD_OUT):
        column = online._state.columns[name]
        v = np.append(column.prior_mean[:-1], 1.0)
        assert column.row_var == pytest.approx(v @ cov @ v, rel=1e-9) and column.row_var > 0
    exact = OnlineRouter(router, records=kept, row_noise=False)
    exact.add_model(HELD_OUT)
    assert all(c.row_var == 0 for c in exact._state.columns.values())
