"""RouterEval / tinyBenchmarks pickles: ``{'data': {sub: {'correctness': items x models}}, 'models': [...]}``.

Each ``sub`` (a sub-benchmark, e.g. ``harness_arc_challenge_25``) holds a numpy array of
shape (items, models) whose column ``j`` belongs to ``models[j]``. Read into long rows with
prompt id ``<sub>-<item index>`` (0-based), benchmark ``sub``, model ``models[j]``; a NaN cell
means "not evaluated" and is dropped. Other keys of ``data[sub]`` (predictions, ...) are not
read. Errors name the column ``<sub>/<model>`` and the row ``item index + 1``.

Unpickling runs arbitrary code, so the file is read only with ``trust_pickle=True``. Without a
format, a ``.pkl``/``.pickle`` file is recognised (``claims``) by reading its first opcodes with
:mod:`pickletools`, which executes nothing: a dict whose first keys include ``data`` and
``correctness``.
"""
from __future__ import annotations

import io
import pickle
import pickletools
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from ...util.limits import check_bytes
from ..records import RecordsError
from .columns import COST_FROM, ROW, SCORE_FROM, validate
from .layout import Layout, Part, ReadOptions

__all__ = ["LAYOUTS"]

_SUFFIXES = (".pkl", ".pickle")
_PEEK_BYTES = 1 << 18
_PEEK_OPS = 2000
_CELL_BYTES = 64
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
            "STRING"}
_MAPPING = {"prompt": "<sub>-<item>", "model": "models", "score": "correctness", "benchmark": "data"}


def _unpickle(path: Path, options: ReadOptions):
    if not path.exists():
        raise RecordsError("file does not exist", path=path)
    if not path.is_file():
        raise RecordsError("is a directory, not a file" if path.is_dir() else "is not a regular file",
                           path=path)
    if not options.trust_pickle:
        raise RecordsError(
            "refusing to read a pickle: unpickling runs arbitrary code from the file. "
            "Pass trust_pickle=True (command line: --trust-pickle) only for files you trust, "
            "or convert it to a matrix CSV/Parquet first", path=path)
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise RecordsError(f"cannot be read as a pickle: {type(e).__name__}: {e}", path=path) from None


def _models(obj: dict, path: Path) -> list:
    models = obj.get("models")
    if isinstance(models, np.ndarray):
        models = models.tolist()
    if not isinstance(models, (list, tuple)) or not models:
        raise RecordsError(f"'models' must be a non-empty list of model names, got {type(models).__name__}",
                           path=path, column="models")
    names = [str(m) for m in models]
    seen = set()
    for j, name in enumerate(names):
        _check_text(name, "models", path)
        if name in seen:
            raise RecordsError(f"model {name!r} is listed twice (position {j})", path=path, column="models")
        seen.add(name)
    return names


def _check_text(name: str, column: str, path: Path) -> None:
    """Refuse a name that cannot be UTF-8 text (a lone surrogate), which polars cannot hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordsError(f"{name!r} is not valid text (a lone surrogate)", path=path, column=column) from None


def _correctness(sub: str, value, n_models: int, path: Path) -> np.ndarray:
    _check_text(sub, "data", path)
    column = f"data[{sub!r}]"
    if not isinstance(value, dict) or "correctness" not in value:
        raise RecordsError("expected a dict with a 'correctness' array", path=path, column=column)
    try:
        arr = np.asarray(value["correctness"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise RecordsError(f"'correctness' is not an array of numbers: {e}", path=path, column=column) from None
    if arr.ndim != 2 or arr.shape[1] != n_models:
        raise RecordsError(f"'correctness' has shape {arr.shape}, expected (items, {n_models}) for the "
                           f"{n_models} models", path=path, column=column)
    return arr


def _sub_rows(sub: str, arr: np.ndarray, models: list) -> pl.DataFrame:
    """Raw long rows of one sub-benchmark (NaN cells left out)."""
    items, cols = np.nonzero(~np.isnan(arr))
    names = pl.Series(models, dtype=pl.String)
    return pl.DataFrame({
        ROW: items.astype(np.uint64) + 1,
        "prompt": pl.Series(items).cast(pl.String),
        "model": names.gather(cols),
        "score": arr[items, cols],
    }).with_columns(
        pl.concat_str(pl.lit(f"{sub}-"), pl.col("prompt")).alias("prompt"),
        pl.lit(sub, dtype=pl.String).alias("benchmark"),
        pl.concat_str(pl.lit(f"{sub}/"), pl.col("model")).alias(SCORE_FROM),
        pl.lit(None, dtype=pl.String).alias(COST_FROM),
    )


def _read(path: Path, options: ReadOptions) -> Part:
    obj = _unpickle(path, options)
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
        raise RecordsError(f"pickle holds a {type(obj).__name__} without a 'data' dict; expected "
                           "{'data': {sub: {'correctness': items x models}}, 'models': [...]}", path=path)
    models = _models(obj, path)
    arrays = {str(sub): _correctness(str(sub), value, len(models), path) for sub, value in obj["data"].items()}
    if not arrays:
        raise RecordsError("'data' is empty: no sub-benchmarks", path=path, column="data")
    cells = sum(a.size for a in arrays.values())
    check_bytes(cells * _CELL_BYTES, f"reading {cells} cells", advice="keep fewer sub-benchmarks in the file",
                error=partial(RecordsError, path=path))
    raw = pl.concat([_sub_rows(sub, arr, models) for sub, arr in arrays.items()], how="vertical")
    if raw.height == 0:
        raise RecordsError("every cell is NaN: no scores", path=path)
    return Part(validate(raw, str(path), _MAPPING).rows, None)


def _claims(path: Path) -> bool:
    """A dict pickle whose first keys include 'data' and 'correctness', seen without unpickling."""
    try:
        if not path.is_file():  # a FIFO would block
            return False
        with open(path, "rb") as fh:
            head = fh.read(_PEEK_BYTES)
        strings, first = set(), None
        for n, (op, arg, _) in enumerate(pickletools.genops(io.BytesIO(head))):
            if op.name in ("PROTO", "FRAME", "MARK"):
                continue
            if first is None:
                first = op.name
                if first not in ("EMPTY_DICT", "DICT"):
                    return False
            if op.name in _STRINGS:
                strings.add(arg if isinstance(arg, str) else str(arg))
            if {"data", "correctness"} <= strings:
                return True
            if n > _PEEK_OPS:
                return False
    except Exception:  # noqa: BLE001 - a truncated or foreign stream is simply not claimed
        return False
    return False


LAYOUTS = (Layout("routereval", _read, _SUFFIXES, claims=_claims),)
