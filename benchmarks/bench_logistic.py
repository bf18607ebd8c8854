"""Held-out quality of logistic MF on the Open LLM Leaderboard records (issue 3 bar: AUC >=
0.965, accuracy >= 0.895, log-loss <= 0.245 with 10% of observed cells held out, seed 0),
its defaults next to other ranks, ridge-only training (no learned prior), ALS's defaults
and the mean baselines, all on the same split and in the same process.

    .venv/bin/python benchmarks/bench_logistic.py [--ranks 64] [--iterations N]

Writes benchmarks/results/logistic.json. Needs ../shared/data/openllm-v1.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import routerrec
from routerrec.cli import format_table
from routerrec.methods import logistic
from routerrec.metrics import heldout_report
from routerrec.records import load_openllm, shared_data_dir

BARS = {"auc": (">=", 0.965), "accuracy": (">=", 0.895), "log_loss": ("<=", 0.245)}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--ranks", default="64", help="ranks to fit besides the default's")
parser.add_argument("--iterations", type=int, default=None,
                    help="sweeps for those ranks (default: the method's)")
args = parser.parse_args()
if shared_data_dir() is None or not (shared_data_dir() / "openllm-v1").is_dir():
    sys.exit("../shared/data/openllm-v1 is absent; nothing to measure")

records = load_openllm()
train, test = records.split_cells(0.1, seed=0)
defaults = dict(logistic.DEFAULTS)
runs = [("logistic defaults", "logistic", {})]
extra = {"iterations": args.iterations} if args.iterations else {}
runs += [(f"logistic rank={r}", "logistic", {"rank": r, **extra})
         for r in map(int, filter(None, args.ranks.split(","))) if r != defaults["rank"]]
runs.append(("logistic ridge only", "logistic", {"warmup": defaults["iterations"]}))
runs.append(("als defaults", "als", {}))
rows, report = [], None
for name, method, params in runs:
    t0 = time.perf_counter()
    model = routerrec.fit(train, method=method, **params)
    seconds = time.perf_counter() - t0
    report = heldout_report(model, train, test)
    rows.append({"name": name, "params": model.params, "fit_s": seconds, **report[method]})
    print(f"{name}: {seconds:.1f} s", flush=True)
for base in ("prompt-mean", "model-mean"):
    rows.append({"name": base, **report[base]})
print(format_table(rows, ["name", "fit_s", "rmse", "auc", "accuracy", "log_loss"]))
bars = {row["name"]: {k: {"bar": f"{op} {v}", "measured": row[k],
                          "met": row[k] >= v if op == ">=" else row[k] <= v}
                      for k, (op, v) in BARS.items()}
        for row in rows if row["name"].startswith("logistic")}
for name, bar in bars.items():
    print(f"bars, {name}:", {k: (round(b["measured"], 4), b["met"]) for k, b in bar.items()})
out = Path(__file__).parent / "results" / "logistic.json"
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps({"data": "openllm-v1", "holdout": 0.1, "seed": 0,
                           "defaults": defaults, "bars": bars, "rows": rows}, indent=1))
print(f"wrote {out}")
