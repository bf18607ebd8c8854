"""What the CLI tests share: the real ``routerrec`` command and small record files.

(A module, not a ``conftest.py``: a second conftest would shadow ``tests/conftest.py`` for the
tests that import ``require_shared`` from it.)
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl

from commands import ROUTERREC, run_many  # noqa: F401  (the CLI tests import them from here)
from small_sample import SAMPLE, write_small_sample  # noqa: F401  (likewise)


def run(*args, ok=True) -> subprocess.CompletedProcess:
    """The installed ``routerrec`` command in a subprocess; ``ok`` asserts exit status 0."""
    proc = subprocess.run([ROUTERREC, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def write_tiny(folder: Path) -> Path:
    """Three prompts x three models with costs, as CSV."""
    path = folder / "tiny.csv"
    pl.DataFrame({
        "prompt": ["a", "a", "b", "b", "c", "c", "c"],
        "model": ["x", "y", "x", "y", "x", "y", "z"],
        "score": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        "cost": [0.1, 0.01, 0.1, 0.01, 0.1, 0.01, 0.5],
    }).write_csv(path)
    return path
