"""The long layout: one row per observed (prompt, model) cell, as CSV/TSV, Parquet or JSONL.

Columns ``prompt``, ``model``, ``score`` and optional ``cost``, ``benchmark``, ``text``, under
the names the caller maps (:class:`~.layout.ReadOptions`). Ids may be integers (they become
text); a null cost means "unknown". A JSONL id that is a list or an object is refused (polars
would turn it into its JSON text where the column also holds strings).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from .columns import number_rows, resolve_columns, validate
from .layout import Layout, Part, ReadOptions
from .tables import SUFFIXES, read_table, refuse_json_containers

__all__ = ["LAYOUTS"]


def _read(path: Path, options: ReadOptions, kind: str) -> Part:
    df = read_table(path, kind)
    mapping = resolve_columns(df.columns, str(path), options)
    if kind == "jsonl":
        ids = ("prompt", "model", "benchmark")
        refuse_json_containers(path, df, {c: mapping[c] for c in ids if c in mapping})
    return validate(number_rows(df, str(path), mapping), str(path), mapping)


# one layout per table kind, named as format= names it; the fall-back for their suffixes
LAYOUTS = tuple(Layout(kind, partial(_read, kind=kind), SUFFIXES[kind]) for kind in ("csv", "parquet", "jsonl"))
