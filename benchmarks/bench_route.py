"""Routing benchmarks: batch throughput, RouterBench AIQ bars, MMLU-Pro router vs best single.

    python benchmarks/bench_route.py throughput   # prompts/s end to end, default encoder
    python benchmarks/bench_route.py routerbench  # ../shared/data/routerbench train -> test
    python benchmarks/bench_route.py mmlu         # ../shared/data/mmlu-pro, seeded 80/20 split

Results go to benchmarks/results/route_*.json (+ PNGs for RouterBench). Timings on a shared
2-core machine are noisy: throughput reports the median of several runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from routerrec.data.shared import load_mmlu_pro, load_routerbench, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench, lambda_grid, write_report
from routerrec.routing.base import true_matrices
from routerrec.routing.registry import make_router

RESULTS = Path(__file__).resolve().parent / "results"
# The last revision whose tfidf encoder tokenised with scikit-learn (before the numba counter).
BASELINE = "3c8be7b"


def _save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=1))
    print(f"wrote {path}")
    return path


def _baseline_package(rev: str, dest: Path) -> Path:
    """routerrec's package as of git revision ``rev``, extracted under ``dest`` (for PYTHONPATH)."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "routerrec"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def throughput(repeats: int = 5, n_prompts: int = 50_000, baseline: str | None = BASELINE) -> dict:
    """Prompts/s of ``Router.route`` on texts (featurisation included) and of the CLI batch
    (a fresh process each run: start-up, reading, featurisation and writing included).

    With ``baseline`` (a git revision), the CLI of that revision runs on the same router and
    file, its runs interleaved with the current CLI's, so both see the same machine load."""
    import routerrec

    rec = routerrec.load_sample()
    texts_short = rec.texts["text"].to_list()
    corpora = {"sample (short prompts)": (rec, (texts_short * 30)[:n_prompts])}
    if shared_data_dir() is not None:
        rb = load_routerbench(split="train")
        long_texts = rb.texts["text"].to_list()
        corpora["routerbench (long prompts)"] = (rb, (long_texts * 30)[:n_prompts])
    out = {"repeats": repeats, "batch_prompts": n_prompts, "encoder": "tfidf (defaults)",
           "cores": os.cpu_count(), "baseline_revision": baseline,
           "load_average_start": os.getloadavg(), "runs": {}}
    for label, (records, texts) in corpora.items():
        router = make_router("mf").fit(records)
        router.route(texts[:100], wtp=1e3)  # warm up (numba kernels loaded or compiled)
        api = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            router.route(texts, wtp=1e3)
            api.append(len(texts) / (time.perf_counter() - t0))
        cli, before = [], []
        with tempfile.TemporaryDirectory() as tmp:
            router.save(Path(tmp) / "r")
            batch = Path(tmp) / "p.jsonl"
            batch.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
            args = ["route", "--model", str(Path(tmp) / "r"), "--prompts", str(batch),
                    "--wtp", "1000", "--out", str(Path(tmp) / "d.jsonl"), "--quiet"]
            runners = [(cli, [str(Path(sys.executable).parent / "routerrec")], None)]
            if baseline:
                old = _baseline_package(baseline, Path(tmp))
                check = f"import routerrec; assert routerrec.__file__.startswith({str(old)!r})"
                runners.append((before, [sys.executable, "-c", f"{check}; from routerrec.cli.main import main; main()"],
                                dict(os.environ, PYTHONPATH=str(old))))
            for _ in range(repeats):
                for runs, cmd, env in runners:  # cwd=tmp: `python -c` puts the cwd first on sys.path
                    t0 = time.perf_counter()
                    subprocess.run(cmd + args, check=True, capture_output=True, env=env, cwd=tmp)
                    runs.append(len(texts) / (time.perf_counter() - t0))
        out["runs"][label] = {"prompts": len(texts), "models": len(router.models_),
                              "mean_chars": float(np.mean([len(t) for t in texts])),
                              "api_prompts_per_s_median": float(np.median(api)), "api_runs": api,
                              "cli_prompts_per_s_median": float(np.median(cli)), "cli_runs": cli}
        if before:
            out["runs"][label].update(baseline_cli_prompts_per_s_median=float(np.median(before)),
                                      baseline_cli_runs=before)
        print(label, out["runs"][label], flush=True)
    out["load_average_end"] = os.getloadavg()
    _save("route_throughput.json", out)
    return out


