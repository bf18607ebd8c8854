"""The long layout: one row per observed (prompt, model) cell, as CSV/TSV, Parquet or JSONL.

Columns ``prompt``, ``model``, ``score`` and optional ``cost``, ``benchmark``, ``text``, under
the names the caller maps (:class:`~.layout.ReadOptions`). Ids may be integers (they become
text); a null cost means "unknown".
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from .columns import validate_long
from .layout import Layout, Part, ReadOptions
from .tables import SUFFIXES, read_table

__all__ = ["LAYOUTS"]


def _read(path: Path, options: ReadOptions, kind: str) -> Part:
    return validate_long(read_table(path, kind), str(path), options)


# one layout per table kind, named as format= names it; the fall-back for their suffixes
LAYOUTS = tuple(Layout(kind, partial(_read, kind=kind), SUFFIXES[kind]) for kind in ("csv", "parquet", "jsonl"))
