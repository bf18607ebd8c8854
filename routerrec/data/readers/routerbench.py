"""RouterBench's wide layout: one row per prompt, a score column and a ``|total_cost`` column per model.

Recognised from the columns ``sample_id``, ``prompt``, ``eval_name`` and ``<model>|total_cost``
(or forced with ``format="routerbench"``), in CSV or Parquet; ``format="routerbench-pkl"``
reads the same layout from RouterBench's pandas pickle, only with ``trust_pickle=True``.
Melted into long rows: prompt = ``sample_id``, benchmark = ``eval_name``, text = the turns of
``prompt`` joined by newlines; an empty score cell means "not evaluated". The caller's column
names are not used.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Optional, Sequence

import polars as pl

from ..records import RecordsError
from .columns import COST_FROM, ROW, SCORE_FROM, validate
from .layout import Layout, Part, ReadOptions
from .tables import SUFFIXES, read_columns, read_table, table_kind, WIDE_KINDS

__all__ = ["LAYOUTS"]

_COST = "|total_cost"
_RESPONSE = "|model_response"
_REQUIRED = ("sample_id", "prompt", "eval_name")
# canonical name -> RouterBench's column, for errors
_MAPPING = {"prompt": "sample_id", "model": "model", "score": "score", "cost": "cost", "benchmark": "eval_name"}


def _is_wide(columns: Sequence[str]) -> bool:
    """Whether ``columns`` are RouterBench's wide layout."""
    return all(c in columns for c in _REQUIRED) and any(c.endswith(_COST) for c in columns)


def _turns_to_text(s: Optional[str]) -> Optional[str]:
    if s is None:
        return None
    try:
        v = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return s
    if isinstance(v, (list, tuple)):
        return "\n".join(str(x) for x in v)
    return str(v)


def _melt(df: pl.DataFrame, path: str) -> tuple:
    """Raw long rows (+ texts) of a wide frame."""
    cols = df.columns
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        raise RecordsError(
            f"not RouterBench's wide layout: missing column(s) {missing}; columns present: {cols}", path=path
        )
    models = [c[: -len(_COST)] for c in cols if c.endswith(_COST)]
    if not models:
        raise RecordsError(f"not RouterBench's wide layout: no '<model>{_COST}' columns; columns present: {cols}",
                           path=path)
    absent = [m for m in models if m not in cols]
    if absent:
        raise RecordsError(f"score column(s) missing for {absent} (their '{_COST}' columns exist)", path=path,
                           column=absent[0])
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    df = df.with_row_index(ROW, offset=1)
    parts = [
        df.select(
            pl.col(ROW),
            pl.col("sample_id").alias("prompt"),
            pl.lit(m).alias("model"),
            pl.col(m).alias("score"),
            pl.col(m + _COST).alias("cost"),
            pl.col("eval_name").alias("benchmark"),
            pl.lit(m).alias(SCORE_FROM),
            pl.lit(m + _COST).alias(COST_FROM),
        )
        for m in models
    ]
    dtypes = {}
    for part in parts:
        for c, t in part.schema.items():
            dtypes.setdefault(c, set()).add(t)
    # a model column may be all-null (read as another dtype): unify as text
    if any(len(v) > 1 for v in dtypes.values()):
        parts = [p.with_columns(pl.col("score", "cost").cast(pl.String)) for p in parts]
    long = pl.concat(parts, how="vertical")
    long = long.filter(pl.col("score").is_not_null())  # empty wide cell = not evaluated
    if long.height == 0:
        raise RecordsError(f"has no evaluated cell: every score cell of {models} is empty", path=path)
    txt = (
        df.select(pl.col("sample_id").cast(pl.String).alias("prompt"), pl.col("prompt").cast(pl.String).alias("raw"))
        .filter(pl.col("prompt").is_not_null())
        .unique(subset="prompt", keep="first", maintain_order=True)
    )
    texts = pl.DataFrame(
        {"prompt": txt.get_column("prompt"), "text": [_turns_to_text(s) for s in txt.get_column("raw")]},
        schema={"prompt": pl.String, "text": pl.String},
    )
    return long, texts


def _wide_part(df: pl.DataFrame, path: str) -> Part:
    raw, texts = _melt(df, path)
    return validate(raw, path, _MAPPING)._replace(texts=texts)


def _read(path: Path, options: ReadOptions) -> Part:
    return _wide_part(read_table(path, table_kind(path, WIDE_KINDS)), str(path))


def _claims(path: Path) -> bool:
    return _is_wide(read_columns(path, table_kind(path, WIDE_KINDS)))


def _read_pickle(path: Path, options: ReadOptions) -> Part:
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if not options.trust_pickle:
        raise RecordsError(
            "refusing to read a pickle: unpickling runs arbitrary code from the file. "
            "Pass trust_pickle=True (command line: --trust-pickle) only for files you trust, "
            "or convert it to CSV/Parquet first",
            path=path,
        )
    try:
        import pandas as pd  # noqa: WPS433
    except ImportError:
        raise RecordsError("reading a RouterBench pickle needs pandas, which is not installed", path=path) from None
    try:
        obj = pd.read_pickle(path)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise RecordsError(f"cannot be read as a pandas pickle: {e}", path=path) from None
    if not isinstance(obj, pd.DataFrame):
        raise RecordsError(f"pickle holds a {type(obj).__name__}, expected a pandas DataFrame", path=path)
    obj = obj.reset_index(drop=True)
    obj.columns = [str(c) for c in obj.columns]
    keep = [c for c in obj.columns if not c.endswith(_RESPONSE)]
    return _wide_part(pl.from_pandas(obj[keep]), str(path))


LAYOUTS = (
    Layout("routerbench", _read, SUFFIXES["csv"] + SUFFIXES["parquet"], claims=_claims),
    Layout("routerbench-pkl", _read_pickle, (".pkl", ".pickle", ".pkl.gz")),
)
