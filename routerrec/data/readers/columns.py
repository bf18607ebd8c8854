"""The column checks and typing every reader goes through.

A reader turns its file into *raw long rows* (``_row`` = 1-based data row of the file,
``prompt``, ``model``, ``score`` and, when present, ``cost``, ``benchmark``, ``text``, in the
file's own types) and hands them to :func:`validate`, so every layout types its ids and
numbers the same way and reports bad input the same way: the file, the column and the row.
Wide layouts, where each model is a column, add :data:`SCORE_FROM` / :data:`COST_FROM`: the
source column of each row's score / cost, which errors then name.

Prompt ids that are the prompts themselves (``prompt="instruction"``) are also their texts:
when the rows have no text column, ids of which at least half hold white space
(:func:`ids_are_texts`) become the texts too, so text routers and ``has_texts`` see them;
ids such as ``gsm8k.123`` or ``arc_easy-0`` stay ids only. ``text=`` may name the prompt
column to say so whatever the ids look like.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import polars as pl

from ..records import RecordsError
from .layout import CANONICAL, Part, ReadOptions

__all__ = ["ROW", "SCORE_FROM", "COST_FROM", "resolve_columns", "number_rows", "validate", "validate_long",
           "ids_are_texts", "cell_value", "cell_column"]

ROW = "_row"
SCORE_FROM = "_scol"
COST_FROM = "_ccol"
# scores and costs are stored as float32 (Records.matrix): a larger one would become inf
FLOAT32_MAX = float(np.finfo(np.float32).max)
_PLURAL = {"prompt": "prompt ids", "model": "model ids", "score": "scores", "cost": "costs",
           "benchmark": "benchmark names", "text": "texts"}
_BEYOND = " is beyond float32's range (3.4e38), where it would become infinite"


def resolve_columns(columns: Sequence[str], path: str, options: ReadOptions) -> dict:
    """Map canonical names -> source column names; raise on missing required ones.

    Two options naming one column is refused (``model=`` given the prompt column would make
    every prompt its own model), except ``text=`` naming the prompt column; a default (``cost``, ``benchmark``, ``text`` left ``None``)
    does not take a column an option named.
    """
    named = {canon: getattr(options, canon) for canon in CANONICAL if getattr(options, canon) is not None}
    twice = [(a, b) for i, a in enumerate(named) for b in list(named)[i + 1:]
             if named[a] == named[b] and (a, b) != ("prompt", "text")]  # ids that are the texts
    if twice:
        (a, b), column = twice[0], named[twice[0][0]]
        raise RecordsError(f"{a}= and {b}= both name the column {column!r}; each must name its own",
                           path=path, column=column)
    mapping = {canon: name for canon, name in named.items() if name in columns}
    for canon in CANONICAL:  # optional, taken when a column of the canonical name is there
        if canon not in named and canon in columns and canon not in named.values():
            mapping[canon] = canon
    missing = [f"{canon}={name!r}" if name != canon else repr(name)
               for canon, name in named.items() if name not in columns]
    if missing:  # a column the caller named must exist
        raise RecordsError(
            f"missing required column(s) {', '.join(missing)}; columns present: {list(columns)}", path=path
        )
    return {canon: mapping[canon] for canon in CANONICAL if canon in mapping}


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


def _values(dtype: pl.DataType) -> str:
    """A column's type in a few words (the name of a deeply nested type is itself deep)."""
    base = dtype.base_type()
    return {pl.List: "lists", pl.Array: "lists", pl.Struct: "objects"}.get(base, f"{base.__name__} values")


def _refuse_type(raw: pl.DataFrame, canon: str, expected: str, path: str, column: str):
    """Raise naming the first row that holds a value of the column's wrong type."""
    first = raw.select(pl.arg_where(pl.col(canon).is_not_null()).first()).item()
    row = None if first is None else int(raw.get_column(ROW)[first])
    raise RecordsError(f"{_PLURAL[canon]} must be {expected}, got {_values(raw.schema[canon])}",
                       path=path, column=column, row=row)


def _as_id(raw: pl.DataFrame, canon: str, path: str, column: str) -> pl.Expr:
    """Text or integers as text: a float, a date or a list would become a different id."""
    dtype = raw.schema[canon]
    if not (dtype in (pl.String, pl.Categorical, pl.Null) or dtype == pl.Enum or dtype.is_integer()):
        _refuse_type(raw, canon, "text or integers", path, column)
    return pl.col(canon) if dtype == pl.String else pl.col(canon).cast(pl.String)


def _as_float(raw: pl.DataFrame, canon: str, path: str, column: str) -> pl.Expr:
    dtype = raw.schema[canon]
    if dtype == pl.String:
        return pl.col(canon).str.strip_chars().cast(pl.Float64, strict=False)
    if not (dtype.is_numeric() or dtype in (pl.Boolean, pl.Null)):
        _refuse_type(raw, canon, "numbers", path, column)
    return pl.col(canon).cast(pl.Float64)


