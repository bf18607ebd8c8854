"""Reading a records file into a polars frame, with errors that name the file (and the bad JSON line).

Every cell of a CSV is read as text: converting it (and reporting the row that fails) is
:mod:`.columns`' job.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import polars as pl

from ..records import RecordsError

__all__ = ["SUFFIXES", "read_table", "read_columns"]

# table kind -> the file name endings read as that kind
SUFFIXES = {
    "csv": (".csv", ".csv.gz", ".tsv"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
}


def _separator(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _first_bad_json_line(path: Path) -> Optional[int]:
    def _reject(c):
        raise ValueError(c)

    row = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            row += 1
            try:
                json.loads(raw, parse_constant=_reject)
            except ValueError:
                return row
    return None


def read_table(path: Path, kind: str) -> pl.DataFrame:
    """The whole file as a frame (``kind`` is a key of :data:`SUFFIXES`)."""
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if path.is_dir():
        raise RecordsError("is a directory, not a file", path=path)
    if path.stat().st_size == 0:
        raise RecordsError("file is empty", path=path)
    try:
        if kind == "csv":
            # everything as text: conversion (and its errors) is ours, row by row
            df = pl.read_csv(path, infer_schema=False, separator=_separator(path))
        elif kind == "parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.NoDataError:
        raise RecordsError(f"no data: not a valid {kind.upper()} file", path=path) from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
        row = _first_bad_json_line(path) if kind == "jsonl" else None
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RecordsError(
            f"cannot be read as {kind.upper()}" + (" (invalid JSON)" if row else "") + f": {detail}",
            path=path,
            row=row,
        ) from None
    return df


def read_columns(path: Path, kind: str) -> list:
    """The column names of a CSV or Parquet file without reading its rows; ``[]`` when unreadable.

    For a layout's ``claims``: the reader that is chosen reports what is wrong with the file.
    """
    try:
        if kind == "parquet":
            return list(pl.read_parquet_schema(path))
        return pl.read_csv(path, n_rows=0, infer_schema=False, separator=_separator(path)).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError):
        return []
