"""``routerrec calibrate`` and ``route --calibration`` / ``--embeddings``, the real command in a
subprocess on the embedded sample."""
from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest

from cli_helpers import SAMPLE, run, run_many, write_small_sample
from routerrec.routing.calibrate import calibrate_wtp
from routerrec.routing.encoders import hashed_counts
from routerrec.routing.registry import load_router


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, small_routers):
    """(A folder holding 286 other sample prompts as traffic, ``traffic.jsonl``; the session's
    linear router on a seventh of the sample; its knn router on the same)."""
    for name in ("linear", "knn"):
        assert small_routers[name][1].returncode == 0, small_routers[name][1].stderr
    folder = tmp_path_factory.mktemp("calibrate")
    prompts = pl.read_parquet(SAMPLE / "prompts.parquet").gather_every(7, offset=3)
    prompts.select(pl.col("prompt").alias("id"), "text").write_ndjson(folder / "traffic.jsonl")
    return folder, small_routers["linear"][0], small_routers["knn"][0]


def test_calibrate_meets_a_cost_and_route_applies_it(fitted):
    folder, r, _ = fitted
    res = run("calibrate", "--router", r, "--prompts", folder / "traffic.jsonl",
              "--target-cost", "0.001", "--out", folder / "cal.json", "--json")
    got = json.loads(res.stdout)
    assert got["achieved"] <= 0.001 < got["step_achieved"] and got["prompts"] == 286
    assert abs(sum(got["shares"].values()) - 1) < 1e-9
    # the same as the Python API on the same prompts
    texts = [json.loads(line)["text"] for line in (folder / "traffic.jsonl").read_text().splitlines()]
    api = calibrate_wtp(load_router(r), texts, target_cost=0.001)
    assert got["wtp"] == api.wtp and got["shares"] == api.shares
    # route --calibration routes as --wtp with that value
    by_file, by_wtp = run_many(
        ["route", "--router", r, "--prompts", folder / "traffic.jsonl",
         "--calibration", folder / "cal.json"],
        ["route", "--router", r, "--prompts", folder / "traffic.jsonl",
         "--wtp", repr(got["wtp"])])
    assert by_file.returncode == 0, by_file.stderr
    assert by_file.stdout == by_wtp.stdout
    picks = [json.loads(line)["model"] for line in by_file.stdout.splitlines()]
    top = max(got["shares"], key=got["shares"].get)
    assert picks.count(top) / 286 == pytest.approx(got["shares"][top])
    text = run("calibrate", "--router", r, "--prompts", folder / "traffic.jsonl",
               "--target-share", "acme-405b=10%").stdout
    assert re.search(r"share of calls to acme-405b 0\.0\d+ \(target 0\.1;", text)
    assert "the next step up" in text
    assert "Example:" in run("calibrate", "--help").stdout


def test_calibrate_refuses_what_it_cannot_do(fitted, tmp_path):
    folder, r, other = fitted
    traffic = folder / "traffic.jsonl"
    (tmp_path / "bad.json").write_text("{}")
    results = run_many(
        ["calibrate", "--router", r, "--prompts", traffic, "--target-cost", "5"],
        ["calibrate", "--router", r, "--prompts", traffic, "--target-share", "gpt-9=0.2"],
        ["calibrate", "--router", r, "--prompts", traffic, "--target-share", "acme-405b"],
        ["calibrate", "--router", r, "--prompts", traffic],
        ["route", "--router", other, "x", "--calibration", folder / "cal.json"],
        ["route", "--router", r, "x", "--calibration", tmp_path / "bad.json"],
        ["route", "--router", r, "x", "--calibration", folder / "cal.json", "--wtp", "1"],
        ["route", "--router", r, "x", "--calibration", folder / "cal.json", "--models", "acme-1b"],
        ["route", "--router", r, "x", "--embeddings", tmp_path / "bad.json"])
    messages = [
        r"--target-cost: target mean predicted cost per request 5 is out of reach on these 286 "
        r"prompts: the router reaches [0-9.e-]+ \(wtp 0.*route without --wtp",
        r"'gpt-9' is not a candidate",
        r"--target-share expects MODEL=SHARE",
        r"give --target-cost C or --target-share MODEL=SHARE",
        r"was calibrated for another router .*run routerrec calibrate --router",
        r"bad.json: not a calibration file",
        r"give one of --wtp, --max-cost and --calibration",
        r"--models acme-1b: .*cal.json was calibrated on every model",
        r"--embeddings .*bad.json: the router in .* uses the tfidf encoder",
    ]
    for res, message in zip(results, messages):
        assert res.returncode == 2, (message, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
        assert re.search(message, res.stderr), (message, res.stderr)


def test_fit_and_route_with_embeddings_keyed_by_prompt_id(fitted, tmp_path):
    """--embeddings at fit (the training prompts' vectors) and at route (new prompts')."""
    folder = fitted[0]
    small = pl.read_parquet(write_small_sample(tmp_path))
    prompts = small.select("prompt", "text").unique("prompt", maintain_order=True)
    vectors = hashed_counts(prompts["text"].to_list(), n_features=32).toarray() + 0.01
    pl.DataFrame({"prompt": prompts["prompt"], "embedding": vectors.tolist()}).write_parquet(
        tmp_path / "train.parquet")
    traffic = [json.loads(line) for line in (folder / "traffic.jsonl").read_text().splitlines()]
    new = hashed_counts([t["text"] for t in traffic], n_features=32).toarray() + 0.01
    pl.DataFrame({"prompt": [t["id"] for t in traffic], "embedding": new.tolist()}).write_parquet(
        tmp_path / "new.parquet")
    run("fit", "--router", "knn", "--data", tmp_path / "small.parquet", "--embeddings",
        tmp_path / "train.parquet", "--out", tmp_path / "r", "--quiet")
    res = run("route", "--router", tmp_path / "r", "--prompts", folder / "traffic.jsonl",
              "--embeddings", tmp_path / "new.parquet", "--wtp", "1")
    decisions = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["id"] for d in decisions] == [t["id"] for t in traffic]
    cal = run("calibrate", "--router", tmp_path / "r", "--prompts", folder / "traffic.jsonl",
              "--embeddings", tmp_path / "new.parquet", "--target-cost", "0.001", "--json")
    assert json.loads(cal.stdout)["achieved"] <= 0.001
    missing, texts_only, no_router = run_many(
        ["route", "--router", tmp_path / "r", "--prompts", folder / "traffic.jsonl"],
        ["route", "--router", tmp_path / "r", "a prompt"],
        ["fit", "--embeddings", tmp_path / "new.parquet", "--out", tmp_path / "m"])
    assert missing.returncode == 2 and "286 of 286 prompt ids have no vector" in missing.stderr
    assert texts_only.returncode == 2 and "looks prompts up by id" in texts_only.stderr
    assert no_router.returncode == 2 and "--embeddings is for fitting a router" in no_router.stderr
    assert np.isfinite(decisions[0]["candidates"][decisions[0]["model"]]["score"])
