"""Load a wide prompts x models matrix (the shape of IRT response matrices): one row per
prompt, an id column first, optional text and benchmark columns, then one column per model
with empty cells where a model was not evaluated. Then price it with a list of per-model USD
per million tokens (LLMRouter's llm.json shape) and complete it with ALS.

Run from the repository root:  .venv/bin/python examples/load_matrix.py
Builds the matrix from ../shared/data/mmlu-pro (3,000 questions x 29 LLMs) when it is there,
else from the embedded synthetic sample; everything is written to a temporary folder. The
prices are made up for the example.
"""
import json
import tempfile
from pathlib import Path

import polars as pl

import routerrec
from routerrec.data.prices import with_prices
from routerrec.data.readers.registry import layout_for
from routerrec.data.sample import load_sample
from routerrec.data.shared import load_mmlu_pro, shared_data_dir

from layout_summary import summarise

if shared_data_dir("mmlu-pro") is not None:
    source = load_mmlu_pro()
    source = source.filter(prompts=source.table["prompt"].unique().sort().sample(3000, seed=0))
else:
    source = load_sample()
wide = source.table.pivot(on="model", index=["prompt", "benchmark"], values="score").sort("prompt")
wide = wide.rename({"prompt": "item"}).join(source.texts.rename({"prompt": "item"}), on="item", how="left")
wide = wide.select("item", "text", "benchmark", *source.models)

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "responses.csv"
    wide.write_csv(path)
    print(f"wrote {path.name}: {wide.height} rows x {wide.width} columns {wide.columns[:5]} ...; "
          f"read as the {layout_for(path).name!r} layout")
    records = routerrec.load_records(path)
    # a made-up price list, a different price for each model (USD per million tokens)
    prices = {m: {"input_price": 0.1 * (i + 1), "output_price": 0.3 * (i + 1)} for i, m in enumerate(records.models)}
    (Path(tmp) / "llm.json").write_text(json.dumps(prices))
    records = with_prices(records, Path(tmp) / "llm.json")  # tokens: 4 characters each, 256 out

summarise(records)
print(records.table.group_by("model").agg(pl.col("cost").mean().alias("mean USD per call"))
      .sort("model").head(3))
