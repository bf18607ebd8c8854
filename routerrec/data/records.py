"""Evaluation records: prompt x LLM -> score (and often a cost in USD).

A record set is a sparse prompts x models matrix. This module loads records from
long-format CSV / Parquet / JSONL files, from RouterBench's wide layout, and from
the shared real data sets; validates them (every error names the file, the
column and the 1-based data row); and turns them into a sparse matrix whose
**rows are prompts and columns are models**.

Missing cells are *unknown*, never zero: a stored ``0.0`` score means
"incorrect" and is kept as an explicit entry of the sparse matrix.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"prompt": ["p1", "p1", "p2"], "model": ["a", "b", "a"],
...                    "score": [1.0, 0.0, 1.0]})
>>> rec = records_from_frame(df)
>>> rec
Records(<frame>: 2 prompts x 2 models, 3 records, density 0.750, binary, costs no, benchmarks 0)
>>> m = rec.matrix()
>>> m.scores.shape, m.scores.nnz
((2, 2), 3)
"""

from __future__ import annotations

import ast
import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import polars as pl
import scipy.sparse as sp

__all__ = [
    "UNKNOWN_BENCHMARK",
    "Records",
    "RecordsError",
    "load_records",
    "records_from_frame",
    "Matrix",
    "shared_data_dir",
    "load_openllm",
    "load_mmlu_pro",
    "load_routerbench",
]

PathLike = Union[str, "os.PathLike[str]"]

_FORMATS = ("csv", "parquet", "jsonl", "routerbench", "routerbench-pkl")
_DUPLICATE_MODES = ("error", "mean", "last")
_RB_COST = "|total_cost"
_RB_RESPONSE = "|model_response"
_RB_REQUIRED = ("sample_id", "prompt", "eval_name")
# the benchmark label of prompts that have none (reports and stratified splits)
UNKNOWN_BENCHMARK = "<unknown>"


# --------------------------------------------------------------------------- errors


class RecordsError(ValueError):
    """Bad input records.

    The message always names the file (``"<frame>"`` for in-memory frames), and
    the column and 1-based data row (the header is not counted) when there is
    one. The parts are also available as attributes ``path``, ``column``,
    ``row`` (``None`` when not applicable) and ``message`` (the bare reason).
    """

    def __init__(self, message, *, path=None, column=None, row=None):
        self.message = str(message)
        self.path = None if path is None else str(path)
        self.column = column
        self.row = row
        where = []
        if self.path is not None:
            where.append(self.path)
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {self.message}" if where else self.message)


# --------------------------------------------------------------------------- shared data


def shared_data_dir(name: Optional[str] = None) -> Optional[Path]:
    """Directory of the shared real data sets (or of the one data set ``name`` in it), or
    ``None`` when absent, so examples, benchmarks and tests can skip politely.

    Resolves ``<repo root>/../shared/data`` from this package's location. The
    environment variable ``ROUTERREC_SHARED_DATA`` overrides it (a path that is
    not a directory gives ``None``, which makes the data-dependent tests skip).
    """
    env = os.environ.get("ROUTERREC_SHARED_DATA")
    if env:
        p = Path(env).expanduser()
    else:
        p = Path(__file__).resolve().parents[3] / "shared" / "data"
    if name is not None:
        p = p / name
    return p if p.is_dir() else None


def _shared_subdir(dir: Optional[PathLike], name: str) -> Path:
    if dir is not None:
        d = Path(dir)
    else:
        root = shared_data_dir()
        if root is None:
            raise RecordsError(
                "shared data directory not found: pass dir=... or set ROUTERREC_SHARED_DATA",
                path=f"../shared/data/{name}",
            )
        d = root / name
    if not d.is_dir():
        raise RecordsError("directory does not exist", path=d)
    return d


# --------------------------------------------------------------------------- matrix


@dataclass(frozen=True)
class Matrix:
    """Sparse prompts x models view of a record set.

    ``scores`` is a float32 CSR matrix of shape ``(n_prompts, n_models)``:
    **rows are prompts, columns are models**, indices sorted within each row,
    explicit zeros stored (0 = incorrect, absent = unknown).

    ``costs`` is ``None`` when the records carry no cost at all; otherwise a
    float32 CSR matrix with exactly the same pattern as ``scores`` (it shares
    ``indices`` and ``indptr`` with it, so ``costs.data[k]`` is the cost of the
    cell whose score is ``scores.data[k]``), holding ``NaN`` where a record has
    no known cost. Do not modify the index arrays in place.
    """

    scores: sp.csr_matrix
    costs: Optional[sp.csr_matrix]
    prompts: list
    models: list
    prompt_index: dict = field(init=False, repr=False)  # id -> row, derived from prompts
    model_index: dict = field(init=False, repr=False)  # id -> column, derived from models

    def __post_init__(self):
        object.__setattr__(self, "prompt_index", {p: i for i, p in enumerate(self.prompts)})
        object.__setattr__(self, "model_index", {m: j for j, m in enumerate(self.models)})

    @property
    def shape(self) -> tuple:
        return self.scores.shape


