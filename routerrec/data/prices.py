"""Costs from list prices: per-model USD per million input/output tokens times token counts.

Most research records have no costs; a price list turns them into USD per call, so cost-aware
routing and AIQ can run. A price list is LLMRouter's ``llm.json`` shape or a CSV::

    {"gpt-4o": {"input_price": 2.5, "output_price": 10.0, ...}, ...}

    model,input_price,output_price
    gpt-4o,2.5,10.0

The cost of a cell is ``(input tokens x input price + output tokens x output price) / 1e6``.
Token counts come from a tokens table (``prompt`` [+ ``model``], ``input_tokens``,
``output_tokens``: per prompt, or per cell when it has ``model``); where it gives none, input
tokens are estimated from the prompt's text as ``ceil(characters / CHARS_PER_TOKEN)`` (4
characters a token, the usual rule of thumb for English with GPT-style tokenizers) and output
tokens are ``output_tokens`` (default :data:`DEFAULT_OUTPUT_TOKENS`, a short answer).

>>> import polars as pl
>>> from routerrec import records_from_frame
>>> rec = records_from_frame(pl.DataFrame({"prompt": ["p"], "model": ["a"], "score": [1.0]}))
>>> rec = with_prices(rec.with_texts({"p": "x" * 400}), {"a": Price(2.0, 10.0)}, output_tokens=50)
>>> rec.table["cost"].to_list()  # (100 x 2 + 50 x 10) / 1e6
[0.0007]
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, NamedTuple, Union

import polars as pl

from .readers.jsondoc import read_document
from .readers.tables import SUFFIXES, read_table, table_kind
from ..util.validate import real
from .records import Records, RecordsError

__all__ = ["Price", "CHARS_PER_TOKEN", "DEFAULT_OUTPUT_TOKENS", "read_prices", "estimate_tokens",
           "with_prices"]

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 256
_PRICE_FIELDS = ("input_price", "output_price")


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float


def _number(value, path: str, column: str, row: int) -> float:
    """A finite, non-negative price (a bool or a non-numeric text is refused)."""
    original = value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            value = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise RecordsError(f"{column} must be a finite number >= 0, got {original!r}", path=path, column=column,
                           row=row)
    return float(value)


def _entry(model, fields, path: str, row: int) -> tuple:
    if not isinstance(model, str) or not model.strip():
        raise RecordsError(f"model name is missing or not text: {model!r}", path=path, column="model", row=row)
    if not isinstance(fields, Mapping):
        raise RecordsError(f"expected an object with {', '.join(_PRICE_FIELDS)}, got {fields!r}"[:200],
                           path=path, column=model, row=row)
    missing = [f for f in _PRICE_FIELDS if fields.get(f) is None]
    if missing:
        raise RecordsError(f"{', '.join(missing)} missing for model {model!r}", path=path, column=missing[0],
                           row=row)
    return model, Price(*(_number(fields[f], path, f, row) for f in _PRICE_FIELDS))


def _fields(price):
    """A mapping entry as the JSON shape's fields (a :class:`Price` is accepted too)."""
    return dict(zip(_PRICE_FIELDS, price)) if isinstance(price, Price) else price


def read_prices(source: Union[str, Path, Mapping]) -> dict:
    """``{model: Price}`` from an ``llm.json``-shaped file, a CSV (``model``, ``input_price``,
    ``output_price``) or a mapping of the JSON shape (``{model: Price}`` also works).

    Errors name the file (``"<prices>"`` for a mapping), the field and the 1-based row (the
    model's position in the JSON object, or the CSV's data row).
    """
    if isinstance(source, Mapping):
        return dict(_entry(m, _fields(p), "<prices>", i) for i, (m, p) in enumerate(source.items(), start=1))
    path = Path(source)
    if path.name.lower().endswith(SUFFIXES["csv"]):
        return _read_csv(path)
    doc = read_document(path)
    if not isinstance(doc, dict):
        raise RecordsError(f"expected a JSON object {{model: {{input_price, output_price}}}}, got "
                           f"{type(doc).__name__}", path=path)
    if not doc:
        raise RecordsError("lists no model", path=path)
    return dict(_entry(m, p, str(path), i) for i, (m, p) in enumerate(doc.items(), start=1))


def _read_csv(path: Path) -> dict:
    df = read_table(path, "csv")
    missing = [c for c in ("model",) + _PRICE_FIELDS if c not in df.columns]
    if missing:
        raise RecordsError(f"missing column(s) {missing}; columns present: {df.columns}", path=path)
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    prices, rows = {}, {}
    for row, rec in enumerate(df.iter_rows(named=True), start=1):
        model, price = _entry(rec["model"], rec, str(path), row)
        if model in prices:
            raise RecordsError(f"model {model!r} is priced twice (rows {rows[model]} and {row})", path=path,
                               column="model", row=row)
        prices[model], rows[model] = price, row
    return prices


