"""Load a RouterEval / tinyBenchmarks pickle: {'data': {sub: {'correctness': items x models}},
'models': [...]}, numpy arrays inside a dict. Unpickling runs code from the file, so routerrec
reads it only with trust_pickle=True (on the command line, --trust-pickle); then complete the
matrix with ALS.

Run from the repository root:  .venv/bin/python examples/load_routereval.py
Builds the pickle from ../shared/data/mmlu-pro (3,000 questions x 29 LLMs, one sub-benchmark
per category) when it is there, else from the embedded synthetic sample; everything is
written to a temporary folder. Prompt ids become '<sub>-<item index>'.
"""
import pickle
import tempfile
from pathlib import Path

import numpy as np

import routerrec
from routerrec.data.records import RecordsError
from routerrec.data.sample import load_sample
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

from layout_summary import summarise

if shared_data_dir("mmlu-pro") is not None:
    source = load_mmlu_pro()
    source = source.filter(prompts=source.table["prompt"].unique().sort().sample(3000, seed=0))
else:
    source = load_sample()
m = source.matrix()
dense = np.full(m.shape, np.nan)  # NaN: not evaluated
rows = np.repeat(np.arange(m.shape[0]), np.diff(m.scores.indptr))
dense[rows, m.scores.indices] = m.scores.data
bench = source.prompt_benchmark
subs = {}
for i, prompt in enumerate(m.prompts):
    subs.setdefault(bench[prompt], []).append(i)
published = {"data": {sub: {"correctness": dense[items]} for sub, items in subs.items()}, "models": m.models}

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "routereval.pkl"
    with open(path, "wb") as fh:
        pickle.dump(published, fh)
    try:
        routerrec.load_records(path)
    except RecordsError as e:
        print("without trust:", e)
    records = routerrec.load_records(path, trust_pickle=True)  # we wrote this file ourselves

summarise(records)