# --------------------------------------------------------------------------- Records


class Records:
    """An immutable set of evaluation records.

    Attributes
    ----------
    table : polars.DataFrame
        One row per observed (prompt, model) cell, columns ``prompt`` (Utf8),
        ``model`` (Utf8), ``score`` (Float64), ``cost`` (Float64, only when the
        source had costs; may contain nulls) and ``benchmark`` (Utf8, null when
        unknown). (prompt, model) pairs are unique.
    texts : polars.DataFrame
        ``prompt`` (Utf8), ``text`` (Utf8), one row per prompt with a known
        text (may be empty).
    source : str
        File path(s) the records came from, or ``"<frame>"``.
    feedback : {"explicit", "implicit"}
        ``"explicit"``: scores (missing = unknown). ``"implicit"``: a log of chosen
        models (missing = not chosen), read only by the ``implicit`` method. Set with
        :meth:`with_feedback`; kept by every derived record set (splits, filters).

    Build with :func:`load_records` or :func:`records_from_frame`, which
    validate; the constructor trusts its input.
    """

    def __init__(self, table: pl.DataFrame, texts: Optional[pl.DataFrame] = None, source: str = "<frame>",
                 feedback: str = "explicit"):
        if feedback not in ("explicit", "implicit"):
            raise ValueError(f"feedback must be 'explicit' or 'implicit', got {feedback!r}")
        self.feedback = feedback
        if "benchmark" not in table.columns:
            table = table.with_columns(pl.lit(None, dtype=pl.String).alias("benchmark"))
        casts = [pl.col("prompt").cast(pl.String), pl.col("model").cast(pl.String), pl.col("score").cast(pl.Float64)]
        if "cost" in table.columns:
            casts.append(pl.col("cost").cast(pl.Float64))
        casts.append(pl.col("benchmark").cast(pl.String))
        self._table = table.select(casts)
        if texts is None or texts.height == 0:
            texts = pl.DataFrame(schema={"prompt": pl.String, "text": pl.String})
        else:
            texts = texts.select(pl.col("prompt").cast(pl.String), pl.col("text").cast(pl.String))
            texts = texts.filter(pl.col("text").is_not_null()).unique(subset="prompt", keep="first", maintain_order=True)
            if texts.height:
                texts = texts.join(self._prompt_series.to_frame("prompt"), on="prompt", how="semi")
        self._texts = texts.sort("prompt")
        self._source = str(source)

    # -- basic attributes
    @property
    def table(self) -> pl.DataFrame:
        return self._table

    @property
    def texts(self) -> pl.DataFrame:
        return self._texts

    @property
    def source(self) -> str:
        return self._source

    @cached_property
    def _prompt_series(self) -> pl.Series:
        return self._table.get_column("prompt").unique().sort()

    @cached_property
    def _model_series(self) -> pl.Series:
        return self._table.get_column("model").unique().sort()

    @cached_property
    def _prompt_list(self) -> list:
        return self._prompt_series.to_list()

    @cached_property
    def _model_list(self) -> list:
        return self._model_series.to_list()

    @property
    def prompts(self) -> list:
        """Sorted unique prompt ids (row order of :meth:`matrix`)."""
        return list(self._prompt_list)

    @property
    def models(self) -> list:
        """Sorted unique model ids (column order of :meth:`matrix`)."""
        return list(self._model_list)

    @property
    def n_prompts(self) -> int:
        return len(self._prompt_series)

    @property
    def n_models(self) -> int:
        return len(self._model_series)

    @property
    def n_records(self) -> int:
        return self._table.height

    def __len__(self) -> int:
        return self._table.height

    @property
    def density(self) -> float:
        cells = self.n_prompts * self.n_models
        return self.n_records / cells if cells else 0.0

    @cached_property
    def score_kind(self) -> str:
        """``"binary"`` if every score is 0 or 1, else ``"graded"``."""
        s = self._table.get_column("score")
        return "binary" if bool(s.is_in([0.0, 1.0]).all()) else "graded"

    @property
    def has_costs(self) -> bool:
        return "cost" in self._table.columns

    @cached_property
    def benchmarks(self) -> list:
        """Sorted unique benchmark names (unknown benchmarks excluded)."""
        return self._table.get_column("benchmark").drop_nulls().unique().sort().to_list()

    @cached_property
    def _prompt_benchmark(self) -> dict:
        # A prompt normally has one benchmark; if its records disagree the
        # lexicographically smallest non-null name wins (deterministic).
        pb = self._table.group_by("prompt").agg(pl.col("benchmark").min())
        return dict(zip(pb.get_column("prompt").to_list(), pb.get_column("benchmark").to_list()))

    @property
    def prompt_benchmark(self) -> dict:
        """``{prompt id: benchmark name or None}``."""
        return dict(self._prompt_benchmark)

    @cached_property
    def _text_map(self) -> dict:
        return dict(zip(self._texts.get_column("prompt").to_list(), self._texts.get_column("text").to_list()))

    def text_of(self, prompt_ids: Iterable[str]) -> list:
        """Texts of the given prompt ids (``None`` where unknown)."""
        if isinstance(prompt_ids, str):
            prompt_ids = [prompt_ids]
        tm = self._text_map
        return [tm.get(p) for p in prompt_ids]

    # -- integer codes and canonical (prompt, model) order
    @cached_property
    def _codes(self) -> tuple:
        """(prompt codes, model codes) aligned with table rows, int32, sorted-id order."""
        return _codes_for(self._table, self._prompt_series, self._model_series)

    @cached_property
    def _canonical(self) -> tuple:
        """(pos, indices, indptr): table row positions in (prompt, model) order + CSR structure."""
        p, m = self._codes
        n = len(p)
        pos = np.arange(n, dtype=np.int32 if n < 2**31 - 1 else np.int64)
        shape = (self.n_prompts, self.n_models)
        csr = sp.csr_matrix((pos, (p, m)), shape=shape)
        csr.sort_indices()
        if csr.nnz != n:  # pragma: no cover - guarded by validation
            raise RecordsError("duplicate (prompt, model) pairs in table", path=self._source)
        return csr.data, csr.indices, csr.indptr

    def matrix(self) -> Matrix:
        """The prompts x models :class:`Matrix` (cached)."""
        return self._matrix

    @cached_property
    def _matrix(self) -> Matrix:
        pos, indices, indptr = self._canonical
        shape = (self.n_prompts, self.n_models)
        score = self._table.get_column("score").to_numpy()
        scores = sp.csr_matrix((score[pos].astype(np.float32), indices, indptr), shape=shape)
        costs = None
        if self.has_costs:
            cost = self._table.get_column("cost").to_numpy()  # Float64 since __init__
            if not np.isnan(cost).all():
                costs = sp.csr_matrix((cost[pos].astype(np.float32), indices, indptr), shape=shape)
        return Matrix(
            scores=scores,
            costs=costs,
            prompts=self.prompts,
            models=self.models,
        )

    # -- derived record sets
    def _derive(self, table: pl.DataFrame) -> "Records":
        return Records(table, self._texts, self._source, self.feedback)

    def with_feedback(self, feedback: str) -> "Records":
        """A copy read as ``"explicit"`` scores or ``"implicit"`` feedback (see ``feedback``)."""
        new = Records(self._table, self._texts, self._source, feedback)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k.startswith("_")
                             and k not in ("_table", "_texts", "_source")})
        return new

    def with_texts(self, texts: Union[pl.DataFrame, Mapping[str, str]]) -> "Records":
        """A copy whose prompt texts are ``texts`` (frame with ``prompt``, ``text`` or a dict)."""
        if isinstance(texts, Mapping):
            texts = pl.DataFrame({"prompt": list(texts.keys()), "text": list(texts.values())},
                                 schema={"prompt": pl.String, "text": pl.String})
        new = Records(self._table, texts, self._source, self.feedback)
        for k in ("_prompt_series", "_model_series", "_codes", "_canonical"):
            if k in self.__dict__:
                new.__dict__[k] = self.__dict__[k]
        return new

    def filter(self, *, prompts: Optional[Iterable[str]] = None, models: Optional[Iterable[str]] = None) -> "Records":
        """Records restricted to the given prompt ids and/or model ids.

        Unknown ids raise :class:`RecordsError` (a typo would otherwise give a
        silently smaller set). Texts are kept for the prompts that remain.
        """
        mask = None
        for col, ids, known in (("prompt", prompts, self._prompt_series), ("model", models, self._model_series)):
            if ids is None:
                continue
            ids = pl.Series(col, [ids] if isinstance(ids, str) else list(ids), dtype=pl.String)
            unknown = ids.filter(~ids.is_in(known.implode()))
            if len(unknown):
                raise RecordsError(
                    f"filter: {len(unknown)} unknown {col} id(s), e.g. {unknown.head(5).to_list()}",
                    path=self._source,
                    column=col,
                )
            e = pl.col(col).is_in(ids.implode())
            mask = e if mask is None else mask & e
        if mask is None:
            return self
        return self._derive(self._table.filter(mask))

    def split_cells(self, fraction: float = 0.2, seed: int = 0) -> tuple:
        """Hold out a random share of the observed cells: ``(train, test)``.

        ``round(fraction * n_records)`` cells go to test, drawn uniformly with
        ``numpy.random.default_rng(seed)``, except that one random cell of every
        prompt and one random cell of every model are protected and stay in
        train. So train covers every prompt and model id (test never holds an
        id unseen in train). If fewer unprotected cells exist than requested,
        all of them go to test and a warning is issued. The result does not
        depend on the row order of ``table``.
        """
        _check_fraction(fraction)
        n = self.n_records
        pos, m_canon, indptr = self._canonical
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)  # canonical cells in a random order
        rank = np.empty(n, dtype=order.dtype)
        rank[order] = np.arange(n, dtype=order.dtype)
        protected = np.zeros(n, dtype=bool)
        if n:
            # per prompt (CSR rows; every prompt has a cell): its cell of smallest rank
            min_p = np.minimum.reduceat(rank, indptr[:-1])
            protected |= rank == np.repeat(min_p, np.diff(indptr))
            # per model
            min_m = np.full(self.n_models, n, dtype=rank.dtype)
            np.minimum.at(min_m, m_canon, rank)
            protected |= rank == min_m[m_canon]
        k = int(round(fraction * n))
        available = int(n - protected.sum())
        if k > available:
            warnings.warn(
                f"split_cells: asked for {k} test cells but only {available} can be held out "
                "while keeping every prompt and model in train",
                stacklevel=2,
            )
            k = available
        test_canon = order[~protected[order]][:k]
        test_rows = np.zeros(n, dtype=bool)
        test_rows[pos[test_canon]] = True
        mask = pl.Series("test", test_rows)
        return self._derive(self._table.filter(~mask)), self._derive(self._table.filter(mask))

    def split_prompts(self, fraction: float = 0.2, seed: int = 0, stratify_by_benchmark: bool = True) -> tuple:
        """Hold out a random share of whole prompts: ``(train, test)``.

        With ``stratify_by_benchmark`` each benchmark (prompts with unknown
        benchmark form one group) contributes ``round(fraction * size)`` of its
        prompts; otherwise ``round(fraction * n_prompts)`` prompts are drawn
        overall. Seeded with ``numpy.random.default_rng(seed)``; independent of
        row order. Test prompts have no record in train.
        """
        _check_fraction(fraction)
        prompts = self._prompt_list
        n = len(prompts)
        rng = np.random.default_rng(seed)
        u = rng.random(n)
        if stratify_by_benchmark:
            pb = self._prompt_benchmark
            strata = pl.Series([pb[p] for p in prompts], dtype=pl.String).fill_null(UNKNOWN_BENCHMARK)
            strata_codes = strata.rank("dense").to_numpy().astype(np.int64)
        else:
            strata_codes = np.zeros(n, dtype=np.int64)
        order = np.lexsort((u, strata_codes))
        sc = strata_codes[order]
        starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]]) if n else np.array([], dtype=np.int64)
        sizes = np.diff(np.r_[starts, n])
        within = np.arange(n) - np.repeat(starts, sizes)
        quota = np.floor(fraction * sizes + 0.5).astype(np.int64)
        is_test = np.zeros(n, dtype=bool)
        is_test[order] = within < np.repeat(quota, sizes)
        test_ids = pl.Series("prompt", prompts, dtype=pl.String).filter(pl.Series(is_test))
        mask = pl.col("prompt").is_in(test_ids.implode())
        return self._derive(self._table.filter(~mask)), self._derive(self._table.filter(mask))

    # -- summaries
    def info(self) -> dict:
        """Summary statistics as a plain dict.

        Keys: ``source``, ``n_prompts``, ``n_models``, ``n_records``,
        ``density``, ``score_kind``, ``benchmarks`` (``{name: {"prompts",
        "models", "records"}}``; records of unknown benchmark are counted under
        ``"<unknown>"``), ``cost_coverage`` (share of records with a cost),
        ``cost_total`` and ``cost_mean`` (USD over records with a cost; ``None``
        without costs), ``has_texts`` (share of prompts with a text).
        """
        t = self._table
        per = (
            t.group_by(pl.col("benchmark").fill_null(UNKNOWN_BENCHMARK))
            .agg(
                pl.col("prompt").n_unique().alias("prompts"),
                pl.col("model").n_unique().alias("models"),
                pl.len().alias("records"),
            )
            .sort("benchmark")
        )
        benches = {
            r["benchmark"]: {"prompts": int(r["prompts"]), "models": int(r["models"]), "records": int(r["records"])}
            for r in per.iter_rows(named=True)
        }
        if self.has_costs and self.n_records:
            c = t.get_column("cost")
            known = self.n_records - c.null_count()
            cov, total = known / self.n_records, float(c.sum()) if known else None
            mean = float(c.mean()) if known else None
        else:
            cov, total, mean = 0.0, None, None
        return {
            "source": self._source,
            "n_prompts": self.n_prompts,
            "n_models": self.n_models,
            "n_records": self.n_records,
            "density": self.density,
            "score_kind": self.score_kind,
            "benchmarks": benches,
            "cost_coverage": cov,
            "cost_total": total,
            "cost_mean": mean,
            "has_texts": (self._texts.height / self.n_prompts) if self.n_prompts else 0.0,
        }

    def __repr__(self) -> str:
        return (
            f"Records({self._source}: {self.n_prompts} prompts x {self.n_models} models, "
            f"{self.n_records} records, density {self.density:.3f}, {self.score_kind}, "
            f"costs {'yes' if self.has_costs else 'no'}, benchmarks {len(self.benchmarks)})"
        )


