"""Add a new LLM to a fitted Open LLM Leaderboard model from 50 probes.

Pretends one leaderboard model is new: fits ALS without it, picks 50 probes (D-optimal and
adaptive), "runs" the model on them (reads its real answers), folds it in without refitting
and prints its estimated accuracy per benchmark, with 95% intervals, next to the truth.

Run from the repository root:  .venv/bin/python examples/new_llm.py
Reads ../shared/data/openllm-v1 (never copied into the project); exits politely when absent.
"""
import sys

import polars as pl

import routerrec
from routerrec.cli.options import format_table
from routerrec.data.shared import load_openllm, shared_data_dir

if shared_data_dir("openllm-v1") is None:
    print("../shared/data/openllm-v1 is not here; nothing to do.")
    sys.exit(0)

records = load_openllm()
complete = (records.table.group_by("model").len().filter(pl.col("len") == records.n_prompts)
            .sort("model")["model"])
name = complete[len(complete) // 2]  # a model that ran every item, so the truth is known
model = routerrec.fit(records.filter(models=[m for m in records.models if m != name]),
                      method="als", rank=32, reg=0.01, iterations=15, progress=True)
mine = records.table.filter(pl.col("model") == name)
answers = dict(zip(mine["prompt"], mine["score"]))
truth = mine.group_by("benchmark").agg(pl.col("score").mean())
truth = dict(zip(truth["benchmark"], truth["score"])) | {"overall": mine["score"].mean()}


def show(title, result):
    print(f"\n{title}: {result.n_probes} probes, folded in in {1000 * result.seconds:.1f} ms")
    rows = [{"benchmark": b, "estimate": v["estimate"], "low": v["low"], "high": v["high"],
             "truth": truth[b]} for b, v in result.benchmarks.items()]
    print(format_table(rows, ["benchmark", "estimate", "low", "high", "truth"]))


probes = routerrec.select_probes(model, 50, strategy="dopt")
show("D-optimal", routerrec.fold_in_model(model, name, {p: answers[p] for p in probes}))

session = routerrec.ProbeSession(model, budget=50)
while not session.done:
    prompt = session.propose()
    session.record(prompt, answers[prompt])  # here: run the new LLM on the prompt
show("adaptive", session.result(name))
