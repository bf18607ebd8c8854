"""lightfm and implicit wrapped as routerrec methods, and feedback kinds never mixed."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

import routerrec
from routerrec.methods import als as als_method, lightfm as lightfm_method
from routerrec.evaluation.metrics import heldout_report

from commands import run_many
from planted import planted_records



def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------ lightfm


@pytest.mark.parametrize("with_features", [False, True])
def test_lightfm_export_predicts_what_lightfm_predicts(with_features):
    from lightfm import LightFM

    records, _ = planted_records(n_prompts=200, n_models=20, binary=True, seed=1)
    n_p = records.n_prompts
    feats = sp.random(n_p, 15, density=0.2, random_state=0, format="csr") if with_features else None
    model = routerrec.fit(records, method="lightfm", rank=6, iterations=3, seed=3,
                          prompt_features=feats)
    # the same fit by hand with LightFM itself (deterministic with one thread)
    labels, weights = lightfm_method.weighted_cells(records.matrix().scores)
    user_features = (None if feats is None else
                     sp.hstack([sp.identity(n_p, format="csr"), feats], format="csr").astype(np.float32))
    lfm = LightFM(no_components=6, loss="logistic", learning_rate=0.05, user_alpha=1e-6,
                  item_alpha=1e-6, random_state=np.random.RandomState(3))
    for _ in range(3):
        lfm.fit_partial(labels, user_features=user_features, sample_weight=weights, epochs=1)
    u, i = np.meshgrid(np.arange(n_p), np.arange(20), indexing="ij")
    theirs = lfm.predict(u.ravel().astype(np.int32), i.ravel().astype(np.int32),
                         user_features=user_features).reshape(n_p, 20)
    np.testing.assert_allclose(model.predict(), _sigmoid(theirs), atol=1e-5)
    assert model.link == "logistic"


def test_lightfm_graded_scores_become_two_weighted_cells():
    scores = sp.csr_matrix(np.array([[1.0, 0.25], [0.0, 0.0]], np.float32))
    scores.eliminate_zeros()
    scores = sp.csr_matrix((np.array([1.0, 0.25, 0.0], np.float32), np.array([0, 1, 0]),
                            np.array([0, 2, 3])), shape=(2, 2))
    labels, weights = lightfm_method.weighted_cells(scores)
    cells = sorted(zip(labels.row, labels.col, labels.data, weights.data))
    assert cells == [(0, 0, 1.0, 1.0), (0, 1, -1.0, 0.75), (0, 1, 1.0, 0.25), (1, 0, -1.0, 1.0)]


def test_lightfm_learns_refuses_fold_in_and_round_trips(tmp_path):
    records, _ = planted_records(n_prompts=400, n_models=30, binary=True, model_shared=0.3, seed=2)
    train, test = records.split_cells(0.1, seed=0)
    model = routerrec.fit(train, method="lightfm", rank=8, iterations=30)
    report = heldout_report(model, train, test)
    assert report["lightfm"]["auc"] > report["model-mean"]["auc"]
    again = routerrec.fit(train, method="lightfm", rank=8, iterations=30)
    np.testing.assert_array_equal(model.predict(), again.predict())  # num_threads=1: deterministic
    with pytest.raises(NotImplementedError, match="fit_partial cannot grow"):
        model.add_model("new", {model.prompts[0]: 1.0})
    model.save(tmp_path / "m")
    loaded = routerrec.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(), model.predict())
    with pytest.raises(NotImplementedError, match="method='logistic'"):
        loaded.add_prompt("new", {model.models[0]: 1.0})
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        routerrec.fit(routerrec.records_from_frame(pl.DataFrame(
            {"prompt": ["a", "b"], "model": ["x", "x"], "score": [2.0, 0.0]})), method="lightfm")


def test_lightfm_text_features_need_texts():
    records, _ = planted_records(n_prompts=50, n_models=5, binary=True)
    with pytest.raises(ValueError, match="needs prompt texts"):
        routerrec.fit(records, method="lightfm", prompt_features="text", iterations=1)
    texts = {p: ("math sum" if i % 2 else "poem rhyme") for i, p in enumerate(records.prompts)}
    model = routerrec.fit(records.with_texts(texts), method="lightfm", rank=4, iterations=2,
                          prompt_features="text")
    assert model.params["prompt_features"] == "text"


# ------------------------------------------------------------------ implicit feedback


def _kept_log(n_users=300, n_models=25, seed=0):
    """Each user kept the models whose planted affinity is highest (implicit feedback)."""
    rng = np.random.default_rng(seed)
    affinity = rng.normal(size=(n_users, 3)) @ rng.normal(size=(3, n_models))
    rows, cols = np.nonzero(affinity > np.quantile(affinity, 0.8, axis=1, keepdims=True))
    frame = pl.DataFrame({"prompt": [f"u{r:04d}" for r in rows],
                          "model": [f"m{c:02d}" for c in cols], "score": np.ones(len(rows))})
    return routerrec.records_from_frame(frame).with_feedback("implicit"), affinity


def test_implicit_method_ranks_kept_models_and_folds_in_like_implicit():
    from implicit.cpu.als import AlternatingLeastSquares

    records, affinity = _kept_log()
    model = routerrec.fit(records, method="implicit", rank=4, iterations=10, num_threads=1)
    assert model.link == "preference"
    pred = model.predict()
    affinity = affinity[:, [int(m[1:]) for m in records.models]]  # models nobody kept are absent
    # the planted ranking is recovered: per user, rank correlation with the true affinity
    corr = np.mean([np.corrcoef(np.argsort(np.argsort(pred[u])),
                                np.argsort(np.argsort(affinity[u])))[0, 1] for u in range(50)])
    assert corr > 0.6
    # fold-in of a new model is implicit's own recalculate_item on the same factors
    kept = {records.prompts[u]: 1.0 for u in range(0, 300, 3)}
    folded = model.add_model("new", kept)
    ref = AlternatingLeastSquares(factors=4, regularization=model.params["reg"])
    ref.user_factors, ref.item_factors = model.prompt_factors, model.model_factors
    items = sp.csr_matrix((np.ones(len(kept), np.float32),
                           ([0] * len(kept), [records.prompts.index(p) for p in kept])),
                          shape=(1, len(records.prompts)))
    np.testing.assert_allclose(folded.model_factors[-1], np.ravel(ref.recalculate_item(0, items)),
                               rtol=1e-3, atol=1e-4)


def test_feedback_kinds_are_never_mixed():
    explicit, _ = planted_records(n_prompts=50, n_models=5, binary=True)
    with pytest.raises(ValueError, match="turn every missing cell into a target of 0"):
        routerrec.fit(explicit, method="implicit")
    implicit_records, _ = _kept_log(n_users=40, n_models=6)
    for method in ("als", "mean", "lightfm"):
        with pytest.raises(ValueError, match="implicit feedback"):
            routerrec.fit(implicit_records, method=method)
    with pytest.raises(ValueError, match="implicit feedback"):  # a module's own fit checks too
        als_method.fit(implicit_records)
    zeros = routerrec.records_from_frame(pl.DataFrame(
        {"prompt": ["a", "b"], "model": ["x", "x"], "score": [1.0, 0.0]})).with_feedback("implicit")
    with pytest.raises(ValueError, match="drops a stored 0"):
        routerrec.fit(zeros, method="implicit")
    # the flag survives splits, so a held-out part cannot slip into an explicit method
    train, _ = implicit_records.split_prompts(0.2, seed=0)
    assert train.feedback == "implicit"


def test_cli_feedback_option(tmp_path):
    records, _ = _kept_log(n_users=60, n_models=8)
    path = tmp_path / "kept.csv"
    records.table.select("prompt", "model", "score").write_csv(path)
    ok, no_feedback, not_implicit = run_many(  # independent: run at once
        ("fit", "--data", path, "--feedback", "implicit", "--method", "implicit", "--rank", "3",
         "--out", tmp_path / "m", "--json"),
        ("fit", "--data", path, "--method", "implicit", "--out", tmp_path / "m2"),
        ("fit", "--data", path, "--feedback", "implicit", "--method", "als", "--out",
         tmp_path / "m3"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["method"] == "implicit"
    assert no_feedback.returncode != 0 and "--feedback implicit" in no_feedback.stderr
    assert not_implicit.returncode != 0 and "implicit feedback" in not_implicit.stderr


def test_saved_peer_models_load_and_fold_in_from_a_fresh_process(tmp_path):
    """Method modules load lazily: a fresh process must still know every kind and link."""
    records, _ = planted_records(n_prompts=120, n_models=12, binary=True, seed=3)
    routerrec.fit(records, method="lightfm", rank=4, iterations=5).save(tmp_path / "lightfm")
    kept, _ = _kept_log(n_users=60)
    implicit_model = routerrec.fit(kept, method="implicit", rank=4, iterations=5, num_threads=1)
    implicit_model.save(tmp_path / "implicit")
    probe = {p: 1.0 for p in kept.prompts[:10]}
    script = (
        "import json, sys, numpy as np, routerrec\n"
        "d = sys.argv[1]\n"
        "light = routerrec.load_model(d + '/lightfm')\n"
        "imp = routerrec.load_model(d + '/implicit')\n"
        f"new = imp.add_model('new', {probe!r})\n"
        "np.save(d + '/light.npy', light.predict())\n"
        "np.save(d + '/new.npy', new.predict(models=['new']))\n")
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    light = routerrec.load_model(tmp_path / "lightfm")
    np.testing.assert_array_equal(np.load(tmp_path / "light.npy"), light.predict())
    np.testing.assert_array_equal(np.load(tmp_path / "new.npy"),
                                  implicit_model.add_model("new", probe).predict(models=["new"]))
