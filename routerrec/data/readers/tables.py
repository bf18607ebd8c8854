"""Reading a records file into a polars frame, with errors that name the file (and the bad line).

Every cell of a CSV is read as text: converting it (and reporting the row that fails) is
:mod:`.columns`' job. Before polars reads a file, what it would get wrong or pay too much for
is refused here: a CSV or JSONL file that is not UTF-8 text (polars keeps the NUL bytes of a
UTF-16 file and blurs bad bytes in a header), a ``.gz`` file or a Parquet file whose rows
would take more memory than :func:`~routerrec.util.limits.check_bytes` allows.
"""
from __future__ import annotations

import codecs
import gzip
import json
import zlib
from functools import partial
from pathlib import Path

import polars as pl

from ...util.limits import check_bytes
from ..records import RecordsError

__all__ = ["SUFFIXES", "WIDE_KINDS", "table_kind", "separator", "check_file", "read_table", "read_columns",
           "refuse_json_containers"]

# table kind -> the file name endings read as that kind
SUFFIXES = {
    "csv": (".csv", ".csv.gz", ".tsv"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
}
# the kinds a wide (prompts x models) table comes in; such a layout reads any other file as CSV
WIDE_KINDS = ("csv", "parquet")
# what polars can raise on a malformed file; a Rust panic is a BaseException, not an Exception
_READ_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError,
                RecursionError, MemoryError, OverflowError)
_CHUNK = 1 << 20
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
_CELL_BYTES = 16  # the least polars holds per cell of a column (a string view)


def table_kind(path: Path, among: tuple = tuple(SUFFIXES)) -> str:
    """The kind in ``among`` (keys of :data:`SUFFIXES`) whose ending ``path`` has, else
    ``"csv"`` (a layout that reads only some kinds reads any other file as CSV)."""
    name = path.name.lower()
    return next((kind for kind in among if name.endswith(SUFFIXES[kind])), "csv")


def separator(path: Path) -> str:
    """The CSV field separator of ``path``: a tab for ``.tsv``, else a comma."""
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _check_text(path: Path) -> None:
    """Refuse a file that is not UTF-8 text, naming the line; a ``.gz`` file is decompressed as
    it streams, and refused once its content passes the byte limit (a zip bomb)."""
    gz = path.name.lower().endswith(".gz")
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = lines = 0
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                for bom, name in _BOMS if not done else ():
                    if chunk.startswith(bom):
                        raise RecordsError(f"is not UTF-8 text: it starts with a {name} byte-order "
                                           "mark; save it as UTF-8", path=path)
                if gz:
                    check_bytes(done + len(chunk), f"{path} decompressed",
                                advice="decompress it and check its content",
                                error=partial(RecordsError, path=path))
                nul = chunk.find(b"\x00")
                try:
                    decoder.decode(chunk[:nul] if nul >= 0 else chunk, final=nul >= 0)
                except UnicodeDecodeError as e:
                    bad = chunk[e.start:e.start + 1].hex()
                    line = lines + chunk.count(b"\n", 0, e.start) + 1
                    raise RecordsError(f"is not UTF-8 text: line {line} holds the byte 0x{bad}; "
                                       "save it as UTF-8", path=path) from None
                if nul >= 0:
                    line = lines + chunk.count(b"\n", 0, nul) + 1
                    raise RecordsError(f"is not UTF-8 text: line {line} holds a NUL byte (UTF-16 "
                                       "text has them); save it as UTF-8", path=path)
                done += len(chunk)
                lines += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise RecordsError("is not UTF-8 text: it ends inside a character", path=path) from None
    except (OSError, EOFError, zlib.error) as e:
        raise RecordsError(f"cannot be read{' as gzip' if gz else ''}: {e}", path=path) from None


def _check_parquet_rows(path: Path) -> None:
    """Refuse a Parquet file whose metadata claims more rows than the byte limit allows (a few
    kilobytes of run-length encoded data can claim billions of rows); a file whose metadata
    cannot be read is left to the reader, which says why."""
    try:
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        columns = len(pl.read_parquet_schema(path))
    except _READ_ERRORS:
        return
    check_bytes(rows * columns * _CELL_BYTES, f"{path}: reading its {rows:,} rows x {columns} columns",
                advice="split the file or read fewer columns", error=partial(RecordsError, path=path))


