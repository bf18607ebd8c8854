"""Prompt encoders: text -> dense feature vector, so a router can score prompts never seen.

Three encoders share one interface (``fit(keys)``, ``transform(keys)``, ``state()`` /
``encoder_from_state``):

* ``tfidf`` (default): hashed word n-grams -> sublinear TF-IDF -> truncated SVD, all
  scikit-learn, no downloaded weights. Hashing keeps the encoder's state to two arrays
  (IDF weights and SVD components), so it saves to npz without pickle.
* ``wordllama``: WordLlama's static embeddings, loaded offline from the weights inside
  its wheel.
* ``precomputed``: vectors you computed elsewhere (e.g. sentence-transformers), read from
  a Parquet file or an ``.npy`` matrix with prompt ids. It is keyed by **prompt id**, not
  text (``keyed_by == "id"``); routers then pass ids where the others take texts.

``encode_cached`` memoises ``transform`` on disk by content hash (encoder state + keys),
in ``$ROUTERREC_CACHE`` or ``~/.cache/routerrec``, written atomically as npz.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..util.limits import check_bytes
from ..util.validate import integer

__all__ = ["Encoder", "TfidfEncoder", "WordLlamaEncoder", "PrecomputedEncoder", "ENCODERS",
           "make_encoder", "encoder_from_state", "encode_cached", "cache_dir", "hashed_counts"]


class Encoder:
    """Base class. ``state()`` returns ``(params: dict, arrays: dict)`` for saving;
    ``saved_shapes(params)`` the shapes of those arrays, for checking a saved router before
    reading it (a dimension named ``"features"`` is the width of ``transform``'s output)."""

    name = ""
    keyed_by = "text"

    @classmethod
    def saved_shapes(cls, params: dict) -> dict:
        return {}

    @property
    def width(self) -> int:  # pragma: no cover - abstract
        """The number of features ``transform`` returns per key."""
        raise NotImplementedError

    def fit(self, keys: Sequence[str]) -> "Encoder":
        return self

    def transform(self, keys: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        return {}

    def state(self) -> tuple[dict, dict]:
        return self.params(), {}

    def _set_state(self, arrays: dict) -> None:
        pass

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


MAX_NGRAM = 16  # the longest word n-grams the tfidf encoder counts


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

    def _counts(self, keys, lookup=None, width=None):
        """Hashed term counts restricted to the columns seen in training (``used_``)."""
        if lookup is None:
            lookup, width = self._lookup, len(self.used_)
        return _counts(keys, n_features=self.n_features, ngram_max=self.ngram_max,
                       lookup=lookup, width=width, n_jobs=self.n_jobs)

    def _tfidf(self, counts):
        from ..kernels.hashing import normalize_rows_l2

        counts.data = (1.0 + np.log(counts.data)) * self.idf_[counts.indices]
        normalize_rows_l2(counts.data, counts.indptr)
        return counts

    def fit(self, keys):
        from sklearn.decomposition import TruncatedSVD

        counts = hashed_counts(keys, n_features=self.n_features, ngram_max=self.ngram_max,
                               n_jobs=self.n_jobs)
        df = np.bincount(counts.indices, minlength=self.n_features)
        self._set_state({"used": np.flatnonzero(df).astype(np.int32),
                         "idf": np.zeros(0, np.float32), "components": np.zeros((0, 0), np.float32)})
        df = df[self.used_]
        self.idf_ = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        # the training counts restricted to the columns just kept (re-hashing would repeat
        # the slowest step): every hashed column is used, so only the indices move
        import scipy.sparse as sp

        x = self._tfidf(sp.csr_matrix((counts.data, self._lookup[counts.indices].astype(np.int32),
                                       counts.indptr), shape=(counts.shape[0], len(self.used_))))
        k = max(1, min(self.dim, x.shape[0] - 1, x.shape[1] - 1))
        svd = TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=self.seed).fit(x)
        self.components_ = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        return self

    def transform(self, keys):
        z = np.asarray(self._tfidf(self._counts(keys)) @ self.components_, dtype=np.float32)
        return _l2(z)

    @property
    def width(self):
        return self.components_.shape[1]

    def state(self):
        return self.params(), {"used": self.used_, "idf": self.idf_, "components": self.components_}

    def _set_state(self, arrays):
        self.used_, self.idf_, self.components_ = arrays["used"], arrays["idf"], arrays["components"]
        used = self.used_
        if used.dtype.kind not in "iu" or (len(used) and not (
                0 <= used[0] and used[-1] < self.n_features and np.all(used[1:] > used[:-1]))):
            raise ValueError(f"the tfidf columns in use must be increasing integers below "
                             f"n_features={self.n_features}")
        self._lookup = np.full(self.n_features, -1, dtype=np.int64)
        self._lookup[self.used_] = np.arange(len(self.used_))


class WordLlamaEncoder(Encoder):
    """WordLlama embeddings (MIT; the weights ship inside the wheel, nothing is downloaded)."""

    name = "wordllama"

    def __init__(self, *, dim: int = 256):
        self.dim = dim

    def params(self):
        return dict(dim=self.dim)

    @property
    def width(self):
        return self.dim

    def _model(self):
        if getattr(self, "_wl", None) is None:
            import wordllama
            from wordllama import WordLlama

            self._wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                      disable_download=True, dim=self.dim)
        return self._wl

    def transform(self, keys):
        return _l2(np.asarray(self._model().embed(_texts(keys)), dtype=np.float32))