def _check_fraction(fraction: float) -> None:
    if not (0.0 <= float(fraction) <= 1.0):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")


def _codes_for(table: pl.DataFrame, prompts: pl.Series, models: pl.Series) -> tuple:
    codes = table.select(
        pl.col("prompt").cast(pl.Enum(prompts)).to_physical().alias("p"),
        pl.col("model").cast(pl.Enum(models)).to_physical().alias("m"),
    )
    return (
        codes.get_column("p").to_numpy().astype(np.int32, copy=False),
        codes.get_column("m").to_numpy().astype(np.int32, copy=False),
    )


# --------------------------------------------------------------------------- reading files


def _infer_format(path: Path, fmt: Optional[str]) -> str:
    if fmt is not None:
        if fmt not in _FORMATS:
            raise RecordsError(f"unknown format {fmt!r}; expected one of {', '.join(_FORMATS)}", path=path)
        return fmt
    name = path.name.lower()
    for suffixes, f in (
        ((".csv", ".csv.gz", ".tsv"), "csv"),
        ((".parquet", ".pq"), "parquet"),
        ((".jsonl", ".ndjson", ".json"), "jsonl"),
        ((".pkl", ".pickle", ".pkl.gz"), "routerbench-pkl"),
    ):
        if name.endswith(suffixes):
            return f
    raise RecordsError(
        "cannot infer the format from the file name; pass format= one of " + ", ".join(_FORMATS), path=path
    )


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