def _json_rows(path: Path):
    """``(row, line)`` of each non-blank line of a JSONL file (polars skips blank lines too)."""
    row = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                row += 1
                yield row, raw


def _parse_json(raw: bytes):
    def _reject(c):
        raise ValueError(c)

    return json.loads(raw, parse_constant=_reject)


def _first_bad_json_line(path: Path) -> tuple:
    """``(row, what is wrong)`` of the first line that is not a JSON value, or ``(None, "")``."""
    for row, raw in _json_rows(path):
        try:
            _parse_json(raw)
        except RecursionError:
            return row, "JSON nested too deeply"
        except ValueError:
            return row, "invalid JSON"
    return None, ""


def check_file(path: Path) -> None:
    """Refuse a path that is missing, a folder or empty, naming it."""
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if not path.is_file():
        raise RecordsError("is a directory, not a file" if path.is_dir() else "is not a regular file",
                           path=path)
    if path.stat().st_size == 0:
        raise RecordsError("file is empty", path=path)


def read_table(path: Path, kind: str) -> pl.DataFrame:
    """The whole file as a frame (``kind`` is a key of :data:`SUFFIXES`)."""
    check_file(path)
    if kind == "parquet":
        _check_parquet_rows(path)
    else:
        _check_text(path)
    try:
        if kind == "csv":
            # everything as text: conversion (and its errors) is ours, row by row
            df = pl.read_csv(path, infer_schema=False, separator=separator(path))
        elif kind == "parquet":
            df = pl.read_parquet(path)
        else:
            df = pl.read_ndjson(path, infer_schema_length=None)
    except pl.exceptions.NoDataError:
        raise RecordsError(f"no data: not a valid {kind.upper()} file", path=path) from None
    except _READ_ERRORS as e:
        row, why = _first_bad_json_line(path) if kind == "jsonl" else (None, "")
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RecordsError(f"cannot be read as {kind.upper()}" + (f" ({why})" if row else "")
                           + f": {detail}", path=path, row=row) from None
    return df


def read_columns(path: Path, kind: str) -> list:
    """The column names of a CSV or Parquet file without reading its rows; ``[]`` when unreadable.

    For a layout's ``claims``: the reader that is chosen reports what is wrong with the file.
    """
    if not path.is_file():  # a FIFO would block
        return []
    try:
        if kind == "parquet":
            return list(pl.read_parquet_schema(path))
        return pl.read_csv(path, n_rows=0, infer_schema=False, separator=separator(path)).columns
    except (*_READ_ERRORS, UnicodeDecodeError):
        return []


def refuse_json_containers(path: Path, df: pl.DataFrame, columns: dict) -> None:
    """Refuse ids that are JSON lists or objects (``columns``: canonical name -> column).

    Where a column also holds strings, polars turns a list into its JSON text (``'["m1"]'``),
    so the lines of the text ids that start like one are parsed again to tell them apart.
    """
    texts = {canon: src for canon, src in columns.items() if df.schema[src] == pl.String}
    if not texts:
        return
    starts = df.select([pl.col(src).str.contains(r"^[\[{]").fill_null(False).alias(canon)
                        for canon, src in texts.items()])
    suspects = starts.with_row_index("row", offset=1).filter(pl.any_horizontal(list(texts)))
    if suspects.height == 0:
        return
    wanted = dict(zip(suspects.get_column("row"), suspects.drop("row").iter_rows(named=True)))
    for row, raw in _json_rows(path):
        if row not in wanted:
            continue
        try:
            obj = _parse_json(raw)
        except RecursionError:
            obj = {src: [] for src in texts.values()}  # only a list or an object nests
        for canon, flagged in wanted[row].items():
            value = obj.get(texts[canon]) if flagged and isinstance(obj, dict) else None
            if isinstance(value, (list, dict)):
                kind = "a list" if isinstance(value, list) else "an object"
                raise RecordsError(f"{canon} id is {kind}, expected a string or an integer",
                                   path=path, column=texts[canon], row=row)
        if row == suspects.get_column("row")[-1]:
            return
