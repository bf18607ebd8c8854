"""The wide matrix layout: one row per prompt, one column per model (IRT response matrices).

A CSV/TSV or Parquet file::

    item,gpt-4,llama-7b,mistral-7b
    q1,1,0,
    q2,0.5,1,1

The id column is the one named by ``prompt=`` when the file has it, else the first column; a
text column and a benchmark column are the ones named by ``text=`` / ``benchmark=`` (left out:
columns named ``text`` / ``benchmark``, when present). **Every other column is a model**, its
cells the scores; an empty cell means "not evaluated" and is dropped. ``model=``, ``score=``
and ``cost=`` are not used (a matrix has no costs: add them with :mod:`routerrec.data.prices`).

Recognised (``claims``) only when the columns do not look like another layout: no column named
``model`` or ``score`` (the long layout), no ``<model>|total_cost`` column (RouterBench), at
least two model columns, and every model column holds numbers or empty cells in the first
:data:`PEEK_ROWS` rows. Anything else is read as the long layout unless ``format="matrix"``.
Errors about a score name the model's column and the file's row.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import polars as pl

from ...util.limits import check_bytes
from ..records import RecordsError
from .columns import COST_FROM, ROW, SCORE_FROM, validate
from .layout import Layout, Part, ReadOptions
from .tables import SUFFIXES, read_table, separator, table_kind, WIDE_KINDS

__all__ = ["LAYOUTS", "PEEK_ROWS"]

PEEK_ROWS = 200  # rows claims() looks at
_LONG_NAMES = ("model", "score")  # a file with these columns is the long layout
_ROUTERBENCH_COST = "|total_cost"
_CELL_BYTES = 64  # memory of one long row while melting (ids are views, scores 8 bytes)
_ID, _BENCH = "\x00prompt", "\x00benchmark"  # reserved names while melting


def _optional(columns: list, named: Optional[str], default: str, what: str, path: Path) -> Optional[str]:
    """The column the caller named (which must exist), else ``default`` when present."""
    if named is None:
        return default if default in columns else None
    if named not in columns:
        raise RecordsError(f"missing {what} column {named!r}; columns present: {columns}", path=path)
    return named


def _roles(columns: list, options: ReadOptions, path: Path) -> tuple:
    """``(id column, text column or None, benchmark column or None, model columns)``."""
    ident = options.prompt if options.prompt in columns else columns[0]
    text = _optional(columns, options.text, "text", "text", path)
    bench = _optional(columns, options.benchmark, "benchmark", "benchmark", path)
    named = [c for c in (ident, text, bench) if c is not None]
    if len(set(named)) != len(named):
        raise RecordsError(f"the id, text and benchmark options name one column twice ({named})",
                           path=path)
    reserved = [c for c in columns if c in (ROW, SCORE_FROM, _ID, _BENCH)]
    if reserved:
        raise RecordsError(f"column name(s) {reserved} are reserved by the reader; rename them",
                           path=path)
    models = [c for c in columns if c not in named]
    return ident, text, bench, models


def _as_cells(df: pl.DataFrame, models: list) -> pl.DataFrame:
    """Model columns in one type the validator reads: Float64, or text when any is not numeric."""
    numeric = all(df.schema[m].is_numeric() or df.schema[m] in (pl.Boolean, pl.Null) for m in models)
    if numeric:
        return df.with_columns(pl.col(models).cast(pl.Float64))
    return df.with_columns([
        (pl.col(m).cast(pl.Float64).cast(pl.String) if df.schema[m].is_numeric() or df.schema[m] == pl.Boolean
         else pl.col(m).cast(pl.String)) for m in models])


def _read(path: Path, options: ReadOptions) -> Part:
    df = read_table(path, table_kind(path, WIDE_KINDS))
    source = str(path)
    if df.width < 2:
        raise RecordsError(f"a matrix needs an id column and at least one model column; columns present: "
                           f"{df.columns}", path=path)
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    ident, text, bench, models = _roles(df.columns, options, path)
    if not models:
        raise RecordsError(f"no model columns left beside {ident!r}, {text!r} and {bench!r}", path=path)
    check_bytes(df.height * len(models) * _CELL_BYTES, f"melting {df.height} rows x {len(models)} model columns",
                advice="split the file by rows", error=partial(RecordsError, path=path))
    # the id and benchmark travel under reserved names: a model column may be called "prompt"
    keep = [pl.col(ident).alias(_ID)] + ([pl.col(bench).alias(_BENCH)] if bench else [])
    wide = _as_cells(df.with_row_index(ROW, offset=1).select(pl.col(ROW), *keep, pl.col(models)), models)
    long = wide.unpivot(on=models, index=[ROW, _ID] + ([_BENCH] if bench else []),
                        variable_name=SCORE_FROM, value_name="score"
                        ).rename({_ID: "prompt", **({_BENCH: "benchmark"} if bench else {})})
    empty = pl.col("score").is_null()
    if long.schema["score"] == pl.String:
        empty = empty | (pl.col("score").str.strip_chars() == "")
    long = long.filter(~empty).with_columns(pl.col(SCORE_FROM).alias("model"),
                                            pl.lit(None, dtype=pl.String).alias(COST_FROM))
    if long.height == 0:
        raise RecordsError("every model cell is empty: no scores", path=path)
    mapping = {"prompt": ident, "model": "<model column>", "score": "<model column>"}
    if bench:
        mapping["benchmark"] = bench
    rows = validate(long, source, mapping).rows
    texts = None
    if text:
        texts = df.select(pl.col(ident).cast(pl.String).alias("prompt"), pl.col(text).cast(pl.String).alias("text"))
    return Part(rows, texts)


def _numeric_text(series: pl.Series) -> bool:
    """Whether every non-empty cell of a text column parses as a number."""
    s = series.str.strip_chars()
    s = s.filter(s.is_not_null() & (s != ""))
    return s.cast(pl.Float64, strict=False).null_count() == 0


def _claims(path: Path) -> bool:
    try:
        if not path.is_file():  # a FIFO would block
            return False
        if table_kind(path, WIDE_KINDS) == "parquet":
            schema = pl.read_parquet_schema(path)
            columns = list(schema)
        else:
            head = pl.read_csv(path, n_rows=PEEK_ROWS, infer_schema=False,
                               separator=separator(path))
            columns = head.columns
        if len(columns) < 3 or any(c in _LONG_NAMES or c.endswith(_ROUTERBENCH_COST) for c in columns):
            return False
        ident = "prompt" if "prompt" in columns else columns[0]
        models = [c for c in columns if c not in (ident, "text", "benchmark")]
        if len(models) < 2:
            return False
        if table_kind(path, WIDE_KINDS) == "parquet":
            return all(schema[m].is_numeric() or schema[m] in (pl.Boolean, pl.Null) for m in models)
        return head.height > 0 and all(_numeric_text(head.get_column(m)) for m in models)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, UnicodeDecodeError,
            ValueError):
        return False


LAYOUTS = (Layout("matrix", _read, SUFFIXES["csv"] + SUFFIXES["parquet"], claims=_claims),)
