"""The field's metrics on RouterBench (RouterDC's split), in distribution and out of it.

For the default routers: RouteLLM's APGR and CPT(50%) / CPT(80%) on the default pair
(best-single vs the cheapest other model), RouterArena's score, the Pareto distance to the
oracle curve and AIQ, pooled over the three evals; then each eval held out of training
(``ood=[eval]``) beside the same eval's numbers in distribution (same test prompts).

Run from the repository root:
    .venv/bin/python benchmarks/bench_field_metrics.py [in|ood|all]   (default all)
Writes benchmarks/results/field_metrics.json (and updates the part it ran).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from routerrec.data.shared import load_routerbench, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench
from routerrec.util.files import atomic_write, strict_json

ROUTERS = ("mf", "knn", "linear", "lightfm")
RESULTS = Path(__file__).parent / "results" / "field_metrics.json"


def rows(report: dict, evals) -> dict:
    """The numbers docs/routerbench.md quotes, per eval and pooled."""
    out = {}
    pair = report["pair"]
    for name in evals:
        e, q = report["evals"][name], report["max_quality"]["evals"][name]
        p = pair["evals"].get(name)
        out[name] = {
            "n_prompts": e["n_prompts"],
            "aiq": {r: e["aiq"][r]["code"] for r in e["aiq"]},
            "gap_closed": {r: g["share"] for r, g in e["gap_closed"].items()},
            "pareto_distance": e["pareto_distance"],
            "arena_max_quality": {r: a["max_quality"] for r, a in e["arena"]["routers"].items()},
            "arena_best_single_model": max(e["arena"]["single_models"].values()),
            "pair": p and {"strong_score": p["strong_score"], "weak_score": p["weak_score"],
                           "routers": p["routers"]},
            "max_quality": q["mean_score"], "task_seen_in_training": q["task_seen_in_training"],
        }
    return out


def main(part: str) -> None:
    if shared_data_dir("routerbench") is None:
        sys.exit("../shared/data/routerbench is not here")
    train, test = load_routerbench(split="train"), load_routerbench(split="test")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if part in ("in", "all"):
        t0 = time.time()
        report = evaluate_routerbench(train, test, routers=ROUTERS, bootstrap=0, progress=True)
        results["in_distribution"] = {
            "pair": {k: report["pair"][k] for k in ("strong", "weak")},
            "pooled": {"pareto_distance": report["pooled"]["pareto_distance"],
                       "arena": report["pooled"]["arena"],
                       "pair": report["pair"]["pooled"],
                       "gap_closed": {r: g["share"] for r, g in report["pooled"]["gap_closed"].items()}},
            "evals": rows(report, report["evals"]), "seconds": time.time() - t0}
    if part in ("ood", "all"):
        results["ood"] = {}
        for name in sorted(set(test.prompt_benchmark.values())):
            t0 = time.time()
            report = evaluate_routerbench(train, test, routers=ROUTERS, bootstrap=0, ood=[name],
                                          progress=True)
            results["ood"][name] = {**rows(report, [name])[name],
                                    "pair_models": {k: report["pair"][k] for k in ("strong", "weak")},
                                    "seconds": time.time() - t0}
    text = json.dumps(strict_json(results), indent=1, allow_nan=False)
    atomic_write(RESULTS, lambda path: path.write_text(text))
    print(text[:6000])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
