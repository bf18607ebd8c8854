"""The default prompt encoder ``tfidf``: hashed word n-grams -> sublinear TF-IDF -> truncated
SVD, all scikit-learn, no downloaded weights. Hashing keeps the encoder's state to two arrays
(IDF weights and SVD components), so it saves to npz without pickle; the counting runs in a
numba kernel (``hashed_counts``)."""
from __future__ import annotations

import functools
import itertools
from typing import Sequence

import numpy as np

from ...util.limits import check_bytes
from ...util.validate import integer
from .base import Encoder, as_texts, l2_rows

__all__ = ["TfidfEncoder", "MAX_NGRAM", "hashed_counts"]


MAX_NGRAM = 16  # the longest word n-grams the tfidf encoder counts
SERIAL_BYTES = 2 ** 16  # texts shorter than this in all are counted on one thread


class TfidfEncoder(Encoder):
    """Hashed word n-grams, sublinear TF-IDF, truncated SVD to ``dim``; L2-normalised rows.

    ``ngram_max=1`` by default: bigrams double the hashing time on long prompts (RouterBench's
    average 1,500 characters) for little routing gain; raise it for short prompts.
    Counting runs on ``n_jobs`` threads (default: all cores; see ``hashed_counts``). ``n_jobs``
    changes the speed only, never the features, so it is not part of the saved state.
    """

    name = "tfidf"

    def __init__(self, *, dim: int = 128, ngram_max: int = 1, n_features: int = 2 ** 18,
                 seed: int = 0, n_jobs: int | None = None):
        # bounds that keep a saved router's values from making routing hang or allocate:
        # the hashing kernel makes one pass over every prompt per n-gram length, hashed column
        # indices are int32, and fitting and routing each hold a table of n_features entries
        self.dim = integer("tfidf dim", dim, low=1)
        self.ngram_max = integer("tfidf ngram_max", ngram_max, low=1, high=MAX_NGRAM)
        self.n_features = integer("tfidf n_features", n_features, low=1, high=2**31 - 1)
        check_bytes(8 * self.n_features, f"the tfidf encoder's table of n_features="
                    f"{self.n_features} columns", advice="use a smaller n_features (default 2**18)")
        self.seed, self.n_jobs = seed, n_jobs

    @classmethod
    def saved_shapes(cls, params):
        return {"used": ("terms",), "idf": ("terms",), "components": ("terms", "features")}

    def params(self) -> dict:
        return dict(dim=self.dim, ngram_max=self.ngram_max, n_features=self.n_features,
                    seed=self.seed)

    def fit(self, keys):
        from sklearn.decomposition import TruncatedSVD

        counts = hashed_counts(keys, n_features=self.n_features, ngram_max=self.ngram_max,
                               n_jobs=self.n_jobs)
        df = np.bincount(counts.indices, minlength=self.n_features)
        self.set_state({"used": np.flatnonzero(df).astype(np.int32),
                         "idf": np.zeros(0, np.float32), "components": np.zeros((0, 0), np.float32)})
        df = df[self.used_]
        self.idf_ = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        # the training counts restricted to the columns just kept (re-hashing would repeat
        # the slowest step): every hashed column is used, so only the indices move
        import scipy.sparse as sp

        cols = self._lookup[counts.indices].astype(np.int32)
        x = sp.csr_matrix((_tfidf_values(counts.data, cols, counts.indptr, self.idf_), cols,
                           counts.indptr), shape=(counts.shape[0], len(self.used_)))
        k = max(1, min(self.dim, x.shape[0] - 1, x.shape[1] - 1))
        svd = TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=self.seed).fit(x)
        self.components_ = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        return self

    def transform(self, keys):
        """The features of ``keys``: the steps of ``fit``'s TF-IDF on plain arrays, then the
        projection (``project_rows``: scipy's product to the bit, without a scipy matrix,
        whose checks cost more than the rest for one prompt). A few prompts (a served request)
        take the steps after counting in one kernel call (``tfidf_rows``, the same values)."""
        data, starts = _utf8(keys)
        indptr, cols, vals = _count_arrays(data, starts, n_features=self.n_features,
                                           ngram_max=self.ngram_max, lookup=self._lookup,
                                           n_jobs=self.n_jobs)
        if len(data) < SERIAL_BYTES and self.idf_.dtype == self.components_.dtype == np.float32:
            return _kernels().tfidf_rows(indptr, cols, vals, _log_table(), self.idf_,
                                         self.components_)
        vals = _tfidf_values(vals, cols, indptr, self.idf_)
        out = np.zeros((len(indptr) - 1, self.width), np.result_type(vals, self.components_))
        return l2_rows(np.asarray(_kernels().project_rows(indptr, cols, vals, self.components_,
                                                          out), dtype=np.float32))

    @property
    def width(self):
        return self.components_.shape[1]

    def state(self):
        return self.params(), {"used": self.used_, "idf": self.idf_, "components": self.components_}

    def set_state(self, arrays):
        self.used_, self.idf_, self.components_ = arrays["used"], arrays["idf"], arrays["components"]
        used = self.used_
        if used.dtype.kind not in "iu" or (len(used) and not (
                0 <= used[0] and used[-1] < self.n_features and np.all(used[1:] > used[:-1]))):
            raise ValueError(f"the tfidf columns in use must be increasing integers below "
                             f"n_features={self.n_features}")
        self._lookup = np.full(self.n_features, -1, dtype=np.int64)
        self._lookup[self.used_] = np.arange(len(self.used_))