def routerbench(bootstrap: int = 200) -> dict:
    train, test = load_routerbench(split="train"), load_routerbench(split="test")
    t0 = time.perf_counter()
    report = evaluate_routerbench(train, test, routers=("mf", "knn", "linear", "lightfm", "ensemble"),
                                  bootstrap=bootstrap, progress=True)
    report["settings"]["seconds"] = time.perf_counter() - t0
    write_report(report, RESULTS / "route_routerbench")
    _save("route_routerbench.json", report)
    print((RESULTS / "route_routerbench" / "report.md").read_text())
    return report


def mmlu(bootstrap: int = 200, seed: int = 0) -> dict:
    """Routers vs the best single model on MMLU-Pro (cost proxy: output characters, not USD)."""
    rec = load_mmlu_pro(cost_proxy=True)
    train, test = rec.split_prompts(0.2, seed, stratify_by_benchmark=True)
    models = train.models
    truth, cost = true_matrices(test, models)
    ok = ~(np.isnan(truth).any(axis=1) | np.isnan(cost).any(axis=1))
    keep = [p for p, k in zip(test.prompts, ok) if k]
    test = test.filter(prompts=keep)
    truth, cost = true_matrices(test, models)
    single_q, single_c = truth.mean(axis=0), cost.sum(axis=0)
    best = int(np.argmax(single_q))  # best single model on the test prompts themselves
    rng = np.random.default_rng(seed)
    boots = [rng.integers(len(keep), size=len(keep)) for _ in range(bootstrap)]
    rows = np.arange(len(keep))
    out = {"cost_proxy": "output_chars (length of the model's answer), not USD",
           "split": {"test_fraction": 0.2, "seed": seed, "stratified_by": "category"},
           "train_prompts": train.n_prompts, "test_prompts": len(keep),
           "best_single": {"model": models[best], "accuracy": float(single_q[best]),
                           "total_cost": float(single_c[best])},
           "routers": {}}
    for name in ("mf", "linear", "knn", "lightfm"):
        t0 = time.perf_counter()
        router = make_router(name).fit(train)
        fit_s = time.perf_counter() - t0
        s, c = router.predict_records(test), router.predict_cost_records(test)
        best_point = None
        for lam in lambda_grid():
            pick = router.choose(s, c, wtp=lam)
            q, tc = truth[rows, pick].mean(), cost[rows, pick].sum()
            if tc <= single_c[best] and (best_point is None or q > best_point["accuracy"]):
                best_point = {"wtp": float(lam), "accuracy": float(q), "total_cost": float(tc),
                              "pick": pick}
        pick = best_point.pop("pick")
        diff = [truth[b, pick[b]].mean() - truth[b, best].mean() for b in boots]
        best_point["accuracy_minus_best_single_ci"] = [float(np.percentile(diff, 2.5)),
                                                       float(np.percentile(diff, 97.5))]
        best_point["cost_ratio_to_best_single"] = best_point["total_cost"] / float(single_c[best])
        best_point["fit_seconds"] = fit_s
        out["routers"][name] = best_point
        print(name, best_point, flush=True)
    _save("route_mmlu_pro.json", out)
    return out


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "throughput"
    if part != "throughput" and shared_data_dir() is None:
        sys.exit("../shared/data is absent: this part needs the real records")
    {"throughput": throughput, "routerbench": routerbench, "mmlu": mmlu}[part]()
