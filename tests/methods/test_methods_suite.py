"""THE shared behavioural suite: every method in ``routerrec.METHODS`` must pass it.

The tests are parametrised over ``sorted(routerrec.METHODS)``, so a new method is enrolled
the moment it is registered, and fails ``test_method_is_enrolled`` until it has a row in
``FAST_PARAMS`` (small, quick settings) and ``CAPABILITIES`` (what it promises). The
pattern is implicit's shared test mixin: one contract, checked on a planted matrix with a
known right answer.
"""
from __future__ import annotations

import numba
import numpy as np
import polars as pl
import pytest
from planted import planted_frame, planted_records

import routerrec
from routerrec import records_from_frame
from routerrec.evaluation.metrics import heldout_report

# method -> quick parameters for the small planted matrices below
FAST_PARAMS: dict[str, dict] = {
    "als": dict(rank=3, reg=0.02, iterations=10),
    "knn": dict(k=20, shrink=20.0),
    "lightfm": dict(rank=3, iterations=20),
    "logistic": dict(rank=3, reg=0.03, iterations=10),
    "mean": dict(kind="model"),
    "sgd": dict(rank=3, iterations=40, lr=0.02),
}

# method -> what it promises. Keys:
#   data        planted set it is judged on: "graded" (scores ~ 0.5 + low rank + noise) or
#               "binary" (Bernoulli draws of a logistic low-rank model)
#   recovery    RMSE of its predictions against the planted noiseless truth, over every
#               cell, must be <= recovery x that of the per-model mean
#   fold_in     "row": add_model / add_prompt solve a new row and leave every other
#               prediction unchanged; "neighbour": the new model also becomes a neighbour of
#               the others (their predictions may change); False: they refuse, clearly
#   fold_gain   with fold_in, the folded-in model's RMSE on unseen cells must be <= fold_gain
#               x that of predicting its probes' mean (1.0 = no worse than the mean)
#   threads     predictions do not depend on the numba thread count
#   bad_params  parameter sets that must raise ValueError
CAPABILITIES: dict[str, dict] = {
    "als": dict(data="graded", recovery=0.25, fold_in="row", fold_gain=0.6, threads=True,
                bad_params=[dict(rank=0), dict(reg=-1.0), dict(iterations=0)]),
    "knn": dict(data="graded", recovery=0.65, fold_in="neighbour", fold_gain=0.8, threads=True,
                bad_params=[dict(k=0), dict(shrink=-1.0), dict(kind="user")]),
    "lightfm": dict(data="binary", recovery=0.8, fold_in=False, fold_gain=None, threads=True,
                    bad_params=[dict(rank=0), dict(reg=-1.0), dict(learning_rate=0.0)]),
    "logistic": dict(data="binary", recovery=0.65, fold_in="row", fold_gain=0.95, threads=True,
                     bad_params=[dict(rank=0), dict(reg=0.0), dict(steps=0)]),
    "mean": dict(data="graded", recovery=1.0 + 1e-6, fold_in="row", fold_gain=1.0 + 1e-6,
                 threads=True, bad_params=[dict(kind="median")]),
    "sgd": dict(data="graded", recovery=0.3, fold_in="row", fold_gain=0.6, threads=True,
                bad_params=[dict(rank=0), dict(lr=1.5), dict(reg=-0.1)]),
}

# implicit-feedback methods read choice logs, not scores: their own contract (planted ranking,
# implicit's own fold-in) is in tests/methods/test_peer_methods.py
METHOD_NAMES = sorted(m for m, spec in routerrec.METHODS.items() if spec.feedback == "explicit")


@pytest.fixture(scope="module")
def planted_truth():
    """Planted record sets and their noiseless truth (prompt pNNNNN is row NNNNN, model mNNN
    column NNN)."""
    return {
        "graded": planted_records(n_prompts=400, n_models=30, rank=3, density=0.7, noise=0.1,
                                  seed=11),
        "binary": planted_records(n_prompts=600, n_models=60, rank=3, density=0.9,
                                  binary=True, model_shared=0.45, seed=12),
    }


@pytest.fixture(scope="module")
def planted(planted_truth):
    return {kind: records for kind, (records, _) in planted_truth.items()}


def _fit(name, records, **extra):
    return routerrec.fit(records, method=name, **{**FAST_PARAMS[name], **extra})


def _records_for(name, planted):
    return planted[CAPABILITIES[name]["data"]]


