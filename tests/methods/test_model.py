"""The foundation contract: ALS recovers planted structure, folds in, saves safely, is deterministic."""
from __future__ import annotations

import json

import numba
import numpy as np
import polars as pl
import pytest
from planted import planted_records
from sklearn.metrics import roc_auc_score

import routerrec
from routerrec import records_from_frame
from routerrec.evaluation.metrics import heldout_report
from routerrec.methods.model import ModelFileError


@pytest.fixture(scope="module")
def graded():
    return planted_records(n_prompts=800, n_models=50, rank=4, density=0.6, noise=0.1, seed=1)


@pytest.fixture(scope="module")
def binary():
    return planted_records(n_prompts=2000, n_models=40, rank=3, density=0.9, binary=True,
                           model_shared=0.45, seed=2)


def test_planted_low_rank_with_biases_is_recovered(graded):
    records, truth = graded
    train, test = records.split_cells(0.1, seed=0)
    model = routerrec.fit(train, method="als", rank=4, reg=0.01, iterations=15)
    report = heldout_report(model, train, test)
    # observed test cells carry noise sd 0.1: a recovered model sits near that floor
    assert report["als"]["rmse"] < 0.125
    assert report["als"]["rmse"] < 0.5 * report["prompt-mean"]["rmse"]
    # and against the noiseless truth it is closer still
    rows = np.array([int(p[1:]) for p in model.prompts])
    cols = np.array([int(m[1:]) for m in model.models])
    err = model.predict() - truth[np.ix_(rows, cols)]
    assert np.sqrt(np.mean(err ** 2)) < 0.08


def test_predict_orientation_order_and_unknown_ids(graded):
    records, _ = graded
    model = routerrec.fit(records, method="als", rank=2, iterations=2)
    full = model.predict()
    assert full.shape == (len(model.prompts), len(model.models)) == (records.n_prompts,
                                                                     records.n_models)
    some = model.predict(prompts=[model.prompts[3], model.prompts[1]], models=[model.models[2]])
    assert some.shape == (2, 1)
    assert some[0, 0] == pytest.approx(full[3, 2]) and some[1, 0] == pytest.approx(full[1, 2])
    with pytest.raises(KeyError, match="unknown model id 'nope'"):
        model.predict(models=["nope"])
    with pytest.raises(TypeError, match="list of ids"):
        model.predict(prompts="p00001")


