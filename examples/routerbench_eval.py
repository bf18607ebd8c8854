"""RouterBench-style evaluation on RouterBench's own records (RouterDC's train/test split):
cost-quality hulls of the mf, knn, linear and lightfm routers against the zero router and the
oracle, with AIQ under both definitions and bootstrap intervals; then the same routers on
records without costs (the embedded sample, its cost column dropped): max-quality picks
against best-single, task-best and the oracle. Each report also has the field's other
metrics: RouteLLM's APGR and CPT on a strong / weak pair, RouterArena's score and the Pareto
distance to the oracle curve; the last part evaluates out of distribution (mbpp never seen
in training, judged on its test prompts).

Run from the repository root:  .venv/bin/python examples/routerbench_eval.py [OUT_DIR]
Reads ../shared/data/routerbench for the first part; skips it politely when it is absent.
"""
import sys
from pathlib import Path

import routerrec
from routerrec.data.records import Records
from routerrec.data.shared import load_routerbench, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench, write_report

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/routerbench")
if shared_data_dir("routerbench") is None:
    print("../shared/data/routerbench is not here; skipping the costed part.")
else:
    train, test = load_routerbench(split="train"), load_routerbench(split="test")
    report = evaluate_routerbench(train, test, routers=("mf", "knn", "linear", "lightfm"),
                                  bootstrap=100, progress=True)
    files = write_report(report, out)
    print(files["markdown"].read_text())
    print(f"plots: {', '.join(str(p) for p in files['plots'])}")
    pair = report["pair"]  # default: best-single (strong) vs the cheapest other model (weak)
    print(f"APGR, {pair['strong']} vs {pair['weak']}, pooled:",
          {r: round(m["apgr"], 3) for r, m in pair["pooled"]["routers"].items()})
    # out of distribution: mbpp's prompts leave training; the same mbpp test prompts are judged
    ood = evaluate_routerbench(train, test, routers=("linear", "lightfm"), bootstrap=100,
                               ood=["mbpp"], progress=True)
    print(write_report(ood, out / "ood-mbpp")["markdown"].read_text())

sample = routerrec.load_sample()
no_costs = Records(sample.table.drop("cost"), sample.texts, source="sample without costs")
train, test = no_costs.split_prompts(0.3, seed=0)
report = evaluate_routerbench(train, test, routers=("knn", "linear"), bootstrap=100)
files = write_report(report, out / "no-costs")
print(files["markdown"].read_text())
