"""Routers at maximum quality on records without costs, beside best-single, task-best and the
oracle (the table "Results without costs" of docs/routerbench.md).

    .venv/bin/python benchmarks/bench_max_quality.py

The embedded sample with its cost column dropped (``split_prompts(0.3, 0)``) and, when
../shared/data/mmlu-pro is here, MMLU-Pro without its cost proxy (``split_prompts(0.2, 0)``);
default routers and parameters, 200 bootstrap resamples. Writes
benchmarks/results/max_quality.json (the pooled tables) and prints them.
"""
import json
import time
from pathlib import Path

import routerrec
from routerrec.data.records import Records
from routerrec.data.shared import load_mmlu_pro, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench

ROUTERS = ("mf", "knn", "linear", "lightfm")
RESULTS = Path(__file__).resolve().parent / "results" / "max_quality.json"

sample = routerrec.load_sample()
sets = {"sample without costs": (Records(sample.table.drop("cost"), sample.texts,
                                         source="sample without costs"), 0.3)}
if shared_data_dir("mmlu-pro") is not None:
    sets["mmlu-pro without its cost proxy"] = (load_mmlu_pro(), 0.2)
out = {}
for name, (records, share) in sets.items():
    t0 = time.perf_counter()
    train, test = records.split_prompts(share, 0)
    pooled = evaluate_routerbench(train, test, routers=ROUTERS, bootstrap=200,
                                  progress=True)["max_quality"]["pooled"]
    out[name] = {"seconds": round(time.perf_counter() - t0, 1), **pooled}
    print(name, json.dumps({"mean_score": pooled["mean_score"],
                            "minus_baseline": pooled["minus_baseline"]}, indent=1))
RESULTS.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {RESULTS}")
