"""The real ``routerrec`` command, run in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import routerrec

ROUTERREC = str(Path(sys.executable).parent / "routerrec")


def run(*args, ok=True):
    proc = subprocess.run([ROUTERREC, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.csv"
    pl.DataFrame({
        "prompt": ["a", "a", "b", "b", "c", "c", "c"],
        "model": ["x", "y", "x", "y", "x", "y", "z"],
        "score": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        "cost": [0.1, 0.01, 0.1, 0.01, 0.1, 0.01, 0.5],
    }).write_csv(path)
    return path


def _leaf_commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_command_has_help_with_an_example_and_json():
    from routerrec.cli.main import main

    leaves = list(_leaf_commands(main))
    assert {("fit",), ("predict",), ("data", "info")} <= set(leaves)
    assert "Example" in run("--help").stdout
    for path in leaves:
        text = run(*path, "--help").stdout
        assert "Example" in text, path
        assert "--json" in text, path


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


def test_predict_writes_parquet_csv_and_prints_top(tmp_path, tiny):
    out = tmp_path / "m"
    run("fit", "--data", tiny, "--rank", 2, "--iterations", 3, "--out", out, "--quiet")
    run("predict", "--model", out, "--out", tmp_path / "p.parquet")
    frame = pl.read_parquet(tmp_path / "p.parquet")
    assert frame.columns == ["prompt", "x", "y", "z"] and frame.height == 3
    np.testing.assert_allclose(frame.drop("prompt").to_numpy(),
                               routerrec.load_model(out).predict(), rtol=1e-6)
    (tmp_path / "ids.txt").write_text("c\na\n")
    run("predict", "--model", out, "--prompts", tmp_path / "ids.txt", "--models", "z,x",
        "--out", tmp_path / "p.csv")
    assert pl.read_csv(tmp_path / "p.csv").columns == ["prompt", "z", "x"]
    top = json.loads(run("predict", "--model", out, "--top", 2, "--json").stdout)
    assert [len(r["top"]) for r in top["prompts"]] == [2, 2, 2]
    bad = run("predict", "--model", out, "--models", "nope", "--top", 1, ok=False)
    assert bad.returncode != 0 and "unknown model id 'nope'" in bad.stderr


def test_data_info_text_and_json(tiny):
    info = json.loads(run("data", "info", tiny, "--json").stdout)
    assert info["n_prompts"] == 3 and info["n_models"] == 3 and info["n_records"] == 7
    assert info["score_kind"] == "binary"
    assert "n_records" in run("data", "info", tiny).stdout


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,model,score\na,x,1\nb,x,oops\n")
    proc = run("fit", "--data", bad, "--out", tmp_path / "m", ok=False)
    assert proc.returncode != 0
    assert "bad.csv" in proc.stderr and "score" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()
    missing = run("data", "info", tmp_path / "absent.csv", ok=False)
    assert missing.returncode != 0 and "absent.csv" in missing.stderr


def test_data_sample_regenerates_the_embedded_sample_byte_for_byte(tmp_path):
    payload = json.loads(run("data", "sample", "--out", tmp_path, "--json").stdout)
    repo_sample = Path(routerrec.__file__).resolve().parent.parent / "data" / "sample"
    for entry in payload["files"]:
        written = Path(entry["path"])
        assert written.read_bytes() == (repo_sample / written.name).read_bytes(), written.name
