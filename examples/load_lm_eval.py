"""Load a folder of lm-evaluation-harness outputs written with --log_samples:
OUT/<model>/samples_<task>_<date>.jsonl, one line per doc with doc_id, doc and the doc's
metrics (acc, exact_match, ...). Each subfolder is a model, each task a benchmark, each doc a
prompt '<task>-<doc_id>' whose text is the doc's question; then complete the matrix with ALS.

Run from the repository root:  .venv/bin/python examples/load_lm_eval.py
Builds the folder from ../shared/data/mmlu-pro (3,000 questions x 29 LLMs, one task per
category) when it is there, else from the embedded synthetic sample; everything is written
to a temporary folder. With your own runs:  routerrec.load_records("path/to/OUT").
"""
import json
import tempfile
from pathlib import Path

import polars as pl

import routerrec
from routerrec.data.sample import load_sample
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

from layout_summary import summarise

DATE = "2025-01-31T12-00-00.000000"

if shared_data_dir("mmlu-pro") is not None:
    source = load_mmlu_pro()
    source = source.filter(prompts=source.table["prompt"].unique().sort().sample(3000, seed=0))
else:
    source = load_sample()
table = source.table.join(source.texts, on="prompt", how="left").with_columns(
    pl.col("benchmark").str.replace_all(r"\W+", "_").alias("task"))
doc_ids = {p: i for i, p in enumerate(source.prompts)}

with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "lm_eval_out"
    for (model, task), cells in table.group_by("model", "task"):
        folder = out / model.replace("/", "__")  # lm-eval's sanitised model name
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"samples_{task}_{DATE}.jsonl", "w") as fh:
            for row in cells.sort("prompt").iter_rows(named=True):
                fh.write(json.dumps({"doc_id": doc_ids[row["prompt"]], "doc": {"question": row["text"]},
                                     "target": "A", "filter": "none", "metrics": ["acc"],
                                     "acc": row["score"]}) + "\n")
    print(f"wrote {sum(1 for _ in out.glob('*/samples_*.jsonl'))} samples files under {out.name}/")
    records = routerrec.load_records(out)

summarise(records)
