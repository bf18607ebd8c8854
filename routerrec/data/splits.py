"""Seeded train/test splits of a record set: held-out cells and held-out prompts.

The fraction is checked by the callers (``util.validate.fraction``: strictly between 0 and 1).
Both work on integer codes in the canonical (prompt, model) order of
:meth:`~routerrec.data.records.Records.matrix`, so a split depends on the records and the
seed, never on the row order of the table. :meth:`Records.split_cells` and
:meth:`Records.split_prompts` are the public entry points.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["held_out_cells", "held_out_prompts"]


def held_out_cells(model_codes: np.ndarray, indptr: np.ndarray, n_models: int, fraction: float,
                   seed: int) -> np.ndarray:
    """Canonical positions of the test cells (CSR order: ``indptr`` per prompt, ``model_codes`` per cell).

    One random cell of every prompt and of every model is protected, so train keeps every id;
    when fewer cells than ``round(fraction * n)`` are left, all of them are taken, with a warning.
    A split that would hold out no cell is refused, saying how many cells there are.
    """
    n = len(model_codes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)  # canonical cells in a random order
    rank = np.empty(n, dtype=order.dtype)
    rank[order] = np.arange(n, dtype=order.dtype)
    protected = np.zeros(n, dtype=bool)
    if n:
        # per prompt (CSR rows; every prompt has a cell): its cell of smallest rank
        min_p = np.minimum.reduceat(rank, indptr[:-1])
        protected |= rank == np.repeat(min_p, np.diff(indptr))
        # per model
        min_m = np.full(n_models, n, dtype=rank.dtype)
        np.minimum.at(min_m, model_codes, rank)
        protected |= rank == min_m[model_codes]
    k = int(round(fraction * n))
    available = int(n - protected.sum())
    if available == 0:
        raise ValueError(f"split_cells({fraction}) cannot hold out a cell: each of the {n} cells is "
                         "the one a prompt or a model keeps in train; more records are needed")
    if k == 0:
        raise ValueError(f"split_cells({fraction}) would hold out no cell: {fraction} of {n} cells "
                         "rounds to 0; use a larger fraction")
    if k > available:
        warnings.warn(
            f"split_cells: asked for {k} test cells but only {available} can be held out "
            "while keeping every prompt and model in train",
            stacklevel=3,  # the caller of Records.split_cells
        )
        k = available
    return order[~protected[order]][:k]


def held_out_prompts(strata_codes: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask over prompts: ``round(fraction * size)`` random prompts of each stratum.

    A split that would leave train or test without a prompt is refused, saying how many
    prompts and strata there are.
    """
    n = len(strata_codes)
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    order = np.lexsort((u, strata_codes))
    sc = strata_codes[order]
    starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]]) if n else np.array([], dtype=np.int64)
    sizes = np.diff(np.r_[starts, n])
    within = np.arange(n) - np.repeat(starts, sizes)
    quota = np.floor(fraction * sizes + 0.5).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[order] = within < np.repeat(quota, sizes)
    n_test = int(quota.sum())
    if n_test in (0, n):
        side, change = ("test", "larger") if n_test == 0 else ("train", "smaller")
        if len(sizes) == 1:
            why, options = f"{fraction} of {n} prompts rounds to {n_test}", ""
        else:
            shown = ", ".join(map(str, sizes[:10])) + (", ..." if len(sizes) > 10 else "")
            why = (f"each of the {len(sizes)} benchmarks (sizes {shown}) gives round({fraction} x "
                   f"its size) of its prompts to test, {n_test} of {n}")
            options = ", stratify_by_benchmark=False"
        raise ValueError(f"split_prompts({fraction}) would leave {side} without a prompt: {why}; "
                         f"use a {change} fraction{options} or more records")
    return is_test