def test_fold_in_of_a_removed_model_matches_training_with_it(binary):
    """A model left out of training and added back from 50 of its answers ranks its
    held-out cells about as well (AUC) as the model that was trained with its answers."""
    records, _ = binary
    rng = np.random.default_rng(0)
    table = records.table.with_row_index("row")
    gaps = []
    for name in records.models[:5]:
        mine = table.filter(pl.col("model") == name)
        test_rows = rng.choice(mine["row"].to_numpy(), mine.height // 3, replace=False)
        test = table.filter(pl.col("row").is_in(test_rows))
        train = records_from_frame(table.filter(~pl.col("row").is_in(test_rows)).drop("row"))
        full = routerrec.fit(train, method="als", rank=3, reg=0.05, iterations=10)
        reduced = routerrec.fit(train.filter(models=[m for m in train.models if m != name]),
                                method="als", rank=3, reg=0.05, iterations=10)
        known = train.table.filter(pl.col("model") == name)
        probe = rng.choice(known.height, 50, replace=False)
        added = reduced.add_model(name, dict(zip(known["prompt"].gather(probe).to_list(),
                                                 known["score"].gather(probe).to_list())))
        assert added.models == reduced.models + [name]
        prompts, truth = test["prompt"].to_list(), test["score"].to_numpy()
        gaps.append(roc_auc_score(truth, full.predict(prompts, [name])[:, 0])
                    - roc_auc_score(truth, added.predict(prompts, [name])[:, 0]))
    assert np.mean(gaps) < 0.02, gaps


def test_add_prompt_from_a_few_scores(graded):
    records, truth = graded
    name = records.prompts[0]
    rest = records.filter(prompts=records.prompts[1:])
    model = routerrec.fit(rest, method="als", rank=4, reg=0.01, iterations=10)
    cells = records.table.filter(records.table["prompt"] == name)
    added = model.add_prompt(name, dict(zip(cells["model"].to_list(),
                                            cells["score"].to_list())))
    row = added.predict(prompts=[name])[0]
    cols = np.array([int(m[1:]) for m in added.models])
    assert np.sqrt(np.mean((row - truth[0, cols]) ** 2)) < 0.2
    with pytest.raises(ValueError, match="already"):
        added.add_prompt(name, {added.models[0]: 1.0})
    with pytest.raises(KeyError, match="unknown model"):
        model.add_prompt("new", {"no-such-model": 1.0})


def test_deterministic_across_thread_counts(graded):
    records, _ = graded
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = routerrec.fit(records, method="als", rank=4, iterations=4, seed=3).predict()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = routerrec.fit(records, method="als", rank=4, iterations=4, seed=3).predict()
    finally:
        numba.set_num_threads(before)
    assert numba.config.NUMBA_NUM_THREADS >= 2
    np.testing.assert_array_equal(one, many)


def test_save_load_round_trip(graded, tmp_path):
    records, _ = graded
    model = routerrec.fit(records, method="als", rank=3, iterations=3)
    model.save(tmp_path / "m")
    again = routerrec.load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(), again.predict())
    assert again.prompts == model.prompts and again.models == model.models
    assert again.params == model.params and again.method == "als"
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["format_version"] == routerrec.methods.model.FORMAT_VERSION


def test_failed_save_keeps_previous_model(graded, tmp_path):
    records, _ = graded
    good = routerrec.fit(records, method="als", rank=2, iterations=2)
    good.save(tmp_path / "m")
    before = sorted(p.name for p in (tmp_path / "m").iterdir())
    bad = routerrec.fit(records, method="als", rank=2, iterations=2)
    bad.params["oops"] = object()  # not JSON: the manifest write fails
    with pytest.raises(ValueError):
        bad.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == before
    np.testing.assert_array_equal(routerrec.load_model(tmp_path / "m").predict(), good.predict())
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary left behind


def test_load_errors_name_the_problem(graded, tmp_path):
    records, _ = graded
    with pytest.raises(ModelFileError, match="no such model directory"):
        routerrec.load_model(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no manifest.json"):
        routerrec.load_model(tmp_path / "empty")
    model = routerrec.fit(records, method="als", rank=2, iterations=2)
    model.save(tmp_path / "m")
    (tmp_path / "m" / "arrays.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match="corrupt array file"):
        routerrec.load_model(tmp_path / "m")
    model.save(tmp_path / "m2")
    manifest = json.loads((tmp_path / "m2" / "manifest.json").read_text())
    manifest["format_version"] = 999
    (tmp_path / "m2" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="format version 999"):
        routerrec.load_model(tmp_path / "m2")
    model.save(tmp_path / "m3")
    (tmp_path / "m3" / "manifest.json").write_text("{ truncated")
    with pytest.raises(ModelFileError, match="corrupt manifest"):
        routerrec.load_model(tmp_path / "m3")
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "keep.txt").write_text("user data")
    with pytest.raises(ModelFileError, match="refusing to replace"):
        model.save(tmp_path / "not-a-model")
    assert (tmp_path / "not-a-model" / "keep.txt").read_text() == "user data"


def test_bad_parameters_are_refused(graded):
    records, _ = graded
    with pytest.raises(ValueError, match="rank must be an integer >= 1, got 0"):
        routerrec.fit(records, method="als", rank=0)
    with pytest.raises(ValueError, match="unknown method"):
        routerrec.fit(records, method="nope")
