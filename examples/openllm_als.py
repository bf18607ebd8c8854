"""Complete the Open LLM Leaderboard matrix (5,036 models x 1,075 items, 25% missing) with
explicit ALS and compare held-out quality with the mean baselines.

Run from the repository root:  .venv/bin/python examples/openllm_als.py
Reads ../shared/data/openllm-v1 (real records, never copied into the project); exits
politely when it is absent.
"""
import sys
import time

import routerrec
from routerrec.cli.options import format_table
from routerrec.evaluation.metrics import heldout_report
from routerrec.data.shared import load_openllm, shared_data_dir

if shared_data_dir("openllm-v1") is None:
    print("../shared/data/openllm-v1 is not here; nothing to do.")
    sys.exit(0)

records = load_openllm()
print(records)
train, test = records.split_cells(0.1, seed=0)
t0 = time.perf_counter()
model = routerrec.fit(train, method="als", rank=32, reg=0.01, iterations=15, progress=True)
print(f"ALS fit: {time.perf_counter() - t0:.1f} s")
report = heldout_report(model, train, test)
print(format_table([{"name": k, **v} for k, v in report.items()],
                   ["name", "n", "rmse", "mae", "auc", "accuracy", "log_loss"]))

# Fold-in: the LLM with the most records, re-added from 50 of its answers.
name = train.table["model"].value_counts(sort=True)["model"][0]
cells = train.table.filter(train.table["model"] == name).sample(50, seed=0)
without = routerrec.fit(train.filter(models=[m for m in train.models if m != name]),
                        method="als", rank=32, reg=0.01, iterations=15)
probes = dict(zip(cells["prompt"], cells["score"]))
times = []
for _ in range(5):
    t0 = time.perf_counter()
    added = without.add_model(name, probes)
    times.append(time.perf_counter() - t0)
print(f"add_model({name!r}) from 50 answers: {1000 * sorted(times)[2]:.1f} ms (median of 5); "
      f"predicted mean accuracy {added.predict(models=[name]).mean():.3f}, "
      f"observed {train.table.filter(train.table['model'] == name)['score'].mean():.3f}")
