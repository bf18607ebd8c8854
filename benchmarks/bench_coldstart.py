"""Cold start on the Open LLM Leaderboard (5 benchmarks, 1,075 items, 5,036 models):
leave 20% of the models out (seed 0), fit on the rest, and for held-out models reveal only
the probes. Reports per-benchmark accuracy MAE (points) against the naive probe mean, AUC of
unprobed cells, interval coverage and routing gain, for every strategy and budget, for
ALS and logistic; and the time to add a model from 50 probes (median of 20, no refit).

Run once from the repository root (about 10-20 minutes on the shared 2-core machine):
    .venv/bin/python benchmarks/bench_coldstart.py [--max-models 300]
Writes benchmarks/results/coldstart_<method>.{json,md} and *.png.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import routerrec
from routerrec.evaluation.coldstart import evaluate_coldstart, write_report
from routerrec.data.shared import load_openllm, shared_data_dir

CONFIGS = {"als": dict(rank=32, reg=0.01, iterations=15),
           "logistic": dict(rank=16, iterations=15, members=1)}

parser = argparse.ArgumentParser()
parser.add_argument("--max-models", type=int, default=300)
parser.add_argument("--methods", default="als,logistic")
args = parser.parse_args()
if shared_data_dir("openllm-v1") is None:
    print("../shared/data/openllm-v1 is not here; nothing to do.")
    sys.exit(0)
out = Path(__file__).parent / "results"
records = load_openllm()
for method in args.methods.split(","):
    t0 = time.perf_counter()
    report = evaluate_coldstart(records, holdout_models=0.2, budgets=(10, 25, 50, 100),
                                method=method, params=CONFIGS[method], seed=0,
                                max_models=args.max_models, progress=True)
    report["evaluate_seconds"] = time.perf_counter() - t0
    # fold-in timing: 50 dopt probes of a held-out model, median of 20 (no refit)
    train = records.filter(models=[m for m in records.models if m != records.models[0]])
    model = routerrec.fit(train, method=method, **CONFIGS[method])
    mine = records.table.filter(records.table["model"] == records.models[0])
    answers = dict(zip(mine["prompt"], mine["score"]))
    probes = [p for p in routerrec.select_probes(model, 80, strategy="dopt") if p in answers][:50]
    results = {p: answers[p] for p in probes}
    routerrec.fold_in_model(model, "new", results)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        routerrec.fold_in_model(model, "new", results)
        times.append(time.perf_counter() - t)
    report["add_model_50_probes_ms"] = {"median": 1000 * float(np.median(times)),
                                        "max": 1000 * float(np.max(times))}
    d = out / f"coldstart_{method}"
    write_report(report, d)
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=1))
    print((d / "report.md").read_text())
