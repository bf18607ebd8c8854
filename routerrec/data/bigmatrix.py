"""Records too large for a table of strings: stream Parquet straight into the CSR matrix.

``Records`` keeps every record as a row of a polars frame (two id strings, a score, ...),
about 50-100 bytes a record: fine for millions, too much for RouterEval's 200 million.
:func:`scan_records` never holds that frame. Two streaming passes over the Parquet files
(polars' lazy scan, no pandas):

1. ``group_by(prompt).len()`` and ``unique(model)``: the sorted prompt and model ids (the
   same id order as ``Records``) and each prompt's record count, i.e. the CSR ``indptr``;
   plus a check that every score is a finite number.
2. batches of ``(prompt code, model code, score)`` scattered into preallocated CSR arrays
   (``int32`` model indices + ``float32`` scores) by a numba kernel, then each row sorted
   and checked for duplicate (prompt, model) pairs.

Peak memory of loading is therefore the CSR itself, 8 bytes a record (1.6 GB for 200M),
plus the id lists and one batch. Fitting ALS then adds the transposed copy (another 8
bytes a record) while it runs. The result is a :class:`LargeRecords`, which every method
accepts (they only call ``records.matrix()``); what needs the record table (splits,
filters, texts, costs) is not available on it.
"""
from __future__ import annotations

import glob
import os
from functools import cached_property
from pathlib import Path

import numba
import numpy as np
import polars as pl
import scipy.sparse as sp

from ..util.progress import progress_bar
from .records import Matrix, RecordsError

__all__ = ["scan_records", "LargeRecords"]


class LargeRecords:
    """A prompts x models :class:`~routerrec.data.records.Matrix` loaded by :func:`scan_records`."""

    feedback = "explicit"

    def __init__(self, matrix: Matrix, source: str):
        self._matrix = matrix
        self.source = source

    def matrix(self) -> Matrix:
        return self._matrix

    @property
    def prompts(self) -> list:
        return list(self._matrix.prompts)

    @property
    def models(self) -> list:
        return list(self._matrix.models)

    @property
    def n_prompts(self) -> int:
        return self._matrix.shape[0]

    @property
    def n_models(self) -> int:
        return self._matrix.shape[1]

    @property
    def n_records(self) -> int:
        return self._matrix.scores.nnz

    @property
    def prompt_benchmark(self) -> dict:
        return {}  # Parquet scans carry no benchmark column

    @cached_property
    def score_kind(self) -> str:
        d = self._matrix.scores.data
        return "binary" if bool(np.all((d == 0) | (d == 1))) else "graded"

    def __repr__(self) -> str:
        return (f"LargeRecords({self.source}: {self.n_prompts} prompts x {self.n_models} models, "
                f"{self.n_records} records)")


@numba.njit(cache=True)
def _scatter(indptr, fill, p, m, s, indices, data):
    """Place one batch of records at their row's next free slot."""
    for k in range(p.shape[0]):
        r = p[k]
        pos = indptr[r] + fill[r]
        fill[r] += 1
        indices[pos] = m[k]
        data[pos] = s[k]


@numba.njit(cache=True)
def _sort_rows(indptr, indices, data):
    """Sort each row by model index; return the first row with a repeated model, or -1."""
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        order = np.argsort(indices[a:b], kind="mergesort")
        indices[a:b] = indices[a:b][order]
        data[a:b] = data[a:b][order]
        for k in range(a + 1, b):
            if indices[k] == indices[k - 1]:
                return r
    return -1


def _files(path) -> list[str]:
    p = Path(path)
    files = sorted(glob.glob(str(p / "*.parquet"))) if p.is_dir() else sorted(glob.glob(str(p)))
    if not files:
        raise RecordsError("no Parquet files found", path=path)
    return files


def scan_records(path: str | os.PathLike, *, prompt: str = "prompt", model: str = "model",
                 score: str = "score", batch_rows: int = 4_000_000,
                 progress: bool = False) -> LargeRecords:
    """Stream long-format Parquet (a file, a directory of files or a glob) into a CSR.

    Same orientation and id order as ``Records.matrix()``: rows are prompts, sorted ids.
    Raises :class:`RecordsError` naming the file(s) and column on missing columns,
    non-finite scores and duplicate (prompt, model) pairs.
    """
    files = _files(path)
    label = files[0] if len(files) == 1 else f"{Path(files[0]).parent}/*.parquet"
    lf = pl.scan_parquet(files)
    schema = lf.collect_schema()
    for col in (prompt, model, score):
        if col not in schema:
            raise RecordsError(f"missing required column {col!r}; columns present: "
                               f"{list(schema.names())}", path=label)
    ids = [pl.col(c).cast(pl.String) for c in (prompt, model)]
    with progress_bar(3, "scan Parquet", enabled=progress, unit="pass") as bar:
        counts, models, bad = pl.collect_all([
            lf.group_by(ids[0].alias("id")).agg(pl.len().alias("n")).sort("id"),
            lf.select(ids[1].alias("id").unique().sort()),
            lf.select((pl.col(score).is_null() | ~pl.col(score).cast(pl.Float64).is_finite())
                      .sum().alias("bad"), (ids[0].is_null() | ids[1].is_null()).sum().alias("null")),
        ], engine="streaming")
        bar.update(1)
        if bad["null"][0]:
            raise RecordsError(f"{bad['null'][0]} records have no prompt or model id",
                               path=label, column=f"{prompt}/{model}")
        if bad["bad"][0]:
            raise RecordsError(f"{bad['bad'][0]} scores are not finite numbers", path=label,
                               column=score)
        prompts = counts.get_column("id")
        model_ids = models.get_column("id")
        indptr = np.zeros(len(prompts) + 1, np.int64)
        np.cumsum(counts.get_column("n").to_numpy(), out=indptr[1:])
        nnz = int(indptr[-1])
        indices = np.empty(nnz, np.int32)
        data = np.empty(nnz, np.float32)
        fill = np.zeros(len(prompts), np.int64)
        coded = lf.select(ids[0].cast(pl.Enum(prompts)).to_physical().alias("p"),
                          ids[1].cast(pl.Enum(model_ids)).to_physical().alias("m"),
                          pl.col(score).cast(pl.Float32).alias("s"))
        with progress_bar(nnz, "records", enabled=progress, unit="rec") as rec_bar:
            for batch in coded.collect_batches(chunk_size=batch_rows, engine="streaming"):
                _scatter(indptr, fill, batch["p"].to_numpy(), batch["m"].to_numpy(),
                         batch["s"].to_numpy(), indices, data)
                rec_bar.update(batch.height)
        bar.update(1)
        dup_row = _sort_rows(indptr, indices, data)
        if dup_row >= 0:
            raise RecordsError(f"duplicate (prompt, model) pair: prompt {prompts[dup_row]!r} "
                               "has a model twice", path=label)
        bar.update(1)
    idx_dtype = np.int32 if nnz < 2**31 else np.int64
    scores = sp.csr_matrix((data, indices, indptr.astype(idx_dtype)),
                           shape=(len(prompts), len(model_ids)))
    matrix = Matrix(scores=scores, costs=None, prompts=prompts.to_list(),
                    models=model_ids.to_list())
    return LargeRecords(matrix, label)