def test_method_is_enrolled():
    missing = [m for m in METHOD_NAMES if m not in FAST_PARAMS or m not in CAPABILITIES]
    assert not missing, f"add {missing} to FAST_PARAMS and CAPABILITIES in this file"


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_recovers_planted_structure(name, planted_truth):
    records, truth = planted_truth[CAPABILITIES[name]["data"]]

    def error(model):
        rows = np.array([int(p[1:]) for p in model.prompts])
        cols = np.array([int(m[1:]) for m in model.models])
        return np.sqrt(np.mean((model.predict() - truth[np.ix_(rows, cols)]) ** 2))

    ratio = error(_fit(name, records)) / error(routerrec.fit(records, method="mean",
                                                            kind="model"))
    assert ratio <= CAPABILITIES[name]["recovery"], ratio


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_fold_in_of_a_removed_model(name, planted):
    """A model left out of training is added back from half of its answers; its other half
    is then predicted better than by the mean of its probes (or the method refuses)."""
    records = _records_for(name, planted)
    target = records.models[0]
    model = _fit(name, records.filter(models=records.models[1:]))
    mine = records.table.filter(pl.col("model") == target)
    probe, rest = mine[: mine.height // 2], mine[mine.height // 2:]
    results = dict(zip(probe["prompt"].to_list(), probe["score"].to_list()))
    if not CAPABILITIES[name]["fold_in"]:
        with pytest.raises((NotImplementedError, ValueError)):
            model.add_model(target, results)
        return
    added = model.add_model(target, results)
    assert added.models == model.models + [target] and added.prompts == model.prompts
    if CAPABILITIES[name]["fold_in"] == "row":
        np.testing.assert_allclose(added.predict(models=model.models), model.predict(),
                                   atol=1e-6)
    pred = added.predict(rest["prompt"].to_list(), [target])[:, 0]
    truth = rest["score"].to_numpy()
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    baseline = np.sqrt(np.mean((probe["score"].mean() - truth) ** 2))
    assert rmse <= CAPABILITIES[name]["fold_gain"] * baseline, (rmse, baseline)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_add_prompt(name, planted):
    records = _records_for(name, planted)
    target = records.prompts[0]
    model = _fit(name, records.filter(prompts=records.prompts[1:]))
    mine = records.table.filter(pl.col("prompt") == target)
    results = dict(zip(mine["model"].to_list(), mine["score"].to_list()))
    if not CAPABILITIES[name]["fold_in"]:
        with pytest.raises((NotImplementedError, ValueError)):
            model.add_prompt(target, results)
        return
    added = model.add_prompt(target, results)
    assert added.prompts == model.prompts + [target]
    row = added.predict(prompts=[target])
    assert row.shape == (1, len(model.models)) and np.all(np.isfinite(row))
    with pytest.raises(ValueError, match="already"):
        added.add_prompt(target, results)
    with pytest.raises(KeyError, match="unknown model"):
        model.add_prompt("fresh", {"no-such-model": 1.0})
    with pytest.raises(ValueError, match="at least one"):
        model.add_prompt("fresh", {})


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_save_load_round_trip(name, planted, tmp_path):
    model = _fit(name, _records_for(name, planted))
    model.save(tmp_path / "m")
    again = routerrec.load_model(tmp_path / "m")
    assert type(again) is type(model) and again.method == model.method
    assert again.prompts == model.prompts and again.models == model.models
    assert again.params == model.params
    np.testing.assert_array_equal(again.predict(), model.predict())
    if CAPABILITIES[name]["fold_in"]:  # a loaded model folds in exactly like the fitted one
        probe = {p: 1.0 for p in model.prompts[:20]}
        np.testing.assert_array_equal(again.add_model("x", probe).predict(models=["x"]),
                                      model.add_model("x", probe).predict(models=["x"]))


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_deterministic(name, planted):
    """Same seed and data -> identical predictions; and, where claimed, on any thread count."""
    records = _records_for(name, planted)
    first = _fit(name, records).predict()
    np.testing.assert_array_equal(first, _fit(name, records).predict())
    if CAPABILITIES[name]["threads"]:
        before = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            one = _fit(name, records).predict()
        finally:
            numba.set_num_threads(before)
        np.testing.assert_array_equal(first, one)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_shapes_ids_and_orientation(name, planted):
    records = _records_for(name, planted)
    model = _fit(name, records)
    assert model.prompts == records.prompts and model.models == records.models
    full = model.predict()
    assert full.shape == (records.n_prompts, records.n_models)  # rows are prompts
    assert full.dtype == np.float32 and np.all(np.isfinite(full))
    some = model.predict(prompts=[model.prompts[5], model.prompts[2]],
                         models=[model.models[3], model.models[0]])
    np.testing.assert_allclose(some, full[np.ix_([5, 2], [3, 0])], rtol=1e-6, atol=1e-6)
    pairs = model.predict_pairs(np.array([5, 2, 7]), np.array([3, 0, 3]))
    np.testing.assert_allclose(pairs, full[[5, 2, 7], [3, 0, 3]], rtol=1e-6, atol=1e-6)
    with pytest.raises(KeyError, match="unknown model id"):
        model.predict(models=["nope"])
    with pytest.raises(KeyError, match="unknown prompt id"):
        model.predict(prompts=["nope"])
    with pytest.raises(TypeError, match="list of ids"):
        model.predict(models=model.models[0])


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_refuses_bad_input(name, planted):
    records = _records_for(name, planted)
    for bad in CAPABILITIES[name]["bad_params"]:
        with pytest.raises(ValueError):
            _fit(name, records, **bad)
    with pytest.raises(TypeError):
        _fit(name, records, no_such_parameter=1)


# ----------------------------------------------------------- method-specific promises


def test_logistic_refuses_scores_outside_unit_interval(planted):
    scaled = planted["graded"].table.with_columns(pl.col("score") * 3)
    with pytest.raises(ValueError, match=r"scores in \[0, 1\]"):
        _fit("logistic", records_from_frame(scaled.select("prompt", "model", "score")))


def test_logistic_does_not_diverge_on_perfect_and_hopeless_models():
    """Newton with step halving: a model that is always right (or always wrong) gets a large
    but finite bias, and the others are unaffected."""
    frame, _ = planted_frame(n_prompts=300, n_models=10, rank=2, binary=True, density=0.9,
                             seed=3)
    frame = frame.with_columns(
        pl.when(pl.col("model") == "m000").then(1.0)
        .when(pl.col("model") == "m001").then(0.0).otherwise(pl.col("score")).alias("score"))
    model = _fit("logistic", records_from_frame(frame), iterations=30)
    pred = model.predict()
    assert np.all(np.isfinite(model.model_factors)) and np.all(np.isfinite(model.model_bias))
    assert pred[:, 0].mean() > 0.9 and pred[:, 1].mean() < 0.1
    assert 0.2 < pred[:, 2:].mean() < 0.8


def test_logistic_graded_scores_and_fold_in_hessian(planted):
    """Graded scores are soft labels; the fold-in MAP comes with its posterior precision."""
    from routerrec.kernels.logistic import logistic_row_map
    from routerrec.methods.logistic import row_prior

    records = planted["binary"]
    model = _fit("logistic", records)
    soft = records.table.with_columns((0.2 + 0.6 * pl.col("score")).alias("score"))
    graded = _fit("logistic", records_from_frame(soft))
    hard, soft_pred = model.predict(), graded.predict()
    assert np.corrcoef(hard.ravel(), soft_pred.ravel())[0, 1] > 0.9  # same structure...
    assert soft_pred.std() < 0.8 * hard.std()  # ...less confident, as the labels are
    assert soft_pred.mean() == pytest.approx(0.2 + 0.6 * records.table["score"].mean(), abs=0.02)
    idx = np.arange(40)
    prec, shift = row_prior(model, "model")
    x, hess = logistic_row_map(model.prompt_factors, model.prompt_bias, model.global_mean,
                               idx, np.ones(40), prec, shift)
    assert hess.shape == (model.rank + 1,) * 2 and np.allclose(hess, hess.T)
    assert np.all(np.linalg.eigvalsh(hess) > 0)
    # more answers -> a tighter posterior
    _, hess_more = logistic_row_map(model.prompt_factors, model.prompt_bias, model.global_mean,
                                    np.arange(400), np.ones(400), prec, shift)
    assert np.trace(np.linalg.inv(hess_more)) < np.trace(np.linalg.inv(hess))
    # add_model is this MAP solve: same row, same prior
    added = model.add_model("all-right", {p: 1.0 for p in model.prompts[:40]})
    np.testing.assert_allclose(added.model_factors[-1], x[:-1], rtol=1e-5, atol=1e-6)
    assert added.model_bias[-1] == pytest.approx(x[-1], rel=1e-5)


def test_sgd_hogwild_mode_runs_and_learns(planted):
    train, test = planted["graded"].split_cells(0.2, seed=0)
    model = _fit("sgd", train, deterministic=False)
    report = heldout_report(model, train, test)
    assert model.params["deterministic"] is False
    assert report["sgd"]["rmse"] <= 0.5 * report["model-mean"]["rmse"]


def test_knn_prompt_kind_and_shrinkage(planted):
    train, test = planted["graded"].split_cells(0.2, seed=0)
    by_prompt = _fit("knn", train, kind="prompt")
    report = heldout_report(by_prompt, train, test)
    assert report["knn"]["rmse"] <= 0.8 * report["model-mean"]["rmse"]
    # shrinkage pulls similarities measured on few co-observed prompts toward zero
    raw, shrunk = _fit("knn", train, shrink=0.0), _fit("knn", train, shrink=1000.0)
    assert np.abs(shrunk.similarity).max() < 0.5 * np.abs(raw.similarity).max()


def test_logistic_learned_prior_protects_an_over_parameterised_fit(planted_truth):
    """Rank 8 on rank-3 data: the learned (empirical Bayes) prior prunes the directions the
    data do not support, so it recovers the truth better than ridge training alone."""
    records, truth = planted_truth["binary"]
    rows = np.array([int(p[1:]) for p in records.prompts])
    cols = np.array([int(m[1:]) for m in records.models])

    def error(**params):
        pred = _fit("logistic", records, rank=8, iterations=20, **params).predict()
        return np.sqrt(np.mean((pred - truth[np.ix_(rows, cols)]) ** 2))

    assert error() < 0.85 * error(warmup=20)


def test_logistic_kernel_matches_a_dense_newton_solve():
    """Rows short (loop Hessian), long (BLAS on gathered blocks, across block edges) and
    empty: the kernel's converged rows and Hessians match a dense float64 Newton solve."""
    from routerrec.kernels.logistic import solve_logistic_side

    rng = np.random.default_rng(0)
    k, n_other, lengths = 6, 1500, [0, 5, 32, 33, 700, 1200]
    cols = [np.sort(rng.choice(n_other, n, replace=False)) for n in lengths]
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate(cols)
    fixed = rng.normal(0, 0.5, (n_other, k)).astype(np.float32)
    fixed_bias = rng.normal(0, 1, n_other)
    data = rng.random(len(indices))  # graded soft labels
    half = rng.normal(size=(k + 1, k + 1))
    precision, shift = half @ half.T / k + 0.1 * np.eye(k + 1), rng.normal(0, 0.1, k + 1)
    x, hess = solve_logistic_side(indptr, indices, data, fixed, fixed_bias, 0.2, precision,
                                  shift, np.zeros((len(lengths), k + 1)), steps=100,
                                  hessians=True)
    y = np.hstack([fixed.astype(np.float64), np.ones((n_other, 1))])
    for u, idx in enumerate(cols):
        ref = np.zeros(k + 1)
        for _ in range(50):
            p = 1 / (1 + np.exp(-(0.2 + fixed_bias[idx] + y[idx] @ ref)))
            h = y[idx].T @ (y[idx] * (p * (1 - p))[:, None]) + precision
            ref += np.linalg.solve(h, y[idx].T @ (data[indptr[u]:indptr[u + 1]] - p)
                                   + shift - precision @ ref)
        np.testing.assert_allclose(x[u], ref, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(hess[u], h, rtol=1e-4, atol=1e-6)


def test_logistic_members_average_on_the_logit_scale(planted):
    """The default logistic model is the mean of ``members`` fits' logits, stored as one
    wider factor model (so predict, fold-in and save work unchanged)."""
    from scipy.special import logit

    records = planted["binary"]
    params = dict(FAST_PARAMS["logistic"])
    params.pop("members", None)
    single = [routerrec.fit(records, method="logistic", members=1, **{**params, "seed": s})
              for s in (5, 6, 7)]
    combined = routerrec.fit(records, method="logistic", members=3, **{**params, "seed": 5})
    assert combined.rank == 3 * single[0].rank
    expected = np.mean([logit(m.predict().astype(np.float64)) for m in single], axis=0)
    np.testing.assert_allclose(logit(combined.predict().astype(np.float64)), expected, atol=2e-3)
