"""The benchmark named by a file's name, for record sets published as one file per benchmark.

RouterDC-style folders hold ``mmlu_train.json``, ``gsm8k-test.json``, ... with no task field;
``load_records(paths, benchmark_from_name=True)`` labels every row of each file with
:func:`benchmark_from_name` of its path, replacing any benchmark the file gives.

>>> benchmark_from_name("data/mmlu_train.json"), benchmark_from_name("gsm8k-test.json")
('mmlu', 'gsm8k')
>>> benchmark_from_name("arc_challenge.csv.gz"), benchmark_from_name("models/org__m1")
('arc_challenge', 'org__m1')
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from .layout import Part

__all__ = ["SPLIT_WORDS", "benchmark_from_name", "with_file_benchmark"]

SPLIT_WORDS = ("train", "test", "val", "valid", "validation", "dev")
_SPLIT = re.compile(r"[-_.](?:" + "|".join(SPLIT_WORDS) + r")$", re.IGNORECASE)
_SUFFIX = re.compile(r"(\.(?:csv|tsv|parquet|pq|json|jsonl|ndjson|pkl|pickle|gz))+$", re.IGNORECASE)


def benchmark_from_name(path) -> str:
    """The file name without its suffixes and without a trailing split word
    (``_train``, ``-test``, ... of :data:`SPLIT_WORDS`)."""
    stem = _SUFFIX.sub("", Path(path).name)
    return _SPLIT.sub("", stem) or stem


def with_file_benchmark(part: Part, path) -> Part:
    """``part`` with every row's benchmark set to :func:`benchmark_from_name` of ``path``."""
    name = benchmark_from_name(path)
    return Part(part.rows.with_columns(pl.lit(name, dtype=pl.String).alias("benchmark")), part.texts)
