"""Load the scores-JSON layout router papers publish (RouterDC, LLMRouter, ...): a JSON array
of {"question": ..., "scores": {model: score}, "category": ...} objects, one per prompt,
without ids (routerrec makes them from the text), then complete the matrix with ALS.

Run from the repository root:  .venv/bin/python examples/load_scores_json.py
Builds the file from ../shared/data/mmlu-pro (3,000 questions x 29 LLMs) when it is there,
else from the embedded synthetic sample; everything is written to a temporary folder.
"""
import json
import tempfile
from pathlib import Path

import routerrec
from routerrec.data.sample import load_sample
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

from layout_summary import summarise

if shared_data_dir("mmlu-pro") is not None:
    source = load_mmlu_pro()
    source = source.filter(prompts=source.table["prompt"].unique().sort().sample(3000, seed=0))
else:
    source = load_sample()
bench = source.prompt_benchmark
objects = {}
for row in source.table.iter_rows(named=True):
    p = row["prompt"]
    obj = objects.setdefault(p, {"question": source.text_of([p])[0], "scores": {}, "category": bench[p]})
    obj["scores"][row["model"]] = row["score"]

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "router_train.json"
    path.write_text(json.dumps(list(objects.values())))
    print(f"wrote {path.name}: {len(objects)} objects like", json.dumps(next(iter(objects.values())))[:160], "...")
    # a question text may repeat (MMLU-Pro has a few): its scores are averaged
    records = routerrec.load_records(path, on_duplicate="mean")

summarise(records)
