"""The ``precomputed`` encoder: vectors you computed elsewhere, read from a file and looked up
by prompt id or by prompt text.

File formats (one vector per prompt; every problem is reported with the file, row and column):

* Parquet: a key column, ``prompt`` (prompt ids) or ``text`` (prompt texts; ``prompt`` wins
  when both are present) or the column named by ``id_col`` (ids), and the vectors either as
  one list column (e.g. ``embedding``) or as numeric columns (all the others).
* ``.npy``: an (n, d) matrix whose prompt ids are in ``ids=`` or in a sidecar text file
  ``<stem>.ids.txt`` (one id a line).

The vectors are copied into the encoder's state, so a saved router does not need the file;
``add_vectors(path)`` adds the vectors of prompts seen only at routing time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Encoder, l2_rows

__all__ = ["PrecomputedEncoder", "read_vectors"]


class PrecomputedEncoder(Encoder):
    """Vectors from a file (module doc), keyed by prompt id (``keyed_by == "id"``) or text.

    ``keyed_by``: ``"id"``, ``"text"`` or None (from the file: a ``text`` key column means
    text). Routers keyed by id take prompt ids where the others take texts, and their cost
    model uses each model's mean cost (no text length).
    """

    name = "precomputed"

    def __init__(self, *, path: str | None = None, id_col: str | None = "prompt",
                 ids: Sequence[str] | None = None, keyed_by: str | None = None):
        if keyed_by not in (None, "id", "text"):
            raise ValueError(f"precomputed keyed_by must be 'id', 'text' or None, got {keyed_by!r}")
        self.path, self.id_col, self.ids = path, id_col, ids
        self._keyed_by = keyed_by

    @property
    def keyed_by(self) -> str:
        """``"id"`` or ``"text"``; before fitting, read from the file's key column."""
        if self._keyed_by is None:
            self._keyed_by = _key_kind(self.path, self.id_col)
        return self._keyed_by

    def params(self):
        return dict(path=None if self.path is None else str(self.path), id_col=self.id_col,
                    keyed_by=self.keyed_by)

    @classmethod
    def saved_shapes(cls, params):
        return {"ids": ("vectors",), "vectors": ("vectors", "features")}

    def fit(self, keys=None):
        if self.path is None:
            raise ValueError("precomputed encoder needs path=FILE.parquet|.npy")
        self._keyed_by, self.id_col, ids, vectors = read_vectors(
            Path(self.path), key_col=self.id_col, ids=self.ids, keyed_by=self._keyed_by)
        self.set_state({"ids": np.asarray(ids, dtype=str), "vectors": vectors})
        return self

    def add_vectors(self, path) -> "PrecomputedEncoder":
        """A copy that also knows the vectors in ``path`` (they win over saved ones of the same
        key): for prompts that arrive at routing time. Same key kind and width required."""
        _, _, ids, vectors = read_vectors(Path(path), key_col=None, ids=None,
                                          keyed_by=self.keyed_by)
        if vectors.shape[1] != self.width:
            raise ValueError(f"{path}: vectors of {vectors.shape[1]} features; the router's "
                             f"embeddings have {self.width}")
        keep = ~np.isin(self.ids_, np.asarray(ids, dtype=str))
        out = PrecomputedEncoder(path=str(path), id_col=self.id_col, keyed_by=self.keyed_by)
        out.set_state({"ids": np.concatenate([self.ids_[keep], np.asarray(ids, dtype=str)]),
                       "vectors": np.concatenate([self.vectors_[keep], vectors])})
        return out

    def transform(self, keys):
        keys = list(keys)
        rows = [self._index.get(k, -1) for k in keys]
        missing = [k for k, r in zip(keys, rows) if r < 0]
        if missing:
            what = "prompt ids" if self.keyed_by == "id" else "prompt texts"
            shown = [k if len(str(k)) <= 60 else str(k)[:57] + "..." for k in missing[:3]]
            raise KeyError(f"{len(missing)} of {len(keys)} {what} have no vector in the "
                           f"router's embeddings (from {self.path}), e.g. {shown!r}: give a "
                           "file with their vectors (routerrec route --embeddings FILE, or "
                           "encoder.add_vectors(FILE))")
        return self.vectors_[np.asarray(rows, dtype=np.int64)]

    @property
    def width(self):
        return self.vectors_.shape[1]

    def state(self):
        return self.params(), {"ids": self.ids_, "vectors": self.vectors_}

    def set_state(self, arrays):
        if self._keyed_by is None:  # saved before embeddings could be keyed by text
            self._keyed_by = "id"
        self.ids_ = np.asarray(arrays["ids"], dtype=str)
        self.vectors_ = l2_rows(np.array(arrays["vectors"], dtype=np.float32))
        self._index = {k: i for i, k in enumerate(self.ids_.tolist())}
        if len(self._index) != len(self.ids_):
            raise ValueError("the saved embeddings' keys are not unique")


def _key_kind(path, id_col) -> str:
    """What a vectors file is keyed by, from its name and Parquet schema (no data read)."""
    if path is None or Path(path).suffix == ".npy" or not Path(path).is_file():
        return "id"
    import polars as pl

    try:
        columns = pl.read_parquet_schema(path)
    except Exception:  # noqa: BLE001 - fitting reads the file and names the problem
        return "id"
    return "text" if "text" in columns and id_col not in columns else "id"