def _strip_ids(typed: pl.DataFrame, columns: tuple) -> tuple:
    """``typed`` with surrounding white space stripped from the id ``columns``, and the sorted
    distinct ids of each column (nulls left out).

    Ids repeat, so each distinct id is stripped once (the distinct values of all the columns in
    one parallel pass); a column without such an id is left as it is.
    """
    distinct = typed.select(pl.col(c).unique().drop_nulls().implode() for c in columns)
    fixes, found = [], []
    for column in columns:
        values = distinct.get_column(column).explode().drop_nulls()
        clean = values.str.strip_chars()
        changed = values != clean
        if changed.any():
            fixes.append(pl.col(column).replace(values.filter(changed), clean.filter(changed)))
            values = clean.unique()
        found.append(values.sort())
    return (typed.with_columns(fixes) if fixes else typed), tuple(found)


def ids_are_texts(prompts: pl.Series) -> bool:
    """Whether distinct prompt ids are the prompts' texts: at least half of them hold white
    space (a sentence does; a code such as ``mmlu.anatomy.7`` does not)."""
    return prompts.len() > 0 and prompts.str.contains(r"\s").mean() >= 0.5


def validate(raw: pl.DataFrame, path: str, mapping: dict) -> Part:
    """Type and check one file's raw long rows (``mapping``: canonical -> source column, for errors).

    Surrounding white space is stripped from ids (``"p1 "`` is ``"p1"``), so an id that is
    only white space is missing, and a blank benchmark is unknown.
    """
    has_wide = SCORE_FROM in raw.columns

    def colname(canon):
        return mapping.get(canon, canon)

    def as_id(canon):
        return _as_id(raw, canon, path, colname(canon))

    has_cost = "cost" in raw.columns
    exprs = [
        pl.col(ROW),
        as_id("prompt").alias("prompt"),
        as_id("model").alias("model"),
        _as_float(raw, "score", path, colname("score")).alias("score"),
    ]
    if has_cost:
        exprs.append(_as_float(raw, "cost", path, colname("cost")).alias("cost"))
    if "benchmark" in raw.columns:
        exprs.append(as_id("benchmark").alias("benchmark"))
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias("benchmark"))
    if "text" in raw.columns:
        exprs.append(as_id("text").alias("text"))
    if has_wide:
        exprs += [pl.col(SCORE_FROM), pl.col(COST_FROM)]
    typed = raw.select(exprs)
    typed, (prompts, models, _) = _strip_ids(typed, ("prompt", "model", "benchmark"))
    blank = pl.col("benchmark").str.len_bytes() == 0
    if typed.select(blank.any()).item():
        typed = typed.with_columns(pl.when(~blank).then(pl.col("benchmark")).alias("benchmark"))

    # the checks, each a boolean "row is bad" expression (vectorised)
    checks = [
        ("prompt", "prompt id is missing (null, empty or white space)",
         pl.col("prompt").is_null() | (pl.col("prompt").str.len_bytes() == 0)),
        ("model", "model id is missing (null, empty or white space)",
         pl.col("model").is_null() | (pl.col("model").str.len_bytes() == 0)),
        ("score", "score is not a finite number",
         pl.col("score").is_null() | pl.col("score").is_nan() | pl.col("score").is_infinite()),
        ("score", "score" + _BEYOND, pl.col("score").abs() > FLOAT32_MAX),
    ]
    if has_cost:
        checks.append(("cost", "cost is not a finite number",
                       (pl.col("cost").is_null() & pl.col("_cost_raw_present"))
                       | pl.col("cost").is_nan() | pl.col("cost").is_infinite()))
        checks.append(("cost", "cost is negative", pl.col("cost") < 0))
        checks.append(("cost", "cost" + _BEYOND, pl.col("cost") > FLOAT32_MAX))
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
        value = repr(raw.get_column(canon)[idx])
        raise RecordsError(f"{reason}: {value[:80]}", path=path, column=column, row=row)

    texts = None
    if "text" in typed.columns:
        texts = typed.select("prompt", "text")
        typed = typed.drop("text")
    elif ids_are_texts(prompts):
        texts = pl.DataFrame({"prompt": prompts, "text": prompts})
    if has_wide:
        typed = typed.drop(SCORE_FROM, COST_FROM)
    return Part(typed, texts, (prompts.rename("prompt"), models.rename("model")))


def cell_value(v):
    """A score or cost read from JSON as ``validate`` reads it: a float, or text it parses or
    refuses (a huge integer becomes text, refused as not finite)."""
    if isinstance(v, (int, float)):  # bool is an int: true/false count as 1/0
        return float(v) if abs(v) < 1e308 else str(v)
    return v if isinstance(v, str) else json.dumps(v)


def cell_column(name: str, values: list) -> pl.Series:
    """``cell_value``s as a column: Float64 when all are floats, else all as text (``None``
    stays null) for ``validate`` to parse or refuse."""
    if all(v is None or isinstance(v, float) for v in values):
        return pl.Series(name, values, dtype=pl.Float64)
    return pl.Series(name, [v if v is None or isinstance(v, str) else repr(v) for v in values],
                     dtype=pl.String)
