"""``routerrec.evaluation.tune`` and ``routerrec tune``: the search finds the regularisation that
matters, writes it atomically, and ``routerrec fit --params`` uses it."""
from __future__ import annotations

import json
import subprocess

import pytest
from commands import ROUTERREC
from planted import planted_frame, planted_records

from routerrec.evaluation.tune import tune


@pytest.fixture(scope="module")
def sparse_planted():
    """Rank 3, 30% observed: an over-parameterised fit (rank 8) needs regularisation."""
    return planted_records(n_prompts=300, n_models=30, rank=3, density=0.3, noise=0.1,
                           seed=5)[0]


def test_regularisation_moves_heldout_rmse_twofold_and_tune_picks_it(sparse_planted):
    result = tune(sparse_planted, method="als", grid={"reg": [0.0005, 0.05, 2.0]},
                  fixed={"rank": 8, "iterations": 10})
    rmse = {t["params"]["reg"]: t["metrics"]["rmse"] for t in result["trials"]}
    assert max(rmse.values()) >= 2 * min(rmse.values()), rmse
    assert result["best"]["params"] == {"rank": 8, "iterations": 10,
                                        "reg": min(rmse, key=rmse.get)}
    assert result["best"]["score"] == min(rmse.values())
    assert result["best"]["score"] < 0.5 * result["baselines"]["model-mean"]["rmse"]


def test_random_search_is_a_seeded_subset(sparse_planted):
    grid = {"rank": [2, 3, 4], "reg": [0.01, 0.1]}
    first = tune(sparse_planted, method="als", grid=grid, trials=2, fixed={"iterations": 3})
    again = tune(sparse_planted, method="als", grid=grid, trials=2, fixed={"iterations": 3})
    assert len(first["trials"]) == 2
    assert [t["params"] for t in first["trials"]] == [t["params"] for t in again["trials"]]
    assert first["best"] == again["best"]


def test_bad_trials_are_recorded_and_bad_requests_refused(sparse_planted):
    result = tune(sparse_planted, method="knn", grid={"k": [0, 10]})
    assert "error" in result["trials"][0] and result["best"]["params"] == {"k": 10}
    with pytest.raises(ValueError, match="unknown method"):
        tune(sparse_planted, method="nope")
    with pytest.raises(ValueError, match="binary"):
        tune(sparse_planted, method="als", metric="auc", grid={"rank": [2]})
    with pytest.raises(ValueError, match="every trial failed"):
        tune(sparse_planted, method="knn", grid={"k": [0]})


def test_logistic_tunes_on_log_loss():
    records, _ = planted_records(n_prompts=400, n_models=40, rank=2, density=0.9, binary=True,
                                 seed=6)
    result = tune(records, method="logistic", metric="log_loss",
                  grid={"reg": [0.03, 3.0]}, fixed={"rank": 2, "iterations": 5})
    losses = [t["metrics"]["log_loss"] for t in result["trials"]]
    assert result["best"]["score"] == min(losses) and result["best"]["params"]["reg"] == 0.03


def _run(*args, cwd):
    return subprocess.run([ROUTERREC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_cli_tune_then_fit_with_params(tmp_path):
    frame, _ = planted_frame(n_prompts=200, n_models=20, rank=2, density=0.5, seed=7)
    frame.write_parquet(tmp_path / "records.parquet")
    data = ["--data", "records.parquet"]
    run = _run("tune", "--method", "als", *data, "--grid", "reg=0.01,3", "--grid", "rank=2",
               "--param", "iterations=5", "--out", "best.json", "--table", "trials.csv",
               "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    saved = json.loads((tmp_path / "best.json").read_text())
    assert saved["best"] == shown["best"] and saved["best"]["params"]["reg"] == 0.01
    assert len(saved["trials"]) == 2
    assert (tmp_path / "trials.csv").read_text().count("\n") == 3  # header + 2 trials
    # the file's method and parameters, except what the command line says
    fit = _run("fit", *data, "--params", "best.json", "--iterations", "4", "--out", "m",
               "--json", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert json.loads(fit.stdout)["params"] == {**saved["best"]["params"], "iterations": 4,
                                                "seed": 0}
    clash = _run("fit", *data, "--method", "sgd", "--params", "best.json", "--out", "m3",
                 cwd=tmp_path)
    assert clash.returncode != 0 and "settings for --method als" in clash.stderr


def test_cli_tune_errors_are_clear(tmp_path):
    bad = _run("tune", "--method", "als", "--grid", "reg", "--out", "b.json", cwd=tmp_path)
    assert bad.returncode != 0 and "--grid expects KEY=V1,V2" in bad.stderr
    (tmp_path / "junk.json").write_text("{}")
    bad = _run("fit", "--params", "junk.json", "--out", "m", cwd=tmp_path)
    assert bad.returncode != 0 and "not a file written by `routerrec tune`" in bad.stderr
    assert not (tmp_path / "b.json").exists()


def _cells(records) -> set:
    return set(zip(records.table.get_column("prompt"), records.table.get_column("model")))


@pytest.mark.parametrize("share,holdout_seed", [(0.1, 0), (0.2, 3)])
def test_tune_never_sees_the_cells_fit_holdout_scores_on(sparse_planted, monkeypatch,
                                                        share, holdout_seed):
    """Issue 12: ``tune`` then ``fit --holdout 0.1`` used to choose parameters on the very
    cells fit scored on (both split_cells(0.1, seed 0)). The cells tune fits and validates on
    are now disjoint from fit's held-out cells, and the output says so."""
    import routerrec.evaluation.tune as tune_module

    seen = []
    real_fit, real_score = tune_module.fit, tune_module.score_model
    monkeypatch.setattr(tune_module, "fit",
                        lambda train, **kw: seen.append(_cells(train)) or real_fit(train, **kw))
    monkeypatch.setattr(tune_module, "score_model",
                        lambda model, valid: seen.append(_cells(valid)) or real_score(model, valid))
    result = tune(sparse_planted, method="als", grid={"reg": [0.01, 0.1]},
                  fixed={"rank": 3, "iterations": 3}, holdout=share, holdout_seed=holdout_seed)
    fit_test = _cells(sparse_planted.split_cells(share, holdout_seed)[1])
    assert len(seen) == 4 and all(cells and not cells & fit_test for cells in seen)
    assert set().union(*seen) | fit_test == _cells(sparse_planted)
    excluded = result["excluded_holdout"]
    assert (excluded["share"], excluded["seed"], excluded["cells"]) == (share, holdout_seed,
                                                                        len(fit_test))
    assert "never saw" in excluded["note"]


def test_tune_without_holdout_uses_every_cell(sparse_planted):
    result = tune(sparse_planted, method="als", grid={"reg": [0.1]},
                  fixed={"rank": 3, "iterations": 3}, holdout=None)
    assert result["excluded_holdout"] is None
    with pytest.raises(ValueError, match="holdout"):
        tune(sparse_planted, method="als", grid={"reg": [0.1]}, holdout=1.5)
