"""The small sample the CLI tests fit on: every 7th prompt of the embedded sample.

(A module, not ``conftest.py``: ``tests/conftest.py``'s session fixture and the CLI tests
both import it.)
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

import routerrec

SAMPLE = Path(routerrec.__file__).resolve().parent.parent / "data" / "sample"


def write_small_sample(folder: Path) -> Path:
    """Every 7th prompt of the embedded sample (286, all benchmarks) with its text, as Parquet:
    small enough for every router to fit in a few seconds."""
    texts = pl.read_parquet(SAMPLE / "prompts.parquet").gather_every(7).select("prompt", "text")
    path = folder / "small.parquet"
    pl.read_parquet(SAMPLE / "records.parquet").join(texts, on="prompt").write_parquet(path)
    return path
