"""Held-out quality of ALS on the Open LLM Leaderboard records (issue bar: AUC >= 0.95,
RMSE <= 0.30 with 10% of observed cells held out, seed 0), over a regularisation sweep,
next to the per-prompt-mean baseline.

    .venv/bin/python benchmarks/bench_als_quality.py [--regs 0.05,0.02,0.01,0.005]

Writes benchmarks/results/als_quality.json. Needs ../shared/data/openllm-v1.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import routerrec
from routerrec.cli.options import format_table
from routerrec.evaluation.metrics import heldout_report
from routerrec.data.shared import load_openllm, shared_data_dir

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--regs", default="0.05,0.02,0.01,0.005")
parser.add_argument("--rank", type=int, default=32)
parser.add_argument("--iterations", type=int, default=15)
args = parser.parse_args()
if shared_data_dir("openllm-v1") is None:
    sys.exit("../shared/data/openllm-v1 is absent; nothing to measure")

records = load_openllm()
train, test = records.split_cells(0.1, seed=0)
rows = []
for reg in map(float, args.regs.split(",")):
    t0 = time.perf_counter()
    model = routerrec.fit(train, method="als", rank=args.rank, reg=reg, iterations=args.iterations)
    seconds = time.perf_counter() - t0
    report = heldout_report(model, train, test)
    rows.append({"name": f"als reg={reg}", "fit_s": seconds, **report["als"]})
rows.append({"name": "prompt-mean", **report["prompt-mean"]})
rows.append({"name": "model-mean", **report["model-mean"]})
print(format_table(rows, ["name", "fit_s", "rmse", "mae", "auc", "accuracy", "log_loss"]))
out = Path(__file__).parent / "results" / "als_quality.json"
out.write_text(json.dumps({"data": "openllm-v1", "holdout": 0.1, "seed": 0, "rank": args.rank,
                           "iterations": args.iterations, "rows": rows}, indent=1))
print(f"wrote {out}")