class PrecomputedEncoder(Encoder):
    """Vectors from a file, looked up by prompt id.

    ``path`` is a Parquet file with an id column (``id_col``, default ``prompt``) and either
    one list column ``embedding`` or numeric columns (all the others), or an ``.npy`` matrix
    whose row ids are in ``ids`` or in a sidecar text file ``<stem>.ids.txt`` (one a line).
    The vectors are copied into the encoder's state, so a saved router does not need the file.
    """

    name = "precomputed"
    keyed_by = "id"

    def __init__(self, *, path: str | None = None, id_col: str = "prompt",
                 ids: Sequence[str] | None = None):
        self.path, self.id_col, self.ids = path, id_col, ids

    def params(self):
        return dict(path=None if self.path is None else str(self.path), id_col=self.id_col)

    @classmethod
    def saved_shapes(cls, params):
        return {"ids": ("vectors",), "vectors": ("vectors", "features")}

    def fit(self, keys=None):
        if self.path is None:
            raise ValueError("precomputed encoder needs path=FILE.parquet|.npy")
        ids, vectors = _read_vectors(Path(self.path), self.id_col, self.ids)
        self._set_state({"ids": np.asarray(ids, dtype=str), "vectors": vectors})
        return self

    def transform(self, keys):
        try:
            rows = np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
        except KeyError as exc:
            raise KeyError(f"prompt id {exc.args[0]!r} has no vector in {self.path}") from None
        return self.vectors_[rows]

    @property
    def width(self):
        return self.vectors_.shape[1]

    def state(self):
        return self.params(), {"ids": self.ids_, "vectors": self.vectors_}

    def _set_state(self, arrays):
        self.ids_ = np.asarray(arrays["ids"], dtype=str)
        self.vectors_ = _l2(np.asarray(arrays["vectors"], dtype=np.float32))
        self._index = {k: i for i, k in enumerate(self.ids_.tolist())}


