"""Checks of arguments at the package's boundaries (public API, CLI options, loaded files).

Every entry point runs what it receives through these before any work, so internal code can
trust its inputs and a user gets one sentence that names the argument, what it must be and
what it got. Wrong types raise ``TypeError``, wrong values ``ValueError``.

>>> integer("rank", 8, low=1)
8
>>> real("reg", float("nan"), low=0, low_open=True)
Traceback (most recent call last):
...
ValueError: reg must be a finite number > 0, got nan
"""
from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Iterable

import numpy as np

__all__ = ["real", "reals", "integer", "integers", "fraction", "texts", "name", "path", "string", "choice",
           "choices", "flag", "instance", "finite"]


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def _outside(x, low, high, low_open: bool, high_open: bool):
    """Where ``x`` (a float or a float array) is not finite or not within the bounds."""
    bad = ~np.isfinite(x)
    if low is not None:
        bad |= x <= low if low_open else x < low
    if high is not None:
        bad |= x >= high if high_open else x > high
    return bad


def real(what: str, value, *, low=None, high=None, low_open: bool = False,
         high_open: bool = False) -> float:
    """``value`` as a finite float within the bounds (a bool or a string is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {type(value).__name__} {_show(value)}")
    x = float(value)
    if _outside(x, low, high, low_open, high_open):
        bounds = _bounds(low, high, low_open, high_open)
        raise ValueError(f"{what} must be a finite number{' ' + bounds if bounds else ''}, "
                         f"got {_show(value)}")
    return x


def reals(what: str, values, *, length: int | None = None, low=None, high=None,
          low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """A list-like of numbers as a 1-D float64 array: ``length`` of them when given, each
    finite and within the bounds (the first bad one is named by position, as ``real`` would).
    Bools, strings and objects are refused; checked in one pass, so a million values is cheap."""
    array = None
    if not isinstance(values, (str, bytes)):
        try:
            array = np.asarray(values)
        except ValueError:  # ragged nesting
            pass
    if array is None or array.dtype.kind not in "iuf":
        kind = type(values).__name__ if array is None else f"values of dtype {array.dtype}"
        raise TypeError(f"{what} must be a list of numbers, got {kind} {_show(values)}")
    if array.ndim != 1:
        raise ValueError(f"{what} must be a flat list of numbers, got shape {array.shape}")
    if length is not None and len(array) != length:
        raise ValueError(f"{what} must have {length} values, got {len(array)}")
    x = array.astype(np.float64)
    bad = np.flatnonzero(_outside(x, low, high, low_open, high_open))
    if len(bad):
        real(f"{what}[{bad[0]}]", float(x[bad[0]]), low=low, high=high, low_open=low_open,
             high_open=high_open)
    return x


def integer(what: str, value, *, low=None, high=None) -> int:
    """``value`` as an int within the bounds (a bool, a float or a string is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} {_show(value)}")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise ValueError(f"{what} must be an integer {_bounds(low, high, False, False)}, "
                         f"got {n}")
    return n


def integers(what: str, values, *, low=None, high=None) -> list[int]:
    """A non-empty list-like of ints (probe budgets, pool sizes, seeds), each within the
    bounds and named by position when not; one int or one string alone is refused."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a list of integers, got {type(values).__name__} "
                        f"{_show(values)}")
    items = [integer(f"{what}[{i}]", v, low=low, high=high) for i, v in enumerate(values)]
    if not items:
        raise ValueError(f"{what} must hold at least one integer, got none")
    return items


def fraction(what: str, value) -> float:
    """A share strictly between 0 and 1 (a split that leaves both sides non-empty)."""
    return real(what, value, low=0, high=1, low_open=True, high_open=True)


def texts(what: str, values: Iterable) -> list[str]:
    """A list of strings from a list-like; one string alone is refused (it is not a list of
    prompts: pass ``[text]``), and so is any item that is not a string, named by position."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a list of strings, not one string ({_show(values)}); "
                        f"for one prompt pass [text]")
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{what} must be a list of strings, got {type(values).__name__}") from None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{what}[{i}] must be a string, got {type(item).__name__} "
                            f"{_show(item)}")
    return items


def name(what: str, value) -> str:
    """An id a user will type again (a model or prompt name): a non-empty string without
    surrounding white space, commas (lists of ids are comma-separated) or line breaks."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {_show(value)}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    if value != value.strip() or any(ch in value for ch in ",\n\r"):
        raise ValueError(f"{what} {value!r} must not contain commas or line breaks, nor start "
                         "or end with white space (it could not be selected afterwards)")
    return value


def path(what: str, value) -> Path:
    """A file system path from a ``str`` or an ``os.PathLike`` (``None``, a number or bytes is
    refused here, not deep inside ``open``); an empty string is refused too (it means ``.``)."""
    if not isinstance(value, (str, os.PathLike)) or not isinstance(os.fspath(value), str):
        raise TypeError(f"{what} must be a path (str or os.PathLike), got "
                        f"{type(value).__name__} {_show(value)}")
    if not os.fspath(value):
        raise ValueError(f"{what} must not be an empty path")
    return Path(value)


def string(what: str, value) -> str:
    """A non-empty string that is used as it is (a Spark master URL, a label)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__} {_show(value)}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def choice(what: str, value, options) -> str:
    """One of the strings ``options`` (a setting such as a method's ``kind``)."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, options))}, "
                         f"got {_show(value)}")
    return value


def choices(what: str, values, options) -> list[str]:
    """A non-empty list of strings from ``options`` (strategies, groups), each bad one named by
    position."""
    items = texts(what, values)
    if not items:
        raise ValueError(f"{what} must name at least one of {list(options)}, got none")
    return [choice(f"{what}[{i}]", item, options) for i, item in enumerate(items)]


def flag(what: str, value) -> bool:
    """A bool (numpy's too); 0, 1 and the strings "true" / "false" are refused, not guessed."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {type(value).__name__} "
                        f"{_show(value)}")
    return bool(value)


def fields(what: str, mapping: dict, allowed) -> dict:
    """``mapping`` if every key is one of ``allowed`` (a request body, a config entry): a
    misspelt field is named, never ignored."""
    unknown = sorted(set(mapping) - set(allowed), key=str)
    if unknown:
        raise ValueError(f"{what} has unknown field {unknown[0]!r}; the fields are "
                         f"{', '.join(allowed)}")
    return mapping


def instance(what: str, value, cls, *, how: str = ""):
    """``value`` if it is a ``cls`` (a class or a tuple of them), else a TypeError naming
    what was given and ``how`` to make one (records given as a list, a path or a frame)."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{what} must be {names}{f' ({how})' if how else ''}, got "
                        f"{type(value).__name__} {_show(value)}")
    return value


def finite(what: str, array) -> np.ndarray:
    """A numeric array (any shape) whose values are all finite, as it is (no copy); the
    first NaN or infinite value is named by its index. For arrays read from files."""
    array = np.asarray(array)
    if array.dtype.kind not in "iufb":
        raise TypeError(f"{what} must be a numeric array, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{what} must hold finite numbers only, got {array[at]} at index "
                         f"{at[0] if len(at) == 1 else at}")
    return array
