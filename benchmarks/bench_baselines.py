"""The baselines every router is compared with, on the three shared data sets at maximum
quality: best-single, task-best (by the test prompts' task labels), task-best (text) (the
task from its text classifier), cluster-best, random (in expectation) and the oracle, with
paired bootstrap intervals against the stronger of best-single and task-best; plus the task
classifier's cross-validated accuracy and held-out accuracy on the test prompts, and with
costs (RouterBench) the AIQ of task-best's and cluster-best's curves beside the zero router.

    .venv/bin/python benchmarks/bench_baselines.py [--bootstrap 200]

Data (skipped when absent from ../shared/data): RouterBench's 3 evals with RouterDC's
train/test split, MMLU-Pro 80/20 by prompt (``split_prompts(0.2, 0)``), openllm-v1 items 80/20
by prompt (``split_prompts(0.2, 0)``). No learned router is fitted (``routers=()``): these are
the yardsticks. Writes benchmarks/results/baselines.json and prints the pooled tables.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from routerrec.data.shared import load_mmlu_pro, load_openllm, load_routerbench, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench
from routerrec.routing.registry import make_router

RESULTS = Path(__file__).resolve().parent / "results" / "baselines.json"


def data_sets():
    if shared_data_dir("routerbench") is not None:
        yield "routerbench (3 evals, RouterDC split)", lambda: (load_routerbench(split="train"),
                                                                load_routerbench(split="test"))
    if shared_data_dir("mmlu-pro") is not None:
        yield "mmlu-pro (80/20 by prompt)", lambda: load_mmlu_pro().split_prompts(0.2, 0)
    if shared_data_dir("openllm-v1") is not None:
        yield "openllm-v1 (80/20 by prompt)", lambda: load_openllm().split_prompts(0.2, 0)


def test_accuracy(train, test) -> float:
    """Share of test prompts whose task the classifier (fitted on train) gets right."""
    groups = make_router("task-best").fit(train).groups_
    want = [groups.names.index(test.prompt_benchmark[p]) for p in test.prompts]
    return float(np.mean(groups.assign_texts(test.text_of(test.prompts)) == want))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    out = {}
    for name, load in data_sets():
        train, test = load()
        t0 = time.perf_counter()
        report = evaluate_routerbench(train, test, routers=(), bootstrap=args.bootstrap)
        q = report["max_quality"]
        seconds = time.perf_counter() - t0
        out[name] = {"seconds": round(seconds, 1), "train_prompts": train.n_prompts,
                     "test_prompts": test.n_prompts,
                     "task_classifier_cv_accuracy": q["task_classifier_accuracy"],
                     "task_classifier_test_accuracy": test_accuracy(train, test),
                     "clusters": len(q["cluster_best"]), "best_single": q["best_single"],
                     "task_best": q["task_best"], "pooled": q["pooled"],
                     "evals": {k: {"mean_score": v["mean_score"], "baseline": v["baseline"]}
                               for k, v in q["evals"].items()},
                     # with costs: AIQ (code) of the baselines' curves, per eval and pooled
                     "aiq": {k: {r: [a["code"], a["code_ci"]] for r, a in e["aiq"].items()}
                             for k, e in [*report["evals"].items(),
                                          *([("pooled", report["pooled"])]
                                            if report["pooled"] else [])]}}
        p = q["pooled"]
        print(f"{name}: {seconds:.0f} s; classifier {q['task_classifier_accuracy']:.3f} (cv), "
              f"{out[name]['task_classifier_test_accuracy']:.3f} (test); "
              f"{len(q['cluster_best'])} clusters")
        for r, m in p["mean_score"].items():
            d = p["minus_baseline"].get(r)
            print(f"  {r:18s} {m:.4f}" + (f"  {d['diff']:+.4f} [{d['ci'][0]:+.4f}, "
                                           f"{d['ci'][1]:+.4f}]" if d else "  (bar)"))
        for k, e in out[name]["aiq"].items():
            print(f"  AIQ {k}: " + ", ".join(f"{r} {v[0]:.4f}" for r, v in e.items()))
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