def _read_vectors(path: Path, id_col: str, ids):
    if not path.is_file():
        raise ValueError(f"{path}: no such embeddings file")
    if path.suffix == ".npy":
        vectors = np.load(path, allow_pickle=False)
        if ids is None:
            side = path.with_suffix(".ids.txt")
            if not side.is_file():
                raise ValueError(f"{path}: give ids= or a sidecar {side.name} with one id a line")
            ids = [line.strip() for line in side.read_text().splitlines() if line.strip()]
        ids = [str(i) for i in ids]
    else:
        import polars as pl

        frame = pl.read_parquet(path)
        if id_col not in frame.columns:
            raise ValueError(f"{path}: no id column {id_col!r} (columns: {frame.columns})")
        ids = frame[id_col].cast(pl.String).to_list()
        rest = frame.drop(id_col)
        if rest.width == 1 and isinstance(rest.dtypes[0], (pl.List, pl.Array)):
            vectors = np.asarray(rest[:, 0].to_list(), dtype=np.float32)
        else:
            bad = [c for c, t in rest.schema.items() if not t.is_numeric()]
            if bad:
                raise ValueError(f"{path}: column {bad[0]!r} is not numeric; expected an "
                                 "'embedding' list column or numeric columns")
            vectors = rest.to_numpy().astype(np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(ids):
        raise ValueError(f"{path}: {len(ids)} ids for vectors of shape {vectors.shape}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: prompt ids are not unique")
    if not np.all(np.isfinite(vectors)):
        raise ValueError(f"{path}: vectors contain NaN or infinity")
    return ids, vectors


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


def _counts(texts, *, n_features, ngram_max, lookup, width, n_jobs):
    import numba
    import scipy.sparse as sp

    from ..kernels.hashing import hash_counts

    # lower-cased (HashingVectorizer's preprocessor), UTF-8 (CPython's fastest encoder; lone
    # surrogates pass as non-word characters, as they are to the regex)
    docs = [t.lower().encode("utf-8", "surrogatepass") for t in _texts(texts)]
    starts = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)), out=starts[1:])
    data = np.frombuffer(b"".join(docs), dtype=np.uint8)
    most = numba.config.NUMBA_NUM_THREADS
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_jobs or most, most)))
    try:
        indptr, cols, vals = hash_counts(data, starts, _word_table(), lookup, n_features, ngram_max)
    finally:
        numba.set_num_threads(before)
    return sp.csr_matrix((vals, cols, indptr), shape=(len(docs), width))


def _texts(keys) -> list:
    return ["" if t is None else t for t in keys]


def _l2(z: np.ndarray) -> np.ndarray:
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return z


ENCODERS = {c.name: c for c in (TfidfEncoder, WordLlamaEncoder, PrecomputedEncoder)}


def make_encoder(name: str = "tfidf", **params) -> Encoder:
    """An unfitted encoder by name (``tfidf``, ``wordllama``, ``precomputed``)."""
    try:
        return ENCODERS[name](**params)
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}") from None


def encoder_from_state(name: str, params: dict, arrays: dict) -> Encoder:
    """Rebuild a fitted encoder from ``state()`` output (arrays read without pickle)."""
    enc = make_encoder(name, **params)
    enc._set_state(arrays)
    return enc


def cache_dir() -> Path:
    return Path(os.environ.get("ROUTERREC_CACHE") or Path.home() / ".cache" / "routerrec")


def _fingerprint(encoder: Encoder, keys: Sequence[str]) -> str:
    h = hashlib.sha256()
    params, arrays = encoder.state()
    h.update(json.dumps([encoder.name, params], sort_keys=True).encode())
    for k in sorted(arrays):
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    for key in keys:
        h.update(b"\x00" + ("" if key is None else key).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def encode_cached(encoder: Encoder, keys: Sequence[str], *, directory: Path | None = None) -> np.ndarray:
    """``encoder.transform(keys)``, memoised on disk by a hash of the encoder state and keys.

    Worth it for slow encoders over fixed training sets (e.g. ``wordllama`` on 12k prompts
    in a benchmark run many times); a changed text or encoder parameter is a new entry.
    """
    d = Path(directory) if directory is not None else cache_dir() / "features"
    path = d / f"{_fingerprint(encoder, keys)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return npz["features"]
        except (ValueError, OSError, KeyError, EOFError):
            path.unlink(missing_ok=True)  # a corrupt entry is recomputed
    from ..util.files import atomic_write

    z = encoder.transform(keys)
    atomic_write(path, lambda tmp: np.savez(tmp, features=z))
    return z
