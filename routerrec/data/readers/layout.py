"""What a reader is: the options it gets, the part it returns and the :class:`Layout` it declares."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import polars as pl

__all__ = ["CANONICAL", "ReadOptions", "Part", "Layout"]

# the columns every layout reads into, in the long layout's order
CANONICAL = ("prompt", "model", "score", "cost", "benchmark", "text")
_OPTIONAL = ("cost", "benchmark", "text")


@dataclass(frozen=True)
class ReadOptions:
    """The caller's column names (for layouts that take them) and permission to unpickle.

    ``cost``, ``benchmark`` and ``text`` left ``None`` mean "a column of that name, if any".
    """

    prompt: str = "prompt"
    model: str = "model"
    score: str = "score"
    cost: Optional[str] = None
    benchmark: Optional[str] = None
    text: Optional[str] = None
    trust_pickle: bool = False

    def __post_init__(self):
        """Refuse a wrong type here, not as a ``KeyError`` deep inside a reader."""
        for canon in CANONICAL:
            value = getattr(self, canon)
            if not (isinstance(value, str) or (value is None and canon in _OPTIONAL)):
                kind = "a column name (str)" + (" or None" if canon in _OPTIONAL else "")
                raise TypeError(f"{canon}= must be {kind}, got {type(value).__name__} {value!r:.60}")
        if not isinstance(self.trust_pickle, bool):
            raise TypeError(f"trust_pickle= must be True or False, got {self.trust_pickle!r:.60}")


class Part(NamedTuple):
    """One file's validated records, as :func:`.columns.validate` returns them.

    ``rows``: ``_row`` (1-based data row of the file), ``prompt``, ``model``, ``score``,
    ``cost`` (when the file has costs) and ``benchmark``. ``texts``: ``prompt``, ``text``, or
    ``None`` when the file has no texts. ``ids``: ``(prompts, models)``, the sorted distinct ids
    of exactly these ``rows`` when validation found them (the loader then need not look for
    them again), else ``None``; a reader that changes the rows must drop them.
    """

    rows: pl.DataFrame
    texts: Optional[pl.DataFrame]
    ids: Optional[tuple] = None


@dataclass(frozen=True)
class Layout:
    """A named way to read records files, and how to recognise such a file.

    ``name`` is the value of ``format=``. ``read(path, options)`` returns the file's
    :class:`Part` or raises :class:`~routerrec.data.records.RecordsError`. When no format is
    given, a layout is considered for a file whose name ends with one of ``suffixes``; among
    those, the first whose ``claims(path)`` is true reads it (``claims`` looks at the content and
    must return False, not raise, on a file it cannot read), else the first without ``claims``.
    A layout without suffixes is considered for every path, so it needs ``claims``.
    """

    name: str
    read: Callable[[Path, ReadOptions], Part]
    suffixes: tuple = ()
    claims: Optional[Callable[[Path], bool]] = None

    def __post_init__(self):
        if not self.suffixes and self.claims is None:
            raise ValueError(f"layout {self.name!r} needs suffixes or a claims test")
