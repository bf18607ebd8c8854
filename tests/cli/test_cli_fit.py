"""``routerrec fit`` (completion models and ``--router``) and ``routerrec predict``."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

import routerrec
from cli_helpers import run, run_many, write_tiny
from routerrec.cli.main import main
from routerrec.routing.registry import ROUTERS, learned_routers, load_router


def test_fit_on_the_sample_reports_heldout_next_to_baselines(tmp_path):
    out = tmp_path / "als"
    proc = run("fit", "--method", "als", "--holdout", 0.1, "--out", out, "--json")
    payload = json.loads(proc.stdout)
    held = payload["heldout"]
    assert {"als", "global-mean", "model-mean", "prompt-mean"} <= set(held)
    for baseline in ("global-mean", "model-mean", "prompt-mean"):
        assert held["als"]["auc"] > held[baseline]["auc"], baseline
        assert held["als"]["rmse"] < held[baseline]["rmse"], baseline
    model = routerrec.load_model(out)
    assert model.metrics["heldout"]["share"] == 0.1
    text = run("fit", "--rank", 4, "--iterations", 2, "--holdout", 0.1, "--out", out,
               "--quiet").stdout
    assert "prompt-mean" in text and "saved to" in text


def test_predict_writes_parquet_csv_and_prints_top(tmp_path):
    tiny = write_tiny(tmp_path)
    out = tmp_path / "m"
    run("fit", "--data", tiny, "--rank", 2, "--iterations", 3, "--out", out, "--quiet")
    (tmp_path / "ids.txt").write_text("c\na\n")
    *good, bad = run_many(  # independent: run at once
        ("predict", "--model", out, "--out", tmp_path / "p.parquet"),
        ("predict", "--model", out, "--prompts", tmp_path / "ids.txt", "--models", "z,x",
         "--out", tmp_path / "p.csv"),
        ("predict", "--model", out, "--top", 2, "--json"),
        ("predict", "--model", out, "--models", "nope", "--top", 1))
    for done in good:
        assert done.returncode == 0, (done.args, done.stderr)
    frame = pl.read_parquet(tmp_path / "p.parquet")
    assert frame.columns == ["prompt", "x", "y", "z"] and frame.height == 3
    np.testing.assert_allclose(frame.drop("prompt").to_numpy(),
                               routerrec.load_model(out).predict(), rtol=1e-6)
    assert pl.read_csv(tmp_path / "p.csv").columns == ["prompt", "z", "x"]
    assert [len(r["top"]) for r in json.loads(good[2].stdout)["prompts"]] == [2, 2, 2]
    assert bad.returncode != 0 and "unknown model id 'nope'" in bad.stderr


@pytest.mark.parametrize("name", learned_routers())
def test_fit_router_fits_every_learned_router_of_the_registry(small_routers, name):
    out, done = small_routers[name]
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["router"] == name and payload["prompts"] == 286
    router = load_router(out)
    assert router.name == name and router.models_ == payload["models"]


def test_fit_router_and_evaluate_routerbench_accept_the_registrys_routers(tmp_path):
    """Both derive their choices from the registry: evaluate routerbench the learned routers
    (the baselines are always in its report), fit --router also the per-group baselines
    task-best and cluster-best, which route a new prompt from its text; no other reference."""
    runner, absent = CliRunner(), str(tmp_path / "absent.csv")

    def fit_accepts(name):  # a rejected choice is a usage error before any reading
        res = runner.invoke(main, ["fit", "--router", name, "--data", absent, "--out",
                                   str(tmp_path / "out")])
        assert res.exit_code != 0
        return "Invalid value for '--router'" not in res.output

    def routerbench_accepts(name):
        res = runner.invoke(main, ["evaluate", "routerbench", "--routers", name, "--train", absent,
                                   "--out", str(tmp_path / "out")])
        assert res.exit_code != 0
        return "unknown learned router" not in res.output

    names = [*ROUTERS, "nope"]
    assert {n for n in names if fit_accepts(n)} == set(learned_routers()) | {"task-best",
                                                                           "cluster-best"}
    assert {n for n in names if routerbench_accepts(n)} == set(learned_routers())
