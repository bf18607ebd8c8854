"""Prompt groups (routing/groups.py) and the routers that pick per group (task-best,
cluster-best), on planted topic records: three topics named by their words, one specialist
model per topic, so the right group and the right model are known."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from planted import topic_records

from routerrec.data.records import Records
from routerrec.routing.base import true_matrices
from routerrec.routing.groups import PromptGroups, choose_k, group_means
from routerrec.routing.registry import load_router, make_router

SPECIALIST = {"math": "mathy", "code": "coder", "trivia": "quizzer"}
ENC = dict(encoder_params=dict(dim=16))


def unlabeled(records):
    """The same records with no task labels (a new prompt has only its text)."""
    return Records(records.table.drop("benchmark"), records.texts)


def relabeled(records, label):
    return Records(records.table.with_columns(benchmark=pl.lit(label)), records.texts)


@pytest.fixture(scope="module")
def data():
    return topic_records(240, seed=0), topic_records(90, seed=1, prefix="q")


def test_group_means_by_hand():
    scores = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0]], dtype=float)
    mask = np.array([[1, 1], [1, 1], [1, 1], [1, 0], [1, 1]], dtype=bool)
    overall = np.array([0.4, 0.5])
    means = group_means(scores, mask, np.array([0, 0, 1, 1, 2]), 3, overall=overall, min_prompts=2)
    np.testing.assert_allclose(means[0], [1, 0])
    np.testing.assert_allclose(means[1], [0, 0.5])  # model 1 seen once (< 2): its overall mean
    np.testing.assert_allclose(means[2], overall)  # one prompt < min_prompts: best-single's row
    means = group_means(scores, np.array([[1, 0]] * 5, bool), np.zeros(5, int), 1,
                        overall=overall, min_prompts=1)
    np.testing.assert_allclose(means[0], [0.4, 0.5])  # model 1 never seen: its overall mean


def test_tasks_come_from_labels_and_the_classifier_learns_them(data):
    train, test = data
    groups = PromptGroups(by="auto", **ENC).fit(train)
    assert groups.by_ == "task" and groups.names == ["code", "math", "trivia"]
    np.testing.assert_array_equal(groups.training_groups_, groups.assign(train))
    assert groups.classifier_accuracy > 0.95  # topic words are distinct
    labels = [groups.names.index(test.prompt_benchmark[p]) for p in test.prompts]
    assert groups.assign(test).tolist() == labels
    by_text = groups.assign(unlabeled(test))  # no labels: the classifier's tasks
    assert np.mean(by_text == labels) > 0.95
    np.testing.assert_array_equal(groups.assign_texts(test.text_of(test.prompts)), by_text)
    assert set(groups.assign(relabeled(test, "unseen-task")).tolist()) == {-1}


def test_clusters_find_the_topics_when_there_are_no_labels(data):
    train, test = data
    groups = PromptGroups(by="auto", **ENC).fit(unlabeled(train))
    assert groups.by_ == "cluster" and groups.classifier_accuracy is None
    np.testing.assert_array_equal(groups.training_groups_, groups.assign(unlabeled(train)))
    assert set(groups.k_scores_) >= {"1", "2", "4"} and groups.k_scores_["1"] < max(groups.k_scores_.values())
    found = groups.assign(test)
    topics = [test.prompt_benchmark[p] for p in test.prompts]
    # purity: most prompts of each cluster share a topic
    pure = sum(max(np.sum((found == c) & (np.array(topics) == t)) for t in SPECIALIST)
               for c in set(found.tolist()))
    assert pure / len(found) > 0.9


def test_choose_k_never_beats_less_than_one_cluster_on_its_evidence():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    scores = (rng.random((200, 3)) < [0.3, 0.6, 0.5]).astype(float)  # no structure in x
    k, tried, _ = choose_k(x, scores, np.ones_like(scores, bool))
    assert tried[k] == max(tried.values()) and sorted(tried) == [1, 2, 4, 8]


def test_choose_k_judges_held_out_prompts_among_their_observed_models():
    """Sparse records (openllm-v1: a quarter of the cells missing): a model seen on five
    prompts, all right, must neither win a cluster nor be scored where it was never run."""
    rng = np.random.default_rng(1)
    side = np.repeat([0, 1], 100)
    x = np.column_stack([side + rng.normal(0, 0.05, 200), rng.normal(0, 0.05, 200)])
    scores = np.column_stack([side == 0, side == 1, np.ones(200)]).astype(float)
    mask = np.ones_like(scores, bool)
    mask[5:, 2] = False  # the lucky model ran on five prompts only
    k, tried, _ = choose_k(x, scores, mask)
    assert k == 2 and tried[2] == pytest.approx(1.0) and tried[1] < 0.6


def test_groups_save_without_pickle_and_load_the_same(data):
    train, test = data
    for records in (train, unlabeled(train)):
        groups = PromptGroups(**ENC).fit(records)
        extra, arrays = groups.state()
        assert all(a.dtype.kind in "fiu" for a in arrays.values())
        again = PromptGroups.from_state(extra, arrays)
        assert again.names == groups.names and again.summary() == groups.summary()
        np.testing.assert_array_equal(again.assign(unlabeled(test)), groups.assign(unlabeled(test)))


def test_task_needs_labels_and_groups_need_texts(data):
    train, _ = data
    with pytest.raises(ValueError, match="grouping by task needs task labels.*cluster-best"):
        make_router("task-best").fit(unlabeled(train))
    with pytest.raises(ValueError, match=r"prompt\(s\) have no text"):
        PromptGroups(by="cluster").fit(Records(train.table))
    with pytest.raises(ValueError, match="by must be one of"):
        PromptGroups(by="topic")


def test_task_best_picks_each_tasks_specialist(data, tmp_path):
    train, test = data
    router = make_router("task-best", **ENC).fit(train)
    assert router.summary()["group_best"] == SPECIALIST
    assert router.summary()["classifier_accuracy"] > 0.95
    want = [SPECIALIST[test.prompt_benchmark[p]] for p in test.prompts]
    assert router.route_records(test) == want
    assert np.mean(np.array(router.route(test.text_of(test.prompts))) == want) > 0.95
    best = make_router("best-single").fit(train).route_records(test)
    assert router.route_records(relabeled(test, "unseen-task")) == best  # a new task
    # a task with too few training prompts gets best-single's model
    few = make_router("task-best", min_prompts=81, **ENC).fit(train)
    assert few.route_records(test) == best
    router.save(tmp_path / "r")
    assert load_router(tmp_path / "r").route(test.text_of(test.prompts)) == router.route(
        test.text_of(test.prompts))


def test_task_best_trades_score_for_cost_at_a_willingness_to_pay(data):
    train, test = data
    router = make_router("task-best", **ENC).fit(train)
    assert set(router.route_records(test, wtp=1e-12)) == {"cheap"}
    assert router.route_records(test, wtp=1e3) == router.route_records(test)


def test_cluster_best_beats_best_single_without_labels(data):
    train, test = data
    truth = true_matrices(test)[0]
    cluster = make_router("cluster-best", **ENC).fit(unlabeled(train))
    best = make_router("best-single").fit(train)

    def mean_true(picks):
        cols = [test.models.index(p) for p in picks]
        return np.nanmean(truth[np.arange(len(cols)), cols])

    assert mean_true(cluster.route_records(unlabeled(test))) > mean_true(
        best.route_records(test)) + 0.2
    # on a truth matrix: the rows' training means (predict_records) as train_means
    means = cluster.predict_records(test, models=test.models)
    assert cluster.expected_score(np.nan_to_num(truth), train_means=means) == pytest.approx(
        np.mean(np.nan_to_num(truth)[np.arange(len(truth)), means.argmax(axis=1)]))


def test_explain_names_the_group_and_why(data):
    train, test = data
    router = make_router("task-best", **ENC).fit(train)
    texts = test.text_of(test.prompts)[:3]
    for why, model in zip(router.explain(texts), router.route(texts)):
        assert why.startswith("task '") and "(classified from the text)" in why
        assert f": {model}, its best model on 80 training prompts" in why
    few = make_router("task-best", min_prompts=81, **ENC).fit(train)
    assert "only 80 training prompts (< 81), so best-single" in few.explain(texts)[0]


def test_text_routers_are_what_fit_router_offers():
    from routerrec.routing.registry import learned_routers, text_routers

    assert set(text_routers()) == set(learned_routers()) | {"task-best", "cluster-best"}
