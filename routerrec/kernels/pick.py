"""The pick rule (``routing.cost.choose``) as one loop over the candidates of each prompt.

In numpy the rule takes about fifteen whole-array steps; for a served request (one prompt,
twenty models) their call overhead was most of its cost. The loop does the same float64
arithmetic in the same order (``score * wtp - cost``; the tie tolerance
``best - 1e-12 * max(1, |best|)``), so the picks are those of the numpy steps exactly
(tests/routing/test_decide_fast.py checks them against the rule written out plainly).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["pick_columns"]

FLOAT_MAX = 1.7976931348623157e308  # np.finfo(np.float64).max: an unknown cost's rank


@njit(cache=True)
def pick_columns(scores, costs, wtp, has_wtp, budgets):
    """Column picked per row of ``scores`` / ``costs`` (float64, n x m, m >= 1).

    ``has_wtp``: value ``score * wtp - cost``, else the score. ``budgets``: empty (no
    budget), one budget for every row, or one per row; a candidate whose cost is not
    ``<= budget`` (NaN included) is out. A NaN value never wins. Among values within the
    tolerance of the best, the cheapest cost (NaN and +inf rank as the largest float) and
    then the first column; when nothing is left (no finite best), every candidate is tied.
    """
    n, m = scores.shape
    out = np.empty(n, np.int64)
    value = np.empty(m, np.float64)
    for i in range(n):
        best = -np.inf
        for j in range(m):
            v = scores[i, j] * wtp - costs[i, j] if has_wtp else scores[i, j]
            if np.isnan(v):
                v = -np.inf
            if len(budgets) and not costs[i, j] <= budgets[i if len(budgets) > 1 else 0]:
                v = -np.inf
            value[j] = v
            if v > best:
                best = v
        every = not np.isfinite(best)
        floor = best - 1e-12 * max(1.0, abs(best))
        pick, least = 0, np.inf
        for j in range(m):  # argmin of (cost if tied else +inf): the first on ties
            key = np.inf
            if every or value[j] >= floor:
                c = costs[i, j]
                key = FLOAT_MAX if np.isnan(c) or c > FLOAT_MAX else c
            if j == 0 or key < least:
                pick, least = j, key
        out[i] = pick
    return out
