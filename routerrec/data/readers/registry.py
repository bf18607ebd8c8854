"""Layout name -> reader: every module of this package that defines ``LAYOUTS`` is registered.

Registration is by discovery, not by a list here, so a new layout is one new module. Names
keep the order of the modules' names, then of each module's ``LAYOUTS``.
"""
from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Optional

from ..records import RecordsError
from .layout import Layout

__all__ = ["layouts", "layout_for"]


@cache
def layouts() -> dict:
    """``{name: Layout}`` of every layout module in ``routerrec.data.readers``."""
    found = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        for layout in getattr(import_module(f"{__package__}.{info.name}"), "LAYOUTS", ()):
            if layout.name in found:
                raise RuntimeError(f"layout {layout.name!r} is registered twice (module {info.name})")
            found[layout.name] = layout
    return found


def layout_for(path: Path, format: Optional[str] = None) -> Layout:
    """The layout named ``format``, or the one that recognises ``path`` (see :class:`Layout`)."""
    known = layouts()
    if format is not None:
        if format not in known:
            raise RecordsError(f"unknown format {format!r}; expected one of {', '.join(known)}", path=path)
        return known[format]
    name = path.name.lower()
    candidates = [lay for lay in known.values() if not lay.suffixes or name.endswith(lay.suffixes)]
    for layout in candidates:
        if layout.claims is not None and layout.claims(path):
            return layout
    for layout in candidates:
        if layout.claims is None:
            return layout
    raise RecordsError(
        "cannot infer the format from the file name; pass format= one of " + ", ".join(known), path=path
    )
