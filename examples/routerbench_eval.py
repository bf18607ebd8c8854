"""RouterBench-style evaluation on RouterBench's own records (RouterDC's train/test split):
cost-quality hulls of the mf, knn, linear and lightfm routers against the zero router and the
oracle, with AIQ under both definitions and bootstrap intervals.

Run from the repository root:  .venv/bin/python examples/routerbench_eval.py [OUT_DIR]
Reads ../shared/data/routerbench; exits politely when it is absent.
"""
import sys
from pathlib import Path

from routerrec.data.shared import load_routerbench, shared_data_dir
from routerrec.evaluation.routerbench import evaluate_routerbench, write_report

if shared_data_dir("routerbench") is None:
    print("../shared/data/routerbench is not here; nothing to do.")
    sys.exit(0)

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/routerbench")
report = evaluate_routerbench(load_routerbench(split="train"), load_routerbench(split="test"),
                              routers=("mf", "knn", "linear", "lightfm"), bootstrap=100,
                              progress=True)
files = write_report(report, out)
print(files["markdown"].read_text())
print(f"plots: {', '.join(str(p) for p in files['plots'])}")