def read_vectors(path: Path, *, key_col: str | None = "prompt", ids=None,
                 keyed_by: str | None = None) -> tuple[str, str, list, np.ndarray]:
    """``(keyed_by, key column, keys, vectors)`` from an embeddings file (module doc)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such embeddings file")
    if path.suffix == ".npy":
        if keyed_by == "text":
            raise ValueError(f"{path}: an .npy file is keyed by prompt id (its sidecar "
                             ".ids.txt); embeddings keyed by text go in a Parquet file")
        try:
            vectors = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a readable .npy matrix ({exc})") from None
        if ids is None:
            side = path.with_suffix(".ids.txt")
            if not side.is_file():
                raise ValueError(f"{path}: give ids= or a sidecar {side.name} with one id a line")
            ids = [line.strip() for line in side.read_text().splitlines() if line.strip()]
        keys, key_col, keyed_by = [str(i) for i in ids], None, "id"
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise ValueError(f"{path}: {len(keys)} ids for vectors of shape {vectors.shape}")
        if vectors.dtype.kind not in "iuf":
            raise ValueError(f"{path}: vectors must be numbers, got dtype {vectors.dtype}")
        vectors = vectors.astype(np.float32)
        columns = [f"column {j}" for j in range(vectors.shape[1])]
    else:
        keyed_by, key_col, keys, vectors, columns = _read_parquet(path, key_col, keyed_by)
    _check_rows(path, key_col, keys, vectors, columns)
    return keyed_by, key_col, keys, vectors


def _read_parquet(path, key_col, keyed_by):
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - polars raises several kinds for a bad file
        raise ValueError(f"{path}: not a readable Parquet file ({type(exc).__name__})") from None
    candidates = ([key_col] if key_col else []) + {"id": ["prompt"], "text": ["text"]}.get(
        keyed_by, ["prompt", "text"])
    found = [c for c in candidates if c in frame.columns]
    if not found:
        raise ValueError(f"{path}: no key column {' or '.join(map(repr, dict.fromkeys(candidates)))}"
                         f" (columns: {', '.join(frame.columns)})")
    key_col = found[0]
    keyed_by = keyed_by or ("text" if key_col == "text" else "id")
    nulls = frame[key_col].is_null()
    if nulls.any():
        raise ValueError(f"{path}, row {int(nulls.arg_true()[0]) + 1}, column {key_col!r}: "
                         "missing key")
    keys = frame[key_col].cast(pl.String).to_list()
    rest = frame.drop([c for c in (key_col, "prompt", "text") if c in frame.columns])
    if rest.width == 0:
        raise ValueError(f"{path}: no vector columns besides {key_col!r}")
    if rest.width == 1 and isinstance(rest.dtypes[0], (pl.List, pl.Array)):
        col = rest.columns[0]
        lengths = rest[col].list.len().fill_null(-1).to_numpy()
        if len(lengths) and (lengths[0] < 1 or (lengths != lengths[0]).any()):
            row = 0 if lengths[0] < 1 else int(np.argmax(lengths != lengths[0]))
            raise ValueError(f"{path}, row {row + 1}, column {col!r}: a vector of "
                             f"{max(int(lengths[row]), 0)} numbers"
                             + (f"; row 1 has {lengths[0]}" if row else ""))
        try:
            flat = rest[col].explode().cast(pl.Float32).to_numpy()
        except Exception:  # noqa: BLE001 - a cast polars cannot do
            raise ValueError(f"{path}, column {col!r}: vectors must hold numbers, got "
                             f"{rest.dtypes[0]}") from None
        vectors = flat.reshape(len(keys), int(lengths[0]) if len(keys) else 0)
        columns = [f"{col}[{j}]" for j in range(vectors.shape[1])]
    else:
        bad = [c for c, t in rest.schema.items() if not t.is_numeric()]
        if bad:
            raise ValueError(f"{path}, column {bad[0]!r}: not numeric ({rest.schema[bad[0]]}); "
                             "vectors are one list column or numeric columns")
        vectors = rest.to_numpy().astype(np.float32)
        columns = [repr(c) for c in rest.columns]
    return keyed_by, key_col, keys, vectors, columns


def _check_rows(path, key_col, keys, vectors, columns):
    where = f", column {key_col!r}" if key_col else ""
    if not keys:
        raise ValueError(f"{path}: no vectors (the file has no rows)")
    seen: dict = {}
    for row, key in enumerate(keys, start=1):
        if key in seen:
            shown = key if len(key) <= 60 else key[:57] + "..."
            raise ValueError(f"{path}, rows {seen[key]} and {row}{where}: the key {shown!r} "
                             "appears twice")
        seen[key] = row
    bad = np.argwhere(~np.isfinite(vectors))
    if len(bad):
        row, col = (int(i) for i in bad[0])
        raise ValueError(f"{path}, row {row + 1}, {columns[col]}: {vectors[row, col]} is not "
                         "a finite number")