def _read_table(path: Path, fmt: str) -> pl.DataFrame:
    """Read a csv / parquet / jsonl file (routerbench: csv or parquet) into a frame."""
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if path.is_dir():
        raise RecordsError("is a directory, not a file", path=path)
    if path.stat().st_size == 0:
        raise RecordsError("file is empty", path=path)
    kind = fmt
    if fmt == "routerbench":
        kind = "parquet" if path.name.lower().endswith((".parquet", ".pq")) else "csv"
    try:
        if kind == "csv":
            sep = "\t" if path.name.lower().endswith(".tsv") else ","
            # everything as text: conversion (and its errors) is ours, row by row
            df = pl.read_csv(path, infer_schema=False, separator=sep)
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


def _is_routerbench_wide(columns: Sequence[str]) -> bool:
    return all(c in columns for c in _RB_REQUIRED) and any(c.endswith(_RB_COST) for c in columns)


def _routerbench_turns_to_text(s: Optional[str]) -> Optional[str]:
    if s is None:
        return None
    try:
        v = ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return s
    if isinstance(v, (list, tuple)):
        return "\n".join(str(x) for x in v)
    return str(v)


def _routerbench_long(df: pl.DataFrame, path: str) -> tuple:
    """Melt RouterBench's wide layout into raw long rows (+ texts)."""
    cols = df.columns
    missing = [c for c in _RB_REQUIRED if c not in cols]
    if missing:
        raise RecordsError(
            f"not RouterBench's wide layout: missing column(s) {missing}; columns present: {cols}", path=path
        )
    models = [c[: -len(_RB_COST)] for c in cols if c.endswith(_RB_COST)]
    if not models:
        raise RecordsError(f"not RouterBench's wide layout: no '<model>{_RB_COST}' columns; columns present: {cols}",
                           path=path)
    absent = [m for m in models if m not in cols]
    if absent:
        raise RecordsError(f"score column(s) missing for {absent} (their '{_RB_COST}' columns exist)", path=path,
                           column=absent[0])
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    df = df.with_row_index("_row", offset=1)
    parts = [
        df.select(
            pl.col("_row"),
            pl.col("sample_id").alias("prompt"),
            pl.lit(m).alias("model"),
            pl.col(m).alias("score"),
            pl.col(m + _RB_COST).alias("cost"),
            pl.col("eval_name").alias("benchmark"),
            pl.lit(m).alias("_scol"),
            pl.lit(m + _RB_COST).alias("_ccol"),
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
    txt = (
        df.select(pl.col("sample_id").cast(pl.String).alias("prompt"), pl.col("prompt").cast(pl.String).alias("raw"))
        .filter(pl.col("prompt").is_not_null())
        .unique(subset="prompt", keep="first", maintain_order=True)
    )
    texts = pl.DataFrame(
        {"prompt": txt.get_column("prompt"), "text": [_routerbench_turns_to_text(s) for s in txt.get_column("raw")]},
        schema={"prompt": pl.String, "text": pl.String},
    )
    return long, texts


def _read_pickle(path: Path, trust_pickle: bool) -> pl.DataFrame:
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if not trust_pickle:
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
    keep = [c for c in obj.columns if not c.endswith(_RB_RESPONSE)]
    return pl.from_pandas(obj[keep])


def _resolve_columns(columns: Sequence[str], path: str, prompt, model, score, cost, benchmark, text) -> dict:
    """Map canonical names -> source column names; raise on missing required ones."""
    mapping, missing = {}, []
    for canon, name in (("prompt", prompt), ("model", model), ("score", score), ("cost", cost),
                        ("benchmark", benchmark), ("text", text)):
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


def _long_from_frame(df: pl.DataFrame, path: str, mapping: dict) -> pl.DataFrame:
    if df.height == 0:
        raise RecordsError("has no data rows", path=path)
    df = df.with_row_index("_row", offset=1)
    return df.select(pl.col("_row"), *[pl.col(src).alias(canon) for canon, src in mapping.items()])


# --------------------------------------------------------------------------- validation


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


def _validate(raw: pl.DataFrame, path: str, mapping: dict) -> tuple:
    """Type and check one file's raw long rows. Returns (typed rows, texts)."""
    schema = raw.schema
    has_wide = "_scol" in raw.columns

    def colname(canon):
        return mapping.get(canon, canon)

    score_f = _as_float("score", schema["score"], path, colname("score"))
    exprs = [
        pl.col("_row"),
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
        exprs += [pl.col("_scol"), pl.col("_ccol")]
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
        row = int(typed.get_column("_row")[idx])
        if has_wide and canon in ("score", "cost"):
            column = raw.get_column("_scol" if canon == "score" else "_ccol")[idx]
        else:
            column = colname(canon)
        value = raw.get_column(canon)[idx]
        raise RecordsError(f"{reason}: {value!r}", path=path, column=column, row=row)

    texts = None
    if "text" in typed.columns:
        texts = typed.select("prompt", "text")
        typed = typed.drop("text")
    if has_wide:
        typed = typed.drop("_scol", "_ccol")
    return typed, texts


def _ids_rows_message(rows: pl.DataFrame, labels: list) -> str:
    parts = []
    for r in rows.iter_rows(named=True):
        f = labels[r["_file"]]
        parts.append(f"row {r['_row']}" + (f" of {f}" if len(labels) > 1 else ""))
    return " and ".join(parts)


def _finish(parts: list, texts_parts: list, labels: list, on_duplicate: str) -> Records:
    """Concatenate validated parts, resolve duplicate pairs, build Records."""
    if on_duplicate not in _DUPLICATE_MODES:
        raise ValueError(f"on_duplicate must be one of {_DUPLICATE_MODES}, got {on_duplicate!r}")
    has_cost = any("cost" in p.columns for p in parts)
    if len(parts) == 1:
        table = parts[0].with_columns(pl.lit(0, dtype=pl.UInt32).alias("_file"))
    else:
        fixed = []
        for i, p in enumerate(parts):
            if has_cost and "cost" not in p.columns:
                p = p.with_columns(pl.lit(None, dtype=pl.Float64).alias("cost"))
            cols = ["_row", "prompt", "model", "score"] + (["cost"] if has_cost else []) + ["benchmark"]
            fixed.append(p.select(pl.col(cols)).with_columns(
                pl.col("_row").cast(pl.UInt64), pl.lit(i, dtype=pl.UInt32).alias("_file")))
        table = pl.concat(fixed, how="vertical")
    source = labels[0] if len(labels) == 1 else "[" + ", ".join(labels) + "]"

    prompts = table.get_column("prompt").unique().sort()
    models = table.get_column("model").unique().sort()
    p, m = _codes_for(table, prompts, models)
    n_p, n_m, n = len(prompts), len(models), table.height
    key = p.astype(np.int64) * n_m + m
    if n_p * n_m <= max(8 * n, 1 << 25):
        dup = bool((np.bincount(key, minlength=n_p * n_m) > 1).any()) if n else False
    else:
        s = np.sort(key)
        dup = bool((s[1:] == s[:-1]).any())

    if dup:
        table = table.with_columns(pl.Series("_key", key))
        if on_duplicate == "error":
            d = table.filter(pl.col("_key").is_duplicated()).sort("_file", "_row", maintain_order=True)
            first_key = d.get_column("_key")[0]
            pair = d.filter(pl.col("_key") == first_key).head(2)
            r0 = pair.row(0, named=True)
            second = pair.row(1, named=True)
            raise RecordsError(
                f"duplicate (prompt, model) pair ({r0['prompt']!r}, {r0['model']!r}) in "
                f"{_ids_rows_message(pair, labels)}; pass on_duplicate='mean' or 'last' to combine them",
                path=labels[second["_file"]],
                row=int(second["_row"]),
            )
        if on_duplicate == "last":
            table = table.unique(subset="_key", keep="last", maintain_order=True)
        else:  # mean
            aggs = [
                pl.col("prompt").first(),
                pl.col("model").first(),
                pl.col("score").mean(),
                pl.col("benchmark").drop_nulls().first(),
                pl.col("_row").first(),
                pl.col("_file").first(),
            ]
            if has_cost:
                aggs.append(pl.col("cost").mean())
            table = table.group_by("_key", maintain_order=True).agg(aggs)
        table = table.drop("_key")
        p, m = _codes_for(table, prompts, models)

    cols = ["prompt", "model", "score"] + (["cost"] if has_cost else []) + ["benchmark"]
    texts = None
    tps = [t for t in texts_parts if t is not None]
    if tps:
        texts = pl.concat(tps, how="vertical")
    rec = Records(table.select(cols), texts, source)
    rec.__dict__["_prompt_series"] = prompts
    rec.__dict__["_model_series"] = models
    rec.__dict__["_codes"] = (p, m)
    return rec


def _load_one(path: Path, fmt: Optional[str], mapping_kw: dict, trust_pickle: bool) -> tuple:
    fmt = _infer_format(path, fmt)
    label = str(path)
    if fmt == "routerbench-pkl":
        df = _read_pickle(path, trust_pickle)
        wide = True
    else:
        df = _read_table(path, fmt)
        wide = fmt == "routerbench" or (fmt in ("csv", "parquet") and _is_routerbench_wide(df.columns))
    if wide:
        raw, texts = _routerbench_long(df, label)
        mapping = {"prompt": "sample_id", "model": "model", "score": "score", "cost": "cost", "benchmark": "eval_name"}
        typed, _ = _validate(raw, label, mapping)
        return typed, texts
    mapping = _resolve_columns(df.columns, label, **mapping_kw)
    raw = _long_from_frame(df, label, mapping)
    return _validate(raw, label, mapping)


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
    format : {"csv", "parquet", "jsonl", "routerbench", "routerbench-pkl"}, optional
        ``None`` infers it from the suffix (``.csv``, ``.parquet``/``.pq``,
        ``.jsonl``/``.ndjson``/``.json``, ``.pkl``/``.pickle``) and detects
        RouterBench's wide layout from the columns (``sample_id``, ``prompt``,
        ``eval_name`` and ``<model>|total_cost``). For the wide layout the
        mapping arguments are ignored: prompt = ``sample_id``, benchmark =
        ``eval_name``, text = the turns of ``prompt`` joined by newlines, and
        an empty score cell means "not evaluated".
    on_duplicate : {"error", "mean", "last"}
        What to do with repeated (prompt, model) pairs: raise naming both rows,
        average score and cost, or keep the last one.
    trust_pickle : bool
        RouterBench's ``routerbench_0shot.pkl`` is a pandas pickle, and
        unpickling runs arbitrary code. It is only read when this is True.

    Raises
    ------
    RecordsError
        On any bad input; the message names the file, and the column and
        1-based data row where there is one.
    """
    paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
    if not paths:
        raise RecordsError("no files given", path="[]")
    mapping_kw = dict(prompt=prompt, model=model, score=score, cost=cost, benchmark=benchmark, text=text)
    parts, texts = [], []
    for p in paths:
        typed, t = _load_one(p, format, mapping_kw, trust_pickle)
        parts.append(typed)
        texts.append(t)
    return _finish(parts, texts, [str(p) for p in paths], on_duplicate)


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
    mapping = _resolve_columns(df.columns, source, prompt, model, score, cost, benchmark, text)
    raw = _long_from_frame(df, source, mapping)
    typed, texts = _validate(raw, source, mapping)
    return _finish([typed], [texts], [source], on_duplicate)


# --------------------------------------------------------------------------- shared data sets


def load_openllm(dir: Optional[PathLike] = None) -> Records:
    """Open LLM Leaderboard v1 item-level correctness, with few-shot prompt texts.

    Reads ``<dir>/records.parquet`` (model, item, correct, benchmark) and
    ``<dir>/items.parquet`` (item, benchmark, prompt text). ``dir`` defaults to
    ``shared_data_dir() / "openllm-v1"``. No costs (``models.csv`` has
    parameter counts as a possible proxy).
    """
    d = _shared_subdir(dir, "openllm-v1")
    rec = load_records(d / "records.parquet", prompt="item", score="correct", benchmark="benchmark")
    items = d / "items.parquet"
    if items.exists():
        t = pl.read_parquet(items, columns=["item", "prompt"]).rename({"item": "prompt", "prompt": "text"})
        rec = rec.with_texts(t)
    return rec


def _mmlu_pro_text(question: Optional[str], options: Optional[str]) -> Optional[str]:
    if question is None:
        return None
    try:
        opts = json.loads(options) if options else []
    except ValueError:
        return f"{question}\n{options}"
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = [f"{letters[i] if i < 26 else i}. {o}" for i, o in enumerate(opts)]
    return "\n".join([question, *lines])


def load_mmlu_pro(dir: Optional[PathLike] = None, *, cost_proxy: bool = False) -> Records:
    """MMLU-Pro official 5-shot CoT outputs of 29 models, with question texts.

    Prompt id = ``question_id`` (as text), benchmark = the question's
    ``category``, text = question followed by lettered options. No costs by
    default; ``cost_proxy=True`` uses ``output_chars`` (length of the model's
    answer) as the cost column -- a proxy, not USD.
    """
    d = _shared_subdir(dir, "mmlu-pro")
    rp, qp = d / "records.parquet", d / "questions.parquet"
    for f in (rp, qp):
        if not f.exists():
            raise RecordsError("file does not exist", path=f)
    q = pl.read_parquet(qp, columns=["question_id", "question", "options", "category"])
    df = pl.read_parquet(rp).join(q.select("question_id", "category"), on="question_id", how="left")
    rec = records_from_frame(
        df,
        prompt="question_id",
        score="correct",
        cost="output_chars" if cost_proxy else None,
        benchmark="category",
        source=str(rp),
    )
    texts = pl.DataFrame(
        {
            "prompt": q.get_column("question_id").cast(pl.String),
            "text": [_mmlu_pro_text(a, b) for a, b in zip(q.get_column("question"), q.get_column("options"))],
        },
        schema={"prompt": pl.String, "text": pl.String},
    )
    return rec.with_texts(texts)


def load_routerbench(dir: Optional[PathLike] = None, split: str = "train") -> Records:
    """RouterBench 0-shot records (wide CSVs of RouterDC's split), with real USD costs and texts.

    ``split`` is ``"train"``, ``"test"`` or ``"all"``; reads every
    ``*_<split>.csv`` in ``dir`` (default ``shared_data_dir() / "routerbench"``).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    d = _shared_subdir(dir, "routerbench")
    splits = ("train", "test") if split == "all" else (split,)
    files = sorted(f for s in splits for f in d.glob(f"*_{s}.csv"))
    if not files:
        raise RecordsError(f"no *_{split}.csv files", path=d)
    return load_records(files, format="routerbench")
