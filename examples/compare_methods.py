"""Compare routerrec's completion methods on real records: MMLU-Pro (29 LLMs x 12,032
questions, 0/1 correctness), 10% of observed cells held out (seed 0), every method with
its defaults, next to the mean baselines.

Run from the repository root:  .venv/bin/python examples/compare_methods.py
Reads ../shared/data/mmlu-pro (real records, never copied into the project); exits
politely when it is absent.
"""
import sys
import time

import routerrec
from routerrec.cli.options import format_table
from routerrec.evaluation.metrics import heldout_report
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

if shared_data_dir("mmlu-pro") is None:
    print("../shared/data/mmlu-pro is not here; nothing to do.")
    sys.exit(0)

records = load_mmlu_pro()
print(records)
train, test = records.split_cells(0.1, seed=0)
rows = []
for method in ("als", "logistic", "sgd", "knn"):
    t0 = time.perf_counter()
    model = routerrec.fit(train, method=method)
    seconds = time.perf_counter() - t0
    report = heldout_report(model, train, test)
    rows.append({"name": method, "fit_s": seconds, **report[method]})
rows += [{"name": name, **report[name]} for name in ("global-mean", "model-mean", "prompt-mean")]
print(format_table(rows, ["name", "fit_s", "rmse", "auc", "accuracy", "log_loss"]))

# Every method folds in a new LLM the same way: re-add one from 200 of its answers.
name = train.models[0]
cells = train.table.filter(train.table["model"] == name).sample(200, seed=0)
for method in ("als", "logistic", "knn"):
    without = routerrec.fit(train.filter(models=train.models[1:]), method=method)
    added = without.add_model(name, dict(zip(cells["prompt"], cells["score"])))
    mine = test.table.filter(test.table["model"] == name)
    pred = added.predict(mine["prompt"].to_list(), [name])[:, 0]
    print(f"{method}: {name} added from 200 answers, held-out RMSE "
          f"{((pred - mine['score'].to_numpy()) ** 2).mean() ** 0.5:.3f}")
