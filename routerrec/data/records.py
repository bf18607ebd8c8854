"""Evaluation records: prompt x LLM -> score (and often a cost in USD).

A :class:`Records` is a validated, immutable record set; :meth:`Records.matrix` turns it into
a sparse :class:`Matrix` whose **rows are prompts and columns are models**. The readers
(:mod:`routerrec.data.load`) build it; this module trusts its input.

Missing cells are *unknown*, never zero: a stored ``0.0`` score means
"incorrect" and is kept as an explicit entry of the sparse matrix.

Examples
--------
>>> import polars as pl
>>> from routerrec import records_from_frame
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

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import polars as pl
import scipy.sparse as sp

from ..util import validate
from .splits import held_out_cells, held_out_prompts

__all__ = ["UNKNOWN_BENCHMARK", "Records", "RecordsError", "Matrix", "Coding", "code_rows"]

# the benchmark label of prompts that have none (reports and stratified splits)
UNKNOWN_BENCHMARK = "<unknown>"

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

    Build with :func:`~routerrec.data.load.load_records` or
    :func:`~routerrec.data.load.records_from_frame`, which validate; the constructor trusts its
    input. ``coding`` is :func:`code_rows` of ``table`` when the caller already has it (the
    readers compute it to find duplicates), so it is not computed twice.
    """

    def __init__(self, table: pl.DataFrame, texts: Optional[pl.DataFrame] = None, source: str = "<frame>",
                 feedback: str = "explicit", *, coding: Optional["Coding"] = None):
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
        if coding is not None:
            self.__dict__.update(_prompt_series=coding.prompts, _model_series=coding.models,
                                 _codes=(coding.prompt_codes, coding.model_codes))
        self._texts = self._own_texts(texts)
        self._source = str(source)

    def _own_texts(self, texts: Optional[pl.DataFrame]) -> pl.DataFrame:
        """The first known text of each of this table's prompts, sorted by prompt."""
        if texts is None or texts.height == 0:
            return pl.DataFrame(schema={"prompt": pl.String, "text": pl.String})
        texts = texts.select(pl.col("prompt").cast(pl.String), pl.col("text").cast(pl.String))
        texts = texts.filter(pl.col("text").is_not_null()).unique(subset="prompt", keep="first", maintain_order=True)
        if texts.height:
            texts = texts.join(self._prompt_series.to_frame("prompt"), on="prompt", how="semi")
        return texts.sort("prompt")

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

    def texts_for(self, prompt_ids: Sequence[str], reader: str) -> list:
        """Texts of the given prompt ids, refusing ids without one (``reader`` says who
        needs them, e.g. "routers featurise prompt texts")."""
        texts = self.text_of(prompt_ids)
        missing = [p for p, t in zip(prompt_ids, texts) if t is None]
        if missing:
            raise ValueError(f"{len(missing)} prompt(s) have no text in {self.source}, e.g. "
                             f"{missing[:3]!r}: {reader}")
        return texts

    # -- integer codes and canonical (prompt, model) order
    @cached_property
    def _codes(self) -> tuple:
        """(prompt codes, model codes) aligned with table rows, int32, sorted-id order."""
        coding = code_rows(self._table, self._prompt_series, self._model_series)
        return coding.prompt_codes, coding.model_codes

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

    def _same_table(self, texts: Optional[pl.DataFrame], feedback: str) -> "Records":
        """This table with other texts or feedback: every value cached from the table carries over."""
        new = Records(self._table, None, self._source, feedback)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k in _TABLE_CACHES})
        new._texts = new._own_texts(texts)
        return new

    def with_feedback(self, feedback: str) -> "Records":
        """A copy read as ``"explicit"`` scores or ``"implicit"`` feedback (see ``feedback``)."""
        return self._same_table(self._texts, feedback)

    def with_texts(self, texts: Union[pl.DataFrame, Mapping[str, str]]) -> "Records":
        """A copy whose prompt texts are ``texts`` (frame with ``prompt``, ``text`` or a dict)."""
        if isinstance(texts, Mapping):
            texts = pl.DataFrame({"prompt": list(texts.keys()), "text": list(texts.values())},
                                 schema={"prompt": pl.String, "text": pl.String})
        return self._same_table(texts, self.feedback)

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
        depend on the row order of ``table``. ``fraction`` must be strictly between 0 and 1, and
        a split that would hold out no cell (tiny data) is refused with a ``ValueError``.
        """
        fraction, seed = validate.fraction("fraction", fraction), validate.integer("seed", seed, low=0)
        pos, model_codes, indptr = self._canonical
        test_rows = np.zeros(self.n_records, dtype=bool)
        test_rows[pos[held_out_cells(model_codes, indptr, self.n_models, fraction, seed)]] = True
        mask = pl.Series("test", test_rows)
        return self._derive(self._table.filter(~mask)), self._derive(self._table.filter(mask))

    def split_prompts(self, fraction: float = 0.2, seed: int = 0, stratify_by_benchmark: bool = True) -> tuple:
        """Hold out a random share of whole prompts: ``(train, test)``.

        With ``stratify_by_benchmark`` each benchmark (prompts with unknown
        benchmark form one group) contributes ``round(fraction * size)`` of its
        prompts; otherwise ``round(fraction * n_prompts)`` prompts are drawn
        overall. Seeded with ``numpy.random.default_rng(seed)``; independent of
        row order. Test prompts have no record in train. ``fraction`` must be strictly between
        0 and 1, and a split that would leave either side without a prompt is refused with a
        ``ValueError``.
        """
        fraction, seed = validate.fraction("fraction", fraction), validate.integer("seed", seed, low=0)
        prompts = self._prompt_list
        if stratify_by_benchmark:
            pb = self._prompt_benchmark
            strata = pl.Series([pb[p] for p in prompts], dtype=pl.String).fill_null(UNKNOWN_BENCHMARK)
            strata_codes = strata.rank("dense").to_numpy().astype(np.int64)
        else:
            strata_codes = np.zeros(len(prompts), dtype=np.int64)
        is_test = held_out_prompts(strata_codes, fraction, seed)
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


# what Records caches from its table alone (everything but the texts' lookup): kept by _same_table
_TABLE_CACHES = frozenset(k for k, v in vars(Records).items() if isinstance(v, cached_property)) - {"_text_map"}


class Coding(NamedTuple):
    """A record table's sorted unique ids and, per row, the int32 positions of its ids in them."""

    prompts: pl.Series
    models: pl.Series
    prompt_codes: np.ndarray
    model_codes: np.ndarray


def code_rows(table: pl.DataFrame, prompts: Optional[pl.Series] = None,
              models: Optional[pl.Series] = None) -> Coding:
    """Integer codes of ``table``'s ``prompt`` and ``model`` columns (ids default to its sorted unique ones).

    One ``Enum`` cast in polars, no Python loop: the codes are the matrix's row and column indices.
    """
    if prompts is None:
        prompts = table.get_column("prompt").unique().sort()
    if models is None:
        models = table.get_column("model").unique().sort()
    codes = table.select(
        pl.col("prompt").cast(pl.Enum(prompts)).to_physical().alias("p"),
        pl.col("model").cast(pl.Enum(models)).to_physical().alias("m"),
    )
    return Coding(prompts, models,
                  codes.get_column("p").to_numpy().astype(np.int32, copy=False),
                  codes.get_column("m").to_numpy().astype(np.int32, copy=False))

