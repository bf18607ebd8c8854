"""Load evaluation records from files (:func:`load_records`) or a frame (:func:`records_from_frame`).

Each file is read by its layout (:mod:`routerrec.data.readers`), which validates it; the parts
are then concatenated, duplicate (prompt, model) pairs are looked for across all of them, and
the result is a :class:`~routerrec.data.records.Records`. Every error is a
:class:`~routerrec.data.records.RecordsError` naming the file, the column and the 1-based row:

>>> import polars as pl
>>> records_from_frame(pl.DataFrame({"prompt": ["p1", "p2"], "model": ["a", "a"], "score": ["1", "x"]}))
Traceback (most recent call last):
...
routerrec.data.records.RecordsError: <frame>, column 'score', row 2: score is not a finite number: 'x'
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import polars as pl

from ..util import validate
from .readers.columns import ROW, validate_long
from .readers.file_benchmark import with_file_benchmark
from .readers.layout import ReadOptions
from .readers.registry import layout_for
from .records import Coding, Records, RecordsError, code_rows

__all__ = ["DUPLICATE_MODES", "load_records", "records_from_frame"]

DUPLICATE_MODES = ("error", "mean", "last")
_FILE = "_file"  # index of the part (file) a row came from


def load_records(
    path,
    *,
    prompt: str = "prompt",
    model: str = "model",
    score: str = "score",
    cost: Optional[str] = None,
    benchmark: Optional[str] = None,
    text: Optional[str] = None,
    format: Optional[str] = None,
    on_duplicate: str = "error",
    trust_pickle: bool = False,
    benchmark_from_name: bool = False,
) -> Records:
    """Load evaluation records from a file or a list of files.

    Parameters
    ----------
    path : path or list of paths
        Several files are concatenated (e.g. RouterBench's per-eval CSVs);
        duplicate (prompt, model) pairs are then looked for across files.
    prompt, model, score : str
        Column names of the prompt id, model id and score in long-format files.
    cost, benchmark, text : str, optional
        Column names of the cost (USD), benchmark name and prompt text. ``None``
        uses a column named ``cost`` / ``benchmark`` / ``text`` if present.
    format : str, optional
        A layout name of :func:`routerrec.data.readers.registry.layouts`: ``"csv"``,
        ``"parquet"``, ``"jsonl"`` (the long layout), ``"routerbench"``, ``"routerbench-pkl"``,
        ``"scores-json"``, ``"matrix"``, ``"routereval"`` or ``"lm-eval"`` (docs/records.md).
        ``None`` detects it: among the layouts whose suffixes match the file
        name (``.csv``, ``.parquet``/``.pq``, ``.jsonl``/``.ndjson``/``.json``,
        ``.pkl``/``.pickle``; a folder: lm-eval), the first that recognises the
        content reads it (RouterBench's wide layout from its columns, ...), else
        the long layout of that suffix. For RouterBench's wide layout the
        mapping arguments are ignored: prompt = ``sample_id``, benchmark =
        ``eval_name``, text = the turns of ``prompt`` joined by newlines, and
        an empty score cell means "not evaluated".
    on_duplicate : {"error", "mean", "last"}
        What to do with repeated (prompt, model) pairs: raise naming both rows,
        average score and cost, or keep the last one.
    trust_pickle : bool
        RouterBench's ``routerbench_0shot.pkl`` and RouterEval's score files are
        pickles, and unpickling runs arbitrary code. They are only read when this
        is True.
    benchmark_from_name : bool
        Label every row of each file with the file's name less its suffixes and a
        trailing split word (``mmlu_train.json`` -> ``mmlu``), replacing the
        file's own benchmark (``readers.file_benchmark``).

    Raises
    ------
    RecordsError
        On any bad input; the message names the file, and the column and
        1-based data row where there is one.
    TypeError
        When ``path`` is not a path or a list of paths (``None``, a number), or
        an option has the wrong type.
    """
    if isinstance(path, (list, tuple)):
        paths = [validate.path(f"path[{i}]", p) for i, p in enumerate(path)]
    else:
        paths = [validate.path("path", path)]
    if not paths:
        raise RecordsError("no files given", path="[]")
    if not (format is None or isinstance(format, str)):
        raise TypeError(f"format= must be a layout name (str) or None, got {type(format).__name__}")
    validate.choice("on_duplicate", on_duplicate, DUPLICATE_MODES)
    by_name = validate.flag("benchmark_from_name", benchmark_from_name)
    options = ReadOptions(prompt=prompt, model=model, score=score, cost=cost, benchmark=benchmark, text=text,
                          trust_pickle=trust_pickle)
    parts = [layout_for(p, format).read(p, options) for p in paths]
    if by_name:
        parts = [with_file_benchmark(part, p) for part, p in zip(parts, paths)]
    return _assemble(parts, [str(p) for p in paths], on_duplicate)


def records_from_frame(
    df: pl.DataFrame,
    *,
    prompt: str = "prompt",
    model: str = "model",
    score: str = "score",
    cost: Optional[str] = None,
    benchmark: Optional[str] = None,
    text: Optional[str] = None,
    on_duplicate: str = "error",
    source: str = "<frame>",
) -> Records:
    """Validate a long-format polars DataFrame into :class:`Records`.

    Same column mapping, checks and duplicate handling as :func:`load_records`;
    errors name ``source`` as the file and give 1-based row numbers.
    """
    if not isinstance(df, pl.DataFrame):
        raise RecordsError(f"expected a polars DataFrame, got {type(df).__name__}", path=source)
    validate.choice("on_duplicate", on_duplicate, DUPLICATE_MODES)
    options = ReadOptions(prompt=prompt, model=model, score=score, cost=cost, benchmark=benchmark, text=text)
    return _assemble([validate_long(df, source, options)], [source], on_duplicate)


def _assemble(parts: list, labels: list, on_duplicate: str) -> Records:
    """Concatenate validated parts (one per file, named by ``labels``), resolve duplicate pairs."""
    has_cost = any("cost" in part.rows.columns for part in parts)
    table = _concat(parts, has_cost)
    coding = code_rows(table, *_distinct_ids(parts))
    table, coding = _resolve_duplicates(table, coding, labels, on_duplicate, has_cost)
    cols = ["prompt", "model", "score"] + (["cost"] if has_cost else []) + ["benchmark"]
    texts = [part.texts for part in parts if part.texts is not None]
    source = labels[0] if len(labels) == 1 else "[" + ", ".join(labels) + "]"
    return Records(table.select(cols), pl.concat(texts, how="vertical") if texts else None, source,
                   coding=coding)


def _distinct_ids(parts: list) -> tuple:
    """The sorted distinct (prompts, models) of all parts from what validation found, or
    ``(None, None)`` (code_rows then finds them) when a part lacks them."""
    if any(part.ids is None for part in parts):
        return None, None
    if len(parts) == 1:
        return parts[0].ids
    return tuple(pl.concat([part.ids[i] for part in parts]).unique().sort() for i in (0, 1))


def _concat(parts: list, has_cost: bool) -> pl.DataFrame:
    """The parts' rows in one frame, each row tagged with its part's index (``_file``)."""
    if len(parts) == 1:
        return parts[0].rows.with_columns(pl.lit(0, dtype=pl.UInt32).alias(_FILE))
    cols = [ROW, "prompt", "model", "score"] + (["cost"] if has_cost else []) + ["benchmark"]
    fixed = []
    for i, part in enumerate(parts):
        rows = part.rows
        if has_cost and "cost" not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.Float64).alias("cost"))
        fixed.append(rows.select(pl.col(cols)).with_columns(
            pl.col(ROW).cast(pl.UInt64), pl.lit(i, dtype=pl.UInt32).alias(_FILE)))
    return pl.concat(fixed, how="vertical")


def _resolve_duplicates(table: pl.DataFrame, coding: Coding, labels: list, on_duplicate: str,
                        has_cost: bool) -> tuple:
    """``(table, coding)`` with repeated (prompt, model) pairs raised on, averaged or last-kept."""
    n_p, n_m, n = len(coding.prompts), len(coding.models), table.height
    key = coding.prompt_codes.astype(np.int64) * n_m + coding.model_codes
    if n_p * n_m <= max(8 * n, 1 << 25):
        dup = bool((np.bincount(key, minlength=n_p * n_m) > 1).any()) if n else False
    else:
        s = np.sort(key)
        dup = bool((s[1:] == s[:-1]).any())
    if not dup:
        return table, coding

    table = table.with_columns(pl.Series("_key", key))
    if on_duplicate == "error":
        d = table.filter(pl.col("_key").is_duplicated()).sort(_FILE, ROW, maintain_order=True)
        first_key = d.get_column("_key")[0]
        pair = d.filter(pl.col("_key") == first_key).head(2)
        r0 = pair.row(0, named=True)
        second = pair.row(1, named=True)
        raise RecordsError(
            f"duplicate (prompt, model) pair ({r0['prompt']!r}, {r0['model']!r}) in "
            f"{_rows_named(pair, labels)}; pass on_duplicate='mean' or 'last' to combine them",
            path=labels[second[_FILE]],
            row=int(second[ROW]),
        )
    if on_duplicate == "last":
        table = table.unique(subset="_key", keep="last", maintain_order=True)
    else:  # mean
        aggs = [
            pl.col("prompt").first(),
            pl.col("model").first(),
            pl.col("score").mean(),
            pl.col("benchmark").drop_nulls().first(),
            pl.col(ROW).first(),
            pl.col(_FILE).first(),
        ]
        if has_cost:
            aggs.append(pl.col("cost").mean())
        table = table.group_by("_key", maintain_order=True).agg(aggs)
    table = table.drop("_key")
    return table, code_rows(table, coding.prompts, coding.models)


def _rows_named(rows: pl.DataFrame, labels: list) -> str:
    """``"row 3"`` or, with several files, ``"row 3 of a.csv and row 1 of b.csv"``."""
    parts = []
    for r in rows.iter_rows(named=True):
        parts.append(f"row {r[ROW]}" + (f" of {labels[r[_FILE]]}" if len(labels) > 1 else ""))
    return " and ".join(parts)