def estimate_tokens(texts: pl.Series) -> pl.Series:
    """``ceil(characters / CHARS_PER_TOKEN)`` of each text (null stays null)."""
    return (texts.str.len_chars().cast(pl.Float64) / CHARS_PER_TOKEN).ceil()


def _counts(column: pl.Series, source: str) -> pl.Series:
    """A count column as Float64, refusing the first non-numeric, non-finite or negative value."""
    if column.dtype == pl.String:
        values = column.str.strip_chars().cast(pl.Float64, strict=False)
    elif column.dtype.is_numeric() or column.dtype == pl.Null:
        values = column.cast(pl.Float64)
    else:
        raise RecordsError(f"has type {column.dtype}, expected numbers", path=source, column=column.name)
    bad = (values.is_null() & column.is_not_null()) | values.is_nan() | values.is_infinite() | (values < 0)
    if bad.any():
        i = int(bad.arg_true()[0])
        raise RecordsError(f"token count is not a finite number >= 0: {column[i]!r}", path=source,
                           column=column.name, row=i + 1)
    return values


def _tokens_table(tokens, source: str) -> pl.DataFrame:
    """The caller's token counts, checked: ``prompt`` [``model``] and the count columns as Float64."""
    if not isinstance(tokens, pl.DataFrame):
        path = Path(tokens)
        tokens, source = read_table(path, table_kind(path)), str(path)
    counts = [c for c in ("input_tokens", "output_tokens") if c in tokens.columns]
    if "prompt" not in tokens.columns or not counts:
        raise RecordsError(f"a tokens table needs 'prompt' and 'input_tokens' and/or 'output_tokens'; "
                           f"columns present: {tokens.columns}", path=source)
    keys = ["prompt"] + (["model"] if "model" in tokens.columns else [])
    table = pl.DataFrame([tokens.get_column(k).cast(pl.String) for k in keys]
                         + [_counts(tokens.get_column(c), source) for c in counts])
    repeated = (~table.select(pl.struct(keys).is_first_distinct()).to_series()).arg_true()
    if len(repeated):
        row = int(repeated[0]) + 1
        raise RecordsError(f"counts given twice for {' / '.join(str(table.item(row - 1, k)) for k in keys)!r}",
                           path=source, column="prompt", row=row)
    return table


def with_prices(records: Records, prices, *, tokens=None, output_tokens: float = DEFAULT_OUTPUT_TOKENS,
                tokens_source: str = "<tokens>") -> Records:
    """``records`` with every cell's cost computed from ``prices`` (replacing any costs it had).

    ``prices``: a price file or mapping (:func:`read_prices`). ``tokens``: a polars frame or a
    CSV/Parquet/JSONL file of token counts (see the module's text). Every model of ``records``
    must have a price; every cell needs input tokens (a count, or a text to estimate from).
    """
    label = str(prices) if isinstance(prices, (str, Path)) else "<prices>"
    prices = read_prices(prices)
    unpriced = [m for m in records.models if m not in prices]
    if unpriced:
        raise RecordsError(f"no price for {len(unpriced)} model(s) of the records, e.g. {unpriced[:5]}; add them",
                           path=label, column="model")
    output_tokens = real("output_tokens", output_tokens, low=0)
    table = records.table.join(
        pl.DataFrame({"model": list(prices), "_in": [p.input for p in prices.values()],
                      "_out": [p.output for p in prices.values()]}), on="model", how="left", maintain_order="left")
    texts = records.texts.with_columns(estimate_tokens(records.texts.get_column("text")).alias("_est"))
    table = table.join(texts.select("prompt", "_est"), on="prompt", how="left", maintain_order="left")
    n_in, n_out = pl.col("_est"), pl.lit(output_tokens)
    if tokens is not None:
        counts = _tokens_table(tokens, tokens_source)
        keys = [k for k in ("prompt", "model") if k in counts.columns]
        table = table.join(counts, on=keys, how="left", maintain_order="left")
        if "input_tokens" in counts.columns:
            n_in = pl.coalesce(pl.col("input_tokens"), n_in)
        if "output_tokens" in counts.columns:
            n_out = pl.coalesce(pl.col("output_tokens"), n_out)
    table = table.with_columns(n_in.alias("_n_in"), n_out.alias("_n_out"))
    lacking = table.filter(pl.col("_n_in").is_null())
    if lacking.height:
        raise RecordsError(f"{lacking.height} cell(s) have neither an input token count nor a prompt text to "
                           f"estimate one, e.g. prompt {lacking.item(0, 'prompt')!r}; pass tokens=",
                           path=records.source, column="prompt")
    cost = ((pl.col("_n_in") * pl.col("_in") + pl.col("_n_out") * pl.col("_out")) / 1e6).alias("cost")
    table = table.with_columns(cost).select("prompt", "model", "score", "cost", "benchmark")
    return Records(table, records.texts, records.source, records.feedback)
