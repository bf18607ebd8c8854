"""The column checks and typing every reader goes through.

A reader turns its file into *raw long rows* (``_row`` = 1-based data row of the file,
``prompt``, ``model``, ``score`` and, when present, ``cost``, ``benchmark``, ``text``, in the
file's own types) and hands them to :func:`validate`, so every layout types its ids and
numbers the same way and reports bad input the same way: the file, the column and the row.
Wide layouts, where each model is a column, add :data:`SCORE_FROM` / :data:`COST_FROM`: the
source column of each row's score / cost, which errors then name.
"""
from __future__ import annotations

from typing import Sequence

import polars as pl

from ..records import RecordsError
from .layout import Part, ReadOptions

__all__ = ["ROW", "SCORE_FROM", "COST_FROM", "resolve_columns", "number_rows", "validate", "validate_long"]

ROW = "_row"
SCORE_FROM = "_scol"
COST_FROM = "_ccol"


def resolve_columns(columns: Sequence[str], path: str, options: ReadOptions) -> dict:
    """Map canonical names -> source column names; raise on missing required ones."""
    mapping, missing = {}, []
    for canon in ("prompt", "model", "score", "cost", "benchmark", "text"):
        name = getattr(options, canon)
        if name is None:  # optional, taken when a column of the canonical name is there
            if canon in columns:
                mapping[canon] = canon
        elif name in columns:
            mapping[canon] = name
        else:  # a column the caller named must exist
            missing.append(f"{canon}={name!r}" if name != canon else repr(name))
    if missing:
        raise RecordsError(
            f"missing required column(s) {', '.join(missing)}; columns present: {list(columns)}", path=path
        )
    return mapping


def number_rows(df: pl.DataFrame, path: str, mapping: dict) -> pl.DataFrame:
    """Raw long rows of a long frame: its ``mapping`` columns renamed to canonical names, plus :data:`ROW`."""
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    df = df.with_row_index(ROW, offset=1)
    return df.select(pl.col(ROW), *[pl.col(src).alias(canon) for canon, src in mapping.items()])


def validate_long(df: pl.DataFrame, path: str, options: ReadOptions) -> Part:
    """A long frame (one row per cell, columns named by ``options``) checked and typed."""
    mapping = resolve_columns(df.columns, path, options)
    return validate(number_rows(df, path, mapping), path, mapping)


def _as_id(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    return expr if dtype == pl.String else expr.cast(pl.String)


def _as_float(name: str, dtype: pl.DataType, path: str, column: str) -> pl.Expr:
    e = pl.col(name)
    if dtype == pl.String:
        return e.str.strip_chars().cast(pl.Float64, strict=False)
    if dtype.is_numeric() or dtype == pl.Boolean:
        return e.cast(pl.Float64)
    if dtype == pl.Null:
        return e.cast(pl.Float64)
    raise RecordsError(f"has type {dtype}, expected numbers", path=path, column=column)


def validate(raw: pl.DataFrame, path: str, mapping: dict) -> Part:
    """Type and check one file's raw long rows (``mapping``: canonical -> source column, for errors)."""
    schema = raw.schema
    has_wide = SCORE_FROM in raw.columns

    def colname(canon):
        return mapping.get(canon, canon)

    score_f = _as_float("score", schema["score"], path, colname("score"))
    exprs = [
        pl.col(ROW),
        _as_id(pl.col("prompt"), schema["prompt"]).alias("prompt"),
        _as_id(pl.col("model"), schema["model"]).alias("model"),
        score_f.alias("score"),
    ]
    has_cost = "cost" in raw.columns
    if has_cost:
        exprs.append(_as_float("cost", schema["cost"], path, colname("cost")).alias("cost"))
    if "benchmark" in raw.columns:
        exprs.append(_as_id(pl.col("benchmark"), schema["benchmark"]).alias("benchmark"))
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias("benchmark"))
    if "text" in raw.columns:
        exprs.append(_as_id(pl.col("text"), schema["text"]).alias("text"))
    if has_wide:
        exprs += [pl.col(SCORE_FROM), pl.col(COST_FROM)]
    typed = raw.select(exprs)

    # the checks, each a boolean "row is bad" expression (vectorised)
    checks = [
        ("prompt", "prompt id is missing (null or empty)",
         pl.col("prompt").is_null() | (pl.col("prompt").str.len_bytes() == 0)),
        ("model", "model id is missing (null or empty)",
         pl.col("model").is_null() | (pl.col("model").str.len_bytes() == 0)),
        ("score", "score is not a finite number",
         pl.col("score").is_null() | pl.col("score").is_nan() | pl.col("score").is_infinite()),
    ]
    if has_cost:
        checks.append(("cost", "cost is not a finite number",
                       (pl.col("cost").is_null() & pl.col("_cost_raw_present"))
                       | pl.col("cost").is_nan() | pl.col("cost").is_infinite()))
        checks.append(("cost", "cost is negative", pl.col("cost") < 0))
        typed_chk = typed.with_columns(raw.get_column("cost").is_not_null().alias("_cost_raw_present"))
    else:
        typed_chk = typed
    firsts = typed_chk.select(
        [pl.arg_where(expr.fill_null(False)).first().alias(str(i)) for i, (_, _, expr) in enumerate(checks)]
    ).row(0)
    found = [(idx, i) for i, idx in enumerate(firsts) if idx is not None]
    if found:
        idx, i = min(found)
        canon, reason, _ = checks[i]
        row = int(typed.get_column(ROW)[idx])
        if has_wide and canon in ("score", "cost"):
            column = raw.get_column(SCORE_FROM if canon == "score" else COST_FROM)[idx]
        else:
            column = colname(canon)
        value = raw.get_column(canon)[idx]
        raise RecordsError(f"{reason}: {value!r}", path=path, column=column, row=row)

    texts = None
    if "text" in typed.columns:
        texts = typed.select("prompt", "text")
        typed = typed.drop("text")
    if has_wide:
        typed = typed.drop(SCORE_FROM, COST_FROM)
    return Part(typed, texts)
