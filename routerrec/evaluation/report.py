"""The one report writer of every evaluation (pools, routerbench, cold start).

An evaluation returns a JSON-ready dict and knows its own Markdown and plots; this module
writes them the same way for all: ``report.json`` as strict JSON (NaN and ±inf become
``null``, numpy scalars plain numbers; ``util.files.strict_json``), ``report.md`` in UTF-8
and one PNG per figure, each file atomically so a reader never sees half of one. Any report
dict is written (tests/evaluation/test_report_properties.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..util.files import atomic_write, strict_json

__all__ = ["write_report", "pyplot"]


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (reports never open a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_report(out_dir, report: dict, markdown: str, figures: Iterable) -> dict:
    """Write ``report.json``, ``report.md`` and ``<name>.png`` for each ``(name, figure)`` of
    ``figures`` into ``out_dir``. Figures are saved at their own dpi and closed once saved,
    so a generator of figures keeps one open at a time.

    Returns ``{"json": path, "markdown": path, "plots": [paths]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "report.json", "markdown": out / "report.md", "plots": []}
    text = json.dumps(strict_json(report), indent=1, allow_nan=False)
    atomic_write(files["json"], lambda p: p.write_text(text))
    # UTF-8 whatever the locale; a lone surrogate (a name from a Python caller) as \udXXX
    atomic_write(files["markdown"],
                 lambda p: p.write_text(markdown, encoding="utf-8", errors="backslashreplace"))
    plt = pyplot()
    for name, fig in figures:
        path = out / f"{name}.png"
        atomic_write(path, lambda p: fig.savefig(p, dpi="figure", format="png"))
        plt.close(fig)
        files["plots"].append(path)
    return files