def hashed_counts(texts: Sequence[str], *, n_features: int = 2 ** 18, ngram_max: int = 1,
                  n_jobs: int | None = None):
    """Word n-gram counts, exactly ``HashingVectorizer(n_features=n_features,
    ngram_range=(1, ngram_max), alternate_sign=False, norm=None, dtype=np.float32)
    .transform(texts)`` (CSR, sorted indices), computed by a numba kernel on ``n_jobs`` threads
    (default: all cores) instead of a Python regex per document: 2-3x faster on one core on
    RouterBench-length prompts, and parallel (see ``hashing_kernel``)."""
    return _counts(texts, n_features=n_features, ngram_max=ngram_max,
                   lookup=np.arange(n_features, dtype=np.int64), width=n_features, n_jobs=n_jobs)


_WORD_TABLE = None


def _word_table() -> np.ndarray:
    """``table[c]``: does ``re``'s ``\\w`` match ``chr(c)``? (every code point; ~0.1 s once)."""
    global _WORD_TABLE
    if _WORD_TABLE is None:
        import re

        table = np.zeros(0x110000, dtype=np.bool_)
        for m in re.finditer(r"(?u)\w+", "".join(map(chr, range(0x110000)))):
            table[m.start():m.end()] = True
        _WORD_TABLE = table
    return _WORD_TABLE


def _tfidf_values(vals, cols, indptr, idf):
    """Counts -> sublinear TF-IDF, rows L2-normalised (what ``fit`` and ``transform`` share;
    the log is numpy's, the rest one kernel)."""
    logs = np.log(vals)
    out = np.empty(len(logs), np.result_type(logs, idf))
    return _kernels().tfidf_values(indptr, cols, logs, idf, out)


@functools.cache
def _log_table() -> np.ndarray:
    """``table[k]`` = numpy's float32 log of k, for every count a text shorter than
    ``SERIAL_BYTES`` can hold (``tfidf_rows`` cannot call numpy's log)."""
    with np.errstate(divide="ignore"):  # log 0, never looked up
        return np.log(np.arange(SERIAL_BYTES + 1, dtype=np.float32))


def _utf8(texts) -> tuple[np.ndarray, np.ndarray]:
    """The texts lower-cased (HashingVectorizer's preprocessor) in UTF-8 (CPython's fastest
    encoder; lone surrogates pass as non-word characters, as they are to the regex), end to
    end: (bytes, each text's start offset and the end)."""
    docs = [t.lower().encode("utf-8", "surrogatepass") for t in as_texts(texts)]
    starts = np.array([0, *itertools.accumulate(map(len, docs))], dtype=np.int64)
    return np.frombuffer(b"".join(docs), dtype=np.uint8), starts


def _count_arrays(data, starts, *, n_features, ngram_max, lookup, n_jobs):
    """CSR arrays (indptr, columns, counts) of the hashed n-grams of the texts ``_utf8``
    encoded, mapped by ``lookup``."""
    args = (data, starts, _word_table(), lookup, n_features, ngram_max)
    kernels = _kernels()
    # a few prompts (a served request) count faster on the calling thread than the time it
    # takes to wake numba's pool
    if len(data) < SERIAL_BYTES:
        return kernels.hash_counts_serial(*args)
    import numba

    most = numba.config.NUMBA_NUM_THREADS
    threads = max(1, min(n_jobs or most, most))
    if threads == 1:
        return kernels.hash_counts_serial(*args)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return kernels.hash_counts(*args)
    finally:
        numba.set_num_threads(before)


@functools.cache
def _kernels():
    """The numba kernels, imported at the first use (importing numba takes ~0.5 s, which a
    process that never encodes does not pay), then without an import statement per call."""
    from ...kernels import hashing

    return hashing


def _counts(texts, *, n_features, ngram_max, lookup, width, n_jobs):
    import scipy.sparse as sp

    indptr, cols, vals = _count_arrays(*_utf8(texts), n_features=n_features,
                                       ngram_max=ngram_max, lookup=lookup, n_jobs=n_jobs)
    return sp.csr_matrix((vals, cols, indptr), shape=(len(indptr) - 1, width))
