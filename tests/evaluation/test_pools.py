"""Candidate-pool sweep: splits, RouterEval's pool groups, metrics, leakage, report, CLI."""
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from commands import ROUTERREC, run_many
from routerrec import records_from_frame
from routerrec.routing import registry as routers_module
from routerrec.evaluation.pools import (CV_FOLDS, EXACT_REFERENCES, REFERENCE_ROUTERS,
                                        combine_reports, evaluate_pools, last_paragraph,
                                        markdown_report, question_view, reference_accuracy,
                                        reference_metrics, router_metrics, select_pool,
                                        split_three, validated_weight, write_report)
from routerrec.routing.base import Router
from routerrec.routing.learned import PromptKNNRouter

SHOTS = "Example question one?\nAnswer: yes\n\nExample question two?\nAnswer: no\n\n"
TOPICS = ("algebra", "biology", "history", "poetry")


def planted_pool_frame(n_prompts=160, n_models=60, seed=0) -> pl.DataFrame:
    """Two benchmarks; a prompt's topic (named in its text) decides which models are good.

    Models share a general skill and each is a specialist of one topic, so a router that
    reads the topic beats the best single model; few-shot shots repeat in every prompt.
    """
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, len(TOPICS), n_prompts)
    skill = rng.normal(0, 0.6, n_models)
    special = rng.integers(0, len(TOPICS), n_models)
    easy = rng.normal(0, 0.5, n_prompts)
    logit = skill[None, :] + easy[:, None] + 2.2 * (special[None, :] == topic[:, None]) - 0.6
    correct = (rng.random(logit.shape) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    bench = np.where(np.arange(n_prompts) % 2 == 0, "arc", "mmlu")
    words = rng.choice(["which", "what", "how", "why", "does", "is", "the", "of"], (n_prompts, 4))
    rows = []
    for i in range(n_prompts):
        text = f"{SHOTS}Question on {TOPICS[topic[i]]}: {' '.join(words[i])} {i}?\nAnswer:"
        for j in range(n_models):
            rows.append((f"{bench[i]}.{i}", f"model{j:03d}", int(correct[i, j]), bench[i], text))
    return pl.DataFrame(rows, schema=["prompt", "model", "score", "benchmark", "text"], orient="row")


@pytest.fixture(scope="module")
def planted():
    return records_from_frame(planted_pool_frame())


# ----------------------------------------------------------------------------- splits


def test_split_three_is_80_10_10_per_benchmark_disjoint_and_seeded(planted):
    train, val, test = split_three(planted, seed=3)
    ids = [set(r.prompts) for r in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == planted.n_prompts
    for part, share in ((test, 0.1), (val, 0.1)):
        per = part.info()["benchmarks"]
        assert {b: v["prompts"] for b, v in per.items()} == {"arc": round(share * 80), "mmlu": round(share * 80)}
    assert split_three(planted, seed=3)[2].prompts == test.prompts
    assert split_three(planted, seed=4)[2].prompts != test.prompts
    with pytest.raises(ValueError):
        split_three(planted, seed=0, val=0.5, test=0.5)


# ----------------------------------------------------------------------------- pools


def _ranked_selection(n_models=50, n_prompts=400, seed=0):
    """Models with known accuracies (column j has accuracy acc[j]); two outside (0.1, 0.9)."""
    rng = np.random.default_rng(seed)
    acc = np.linspace(0.12, 0.88, n_models)
    acc[[5, 17]] = [0.95, 0.05]
    return (rng.random((n_prompts, n_models)) < acc).astype(np.float32)


def test_pool_groups_follow_routereval_definitions():
    sel = _ranked_selection()
    acc = sel.mean(axis=0)
    inside = np.flatnonzero((acc > 0.1) & (acc < 0.9))
    ranked = inside[np.argsort(-acc[inside], kind="stable")]
    side = math.ceil(0.2 * len(ranked))
    rng = np.random.default_rng(0)
    for _ in range(20):
        strong = select_pool(sel, 3, "all_strong", rng, candidates=4)
        weak = select_pool(sel, 3, "all_weak", rng, candidates=4)
        s2w = select_pool(sel, 4, "strong_to_weak", rng, candidates=4)
        # windows of rank-adjacent models inside the top / bottom 20%
        pos = sorted(int(np.flatnonzero(ranked == j)[0]) for j in strong)
        assert pos == list(range(pos[0], pos[0] + 3)) and pos[-1] < side
        pos = sorted(int(np.flatnonzero(ranked == j)[0]) for j in weak)
        assert pos == list(range(pos[0], pos[0] + 3)) and pos[0] >= len(ranked) - side
        # one model per rank group
        groups = np.array_split(ranked, 4)
        assert all(np.isin(j, g) for j, g in zip(s2w, groups))
        assert not {5, 17} & (set(strong) | set(weak) | set(s2w))
    # a pool larger than 20% takes the top m models
    assert set(select_pool(sel, 40, "all_strong", rng)) == set(ranked[:40])
    with pytest.raises(ValueError, match="eligible"):
        select_pool(sel, 49, "all_strong", rng)


def test_pool_choice_maximises_the_selection_oracle():
    sel = _ranked_selection()
    oracle = lambda pool: sel[:, pool].max(axis=1).mean()  # noqa: E731
    rng = np.random.default_rng(1)
    one = [oracle(select_pool(sel, 3, "strong_to_weak", np.random.default_rng(s), candidates=1))
           for s in range(15)]
    many = [oracle(select_pool(sel, 3, "strong_to_weak", np.random.default_rng(s), candidates=16))
            for s in range(15)]
    assert np.mean(many) > np.mean(one)
    assert select_pool(sel, 3, "all_strong", rng).shape == (3,)


# ----------------------------------------------------------------------------- metrics


def test_metrics_on_a_hand_computed_pool():
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    scores = np.array([[.9, .1, .1], [.2, .8, .1], [.1, .2, .9], [.5, .5, .5]], dtype=np.float32)
    m = router_metrics(Router(), truth, scores, best=0, reference=0.5, temperature=0.1)
    assert m["mu"] == pytest.approx(0.5)            # picks 0, 1, 2, 0 -> 1, 1, 0, 0
    assert m["v_b"] == pytest.approx(0.5 / 0.5)     # model 0's test mean is 0.5
    assert m["v_b_test"] == pytest.approx(0.5 / 0.5)
    assert m["v_r"] == pytest.approx(1.0)
    assert m["e_p"] == pytest.approx(np.mean([
        -(p * np.log2(p)).sum() for p in
        (np.exp(s / 0.1) / np.exp(s / 0.1).sum() for s in scores.astype(np.float64))]))
    ref = reference_metrics(truth, np.array([.6, .5, .1]), best=0, reference=None)
    assert set(ref) == set(EXACT_REFERENCES)
    assert ref["oracle"]["mu"] == pytest.approx(0.75)
    assert ref["best-single"]["mu"] == pytest.approx(0.5) and ref["best-single"]["v_b"] == 1.0
    assert ref["random"]["mu"] == pytest.approx(truth.mean())
    assert ref["random"]["e_p"] == pytest.approx(np.log2(3))
    assert math.isnan(ref["oracle"]["v_r"])


def test_r_o_is_the_limit_of_averaging_many_draws():
    rng = np.random.default_rng(0)
    truth = (rng.random((30, 7)) < 0.4).astype(np.float32)
    ref = reference_metrics(truth, truth.mean(axis=0), best=0)
    oracle_pick = truth.argmax(axis=1)
    for p in (0.25, 0.5, 0.75):
        draws = []
        for _ in range(4000):
            use = rng.random(30) < p
            pick = np.where(use, oracle_pick, rng.integers(0, 7, 30))
            draws.append(truth[np.arange(30), pick].mean())
        assert np.mean(draws) == pytest.approx(ref[f"r_o({p})"]["mu"], abs=0.005)
    assert ref["r_o(0.25)"]["mu"] < ref["r_o(0.75)"]["mu"] < ref["oracle"]["mu"]


def test_reference_accuracy_maps_open_llm_and_routereval_names():
    assert reference_accuracy("arc") == 0.852
    assert reference_accuracy("harness_truthfulqa_mc_0") == 0.669
    assert reference_accuracy("gsm8k") == 0.92
    assert reference_accuracy("my-benchmark") is None


# ----------------------------------------------------------------------------- the sweep


def test_validated_weight_falls_back_unless_routing_helps_on_validation():
    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    train_mean = np.array([0.6, 0.5])                 # best single: model 0 (val mu 0.5)
    good = np.array([[.9, .1], [.1, .9], [.9, .1], [.1, .9]])   # val mu 1.0
    bad = good[:, ::-1]                                          # val mu 0.0
    same = np.array([[.9, .1]] * 4)                              # picks model 0: a tie
    assert validated_weight(truth, good, train_mean) == 0.0
    assert validated_weight(truth, bad, train_mean) == 1.0
    assert validated_weight(truth, same, train_mean) == 1.0      # ties go to best-single
    assert validated_weight(truth[:0], good[:0], train_mean) == 1.0  # no validation prompts
    # a grid of blends: here the plain router (val mu .75) beats the half blend (.5)
    half = np.array([[.55, .45], [.45, .55], [.45, .5], [.45, .55]])
    assert validated_weight(truth, half, train_mean, weights=(0, 0.5, 1)) == 0.0
    # "+valpool": one decision for several pools, by their mean validation mu
    assert validated_weight([truth, truth], [good, bad], [train_mean] * 2) == 1.0  # .5 vs .5
    assert validated_weight([truth, truth, truth], [good, good, bad], [train_mean] * 3) == 0.0
    assert validated_weight([truth[:0], truth], [good[:0], bad], [train_mean] * 2) == 1.0
    # "+cv": parts of unequal size count by their prompts (4 good prompts outweigh 2 bad)
    assert validated_weight([truth, truth[:2]], [good, bad[:2]], [train_mean] * 2) == 0.0
    assert validated_weight([truth[:2], truth], [good[:2], bad], [train_mean] * 2) == 1.0


def test_question_view_keeps_the_last_paragraph(planted):
    assert last_paragraph(SHOTS + "Q?\nAnswer:") == "Q?\nAnswer:"
    assert last_paragraph("no shots") == "no shots" and last_paragraph(None) is None
    view = question_view(planted)
    p = planted.prompts[0]
    assert view.text_of([p])[0] == last_paragraph(planted.text_of([p])[0])
    assert view.prompts == planted.prompts and view.n_records == planted.n_records


class SpyKNN(PromptKNNRouter):
    """The real kNN router, remembering which prompts every fit saw."""

    fitted_on: list = []

    def fit(self, records):
        SpyKNN.fitted_on.append(set(records.prompts))
        return super().fit(records)


def test_sweep_fits_once_per_split_never_on_val_or_test_prompts(planted, monkeypatch):
    monkeypatch.setitem(routers_module.ROUTERS, "spy", SpyKNN)
    SpyKNN.fitted_on = []
    report = evaluate_pools(planted, pools=(3, 5), routers=("spy", "spy+val", "spy+valpool"),
                            seeds=2, draws=2, candidates=4)
    # one fit per (seed, benchmark), shared by every pool, draw and the validated version
    assert len(SpyKNN.fitted_on) == 2 * 2
    for seed in range(2):
        _, val, test = split_three(planted, seed=seed)
        for fitted in SpyKNN.fitted_on[2 * seed: 2 * seed + 2]:
            assert fitted and not fitted & (set(test.prompts) | set(val.prompts))
    rows = pl.DataFrame(report["rows"])
    assert report["selection"].startswith("pools chosen on training prompts only")
    assert rows.height == 2 * 3 * 2 * 2 * 2 * (3 + len(REFERENCE_ROUTERS))
    # the validated router is exactly the router or exactly best-single, pool by pool
    key = ["benchmark", "group", "m", "seed", "draw"]
    mine = rows.filter(pl.col("router") == "spy+val").sort(key)
    for other, w in (("spy", 0.0), ("best-single", 1.0)):
        ref = rows.filter(pl.col("router") == other).sort(key)
        same = mine["w_best"] == w
        assert same.any()
        assert (mine.filter(same)["mu"] == ref.filter(same)["mu"]).all()
    # "+valpool" decides once per (benchmark, m, seed) for all groups and draws, on the
    # pooled validation mu of those pools
    pooled = rows.filter(pl.col("router") == "spy+valpool")
    per_setting = pooled.group_by("benchmark", "m", "seed").agg(pl.col("w_best").n_unique())
    assert (per_setting["w_best"] == 1).all()
    assert set(pooled["w_best"].to_list()) <= {0.0, 1.0}
    spy_mu = rows.filter(pl.col("router") == "spy").sort(key)["mu"]
    best_mu = rows.filter(pl.col("router") == "best-single").sort(key)["mu"]
    pooled = pooled.sort(key)
    expected = [s if w == 0.0 else b for s, b, w in zip(spy_mu, best_mu, pooled["w_best"])]
    assert pooled["mu"].to_list() == expected


def test_cross_validated_check_refits_on_training_folds_only(planted, monkeypatch):
    monkeypatch.setitem(routers_module.ROUTERS, "spy", SpyKNN)
    SpyKNN.fitted_on = []
    report = evaluate_pools(planted, pools=(3, 5), routers=("spy", "spy+cv"), seeds=[7],
                            candidates=4)
    assert report["settings"]["seeds"] == [7]
    train, val, test = split_three(question_view(planted), seed=7)
    # per benchmark: the full fit, then CV_FOLDS refits, each leaving out one fold
    assert len(SpyKNN.fitted_on) == 2 * (1 + CV_FOLDS)
    for b in range(2):
        full, *folds = SpyKNN.fitted_on[b * (1 + CV_FOLDS):(b + 1) * (1 + CV_FOLDS)]
        assert full <= set(train.prompts) and not full & (set(val.prompts) | set(test.prompts))
        left_out = [full - f for f in folds]
        assert all(f < full for f in folds)
        assert set().union(*left_out) == full
        assert sum(map(len, left_out)) == len(full)  # the folds partition the training prompts
    rows = pl.DataFrame(report["rows"])
    key = ["benchmark", "group", "m", "seed", "draw"]
    cv = rows.filter(pl.col("router") == "spy+cv").sort(key)
    spy_mu = rows.filter(pl.col("router") == "spy").sort(key)["mu"]
    best_mu = rows.filter(pl.col("router") == "best-single").sort(key)["mu"]
    assert set(cv["w_best"].to_list()) <= {0.0, 1.0}
    assert cv["mu"].to_list() == [s if w == 0.0 else b
                                  for s, b, w in zip(spy_mu, best_mu, cv["w_best"])]
    # routing pays on these specialists, and ~9x the evidence of "+val" sees it on most pools
    assert cv["w_best"].mean() < 0.25
    # without validation prompts "+cv" still decides, on the folds alone
    assert evaluate_pools(planted, pools=(3,), routers=("knn+cv",), seeds=1, val=0,
                          candidates=2)["rows"]


def test_combined_sweeps_equal_one_sweep_over_all_their_seeds(planted):
    kw = {"pools": (3,), "candidates": 4, "groups": ("all_strong", "all_weak")}
    both = evaluate_pools(planted, routers=("knn", "linear"), seeds=[0, 1], **kw)
    first = evaluate_pools(planted, routers=("knn", "linear"), seeds=[0], **kw)
    second = evaluate_pools(planted, routers=("knn",), seeds=[1], **kw)
    combined = json.loads(json.dumps(combine_reports([first, second])))  # as read back from disk
    assert combined["settings"]["seeds"] == [0, 1]
    assert combined["settings"]["routers"] == ["knn"]  # the routers every sweep has
    expected = [c for c in both["summary"]["overall"] if c["router"] != "linear"]
    assert len(combined["summary"]["overall"]) == len(expected)
    for got, want in zip(combined["summary"]["overall"], expected):
        assert got["router"] == want["router"] and got["v_b"] == pytest.approx(want["v_b"])
        assert got["v_b_lo"] == pytest.approx(want["v_b_lo"])
    with pytest.raises(ValueError, match="more than one sweep"):
        combine_reports([first, first])
    other = evaluate_pools(planted, routers=("knn",), seeds=[2], select_on="all", **kw)
    with pytest.raises(ValueError, match="select_on"):
        combine_reports([first, other])


def test_train_selection_ignores_test_scores_all_selection_does_not(planted):
    _, _, test = split_three(planted, seed=0)
    flipped = planted.table.with_columns(
        pl.when(pl.col("prompt").is_in(test.prompts)).then(1.0 - pl.col("score"))
        .otherwise(pl.col("score")).alias("score"))
    other = records_from_frame(flipped.join(planted.texts, on="prompt"))
    kw = dict(pools=(3,), routers=("linear",), seeds=1, candidates=8)

    def picks(rec, select_on):
        rows = evaluate_pools(rec, select_on=select_on, **kw)["rows"]
        # best-single's training means identify the pool through its test mean pattern
        return [(r["benchmark"], r["group"], r["e_p"]) for r in rows if r["router"] == "best-single"]

    assert picks(planted, "train") == picks(other, "train")
    assert picks(planted, "all") != picks(other, "all")
    assert "RouterEval's way" in evaluate_pools(planted, select_on="all", **kw)["selection"]


def test_learned_routers_beat_best_single_on_planted_specialists(planted, tmp_path):
    report = evaluate_pools(planted, pools=(3, 5, 20), routers=("mf", "mf+val"), seeds=3,
                            candidates=8)
    overall = {(o["m"], o["router"]): o for o in report["summary"]["overall"]}
    for m in (3, 5, 20):
        for r in ("mf", "mf+val"):
            assert overall[(m, r)]["v_b"] > 1.02
            assert overall[(m, "oracle")]["mu"] >= overall[(m, r)]["mu"]
            lo, hi = overall[(m, r)]["v_b_lo"], overall[(m, r)]["v_b_hi"]
            assert lo <= overall[(m, r)]["v_b"] <= hi
        assert overall[(m, "best-single")]["v_b"] == pytest.approx(1.0)
        assert overall[(m, "random")]["mu"] <= overall[(m, "oracle")]["mu"]
    assert overall[(20, "oracle")]["mu"] > overall[(3, "oracle")]["mu"]
    # routing helps here, so validation (8 prompts per benchmark) keeps it on most pools
    assert np.mean([overall[(m, "mf+val")]["w_best"] for m in (3, 5, 20)]) < 0.5
    files = write_report(report, tmp_path / "out")
    data = json.loads(Path(files["json"]).read_text())  # strict JSON (NaN written as null)
    assert data["settings"]["select_on"] == "train"
    md = Path(files["markdown"]).read_text()
    assert "## arc" in md and "| mf+val |" in md and "training prompts only" in md
    assert len(files["plots"]) == 3
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in files["plots"])


def test_sweep_rejects_bad_settings(planted):
    with pytest.raises(ValueError, match="group"):
        evaluate_pools(planted, groups=("all_medium",), seeds=1)
    with pytest.raises(ValueError, match="benchmark"):
        evaluate_pools(planted, benchmarks=("gpqa",), seeds=1)
    with pytest.raises(ValueError, match="select_on"):
        evaluate_pools(planted, select_on="test", seeds=1)
    with pytest.raises(ValueError, match="unknown router"):
        evaluate_pools(planted, routers=("mf-text",), seeds=1)
    with pytest.raises(ValueError, match="reference router"):
        evaluate_pools(planted, routers=("oracle",), seeds=1)
    with pytest.raises(ValueError, match="validation"):
        evaluate_pools(planted, routers=("knn+val",), val=0, seeds=1)
    report = evaluate_pools(planted, pools=(3, 61), groups=("all_strong",), routers=("linear",),
                            seeds=1, candidates=2)
    assert report["skipped"] and report["skipped"][0]["m"] == 61


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_report_and_json(tmp_path):
    path = tmp_path / "records.parquet"
    planted_pool_frame(n_prompts=100, n_models=30).write_parquet(path)
    out = tmp_path / "report"
    res = subprocess.run([ROUTERREC, "evaluate", "pools", "--data", str(path), "--pools", "3,5",
                          "--seeds", "3,4", "--candidates", "4", "--routers", "knn,knn+val,knn+cv",
                          "--prompt-view", "full", "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert {o["router"] for o in payload["overall"]} == {"knn", "knn+val", "knn+cv",
                                                         *REFERENCE_ROUTERS}
    assert payload["selection"].startswith("pools chosen on training prompts only")
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert settings["prompt_view"] == "full" and settings["seeds"] == [3, 4]
    assert (out / "report.md").is_file()
    assert sorted(p.name for p in out.glob("*.png")) == [
        "pools_all_strong.png", "pools_all_weak.png", "pools_strong_to_weak.png"]


def test_cli_errors_are_clear(tmp_path):
    path = tmp_path / "records.csv"
    pl.DataFrame({"prompt": ["a", "b"], "model": ["x", "x"], "score": [1, 0]}).write_csv(path)
    cases = ((["--pools", "3,x"], "--pools expects"),
             (["--seeds", "0"], "--seeds: expected a positive count"),
             ([], "no benchmark column"))
    runs = run_many(*[["evaluate", "pools", "--data", path, "--out", tmp_path / "o", *args]
                      for args, _ in cases])  # independent: run at once
    for (_, message), res in zip(cases, runs):
        assert res.returncode != 0 and message in res.stderr, res.stderr


# ----------------------------------------------------------------------------- real data


def test_openllm_sweep_on_one_benchmark_is_quick_and_complete(shared_data):
    from routerrec.data.shared import load_openllm

    if not (shared_data / "openllm-v1").is_dir():
        pytest.skip("openllm-v1 not available")
    records = load_openllm(shared_data / "openllm-v1")
    report = evaluate_pools(records, benchmarks=["mmlu"], pools=(3, 100), routers=("linear", "linear+val"),
                            seeds=1, candidates=4)
    assert not report["skipped"]
    cells = {(c["group"], c["m"], c["router"]): c for c in report["summary"]["cells"]}
    assert len(cells) == 3 * 2 * (2 + len(REFERENCE_ROUTERS))
    for g in ("all_strong", "all_weak", "strong_to_weak"):
        assert cells[(g, 100, "oracle")]["mu"] >= cells[(g, 100, "linear")]["mu"]
        assert cells[(g, 3, "linear")]["v_r"] == pytest.approx(cells[(g, 3, "linear")]["mu"] / 0.864)


def test_cluster_best_is_reported_beside_the_exact_references():
    """Inside one benchmark every prompt has the same task (task-best is best-single), but
    clusters of the prompt texts can still find the specialists: three planted topics in one
    benchmark, one specialist model per topic."""
    from planted import topic_records

    topics = topic_records(300, seed=3, density=1.0)
    one = records_from_frame(topics.table.with_columns(benchmark=pl.lit("mixed"))
                             .join(topics.texts, on="prompt"))
    report = evaluate_pools(one, pools=(3,), groups=("all_strong",), routers=("linear",),
                            router_params={"linear": {"encoder_params": {"dim": 16}}},
                            seeds=1, candidates=8)
    assert report["settings"]["reference_routers"] == list(REFERENCE_ROUTERS)
    mu = {r["router"]: r["mu"] for r in report["rows"]}
    assert set(mu) == {"linear", *REFERENCE_ROUTERS}
    assert mu["cluster-best"] > mu["best-single"] + 0.2
    assert "| cluster-best |" in markdown_report(report)
