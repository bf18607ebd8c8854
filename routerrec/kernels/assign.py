"""The group of each prompt under a linear rule (``routing.groups``): argmax over groups of
``x @ coef.T + intercept``, in one loop instead of a matrix product, a sum and an argmax.

For a served prompt those three numpy calls (the product through BLAS, with ``x`` cast to
float64) cost more than their arithmetic. The loop also gives every prompt the same
arithmetic whatever the batch: each score is summed in float64 over the features in order,
where numpy's product took BLAS's matrix-vector kernel for one prompt and its matrix-matrix
kernel for several.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["linear_argmax"]


@njit(cache=True)
def linear_argmax(x, coef, intercept):
    """Per row of ``x`` (n x w), the first j maximising ``sum_k x[i, k] * coef[j, k] +
    intercept[j]`` (float64, k in order); a NaN score wins, as in numpy's argmax."""
    n, width = x.shape
    groups = coef.shape[0]
    by_feature = np.ascontiguousarray(coef.T)
    out = np.zeros(n, np.int64)
    acc = np.empty(groups, np.float64)
    for i in range(n):
        acc[:] = 0.0
        for k in range(width):  # every group's sum advances one feature: vectorised over j
            xk = np.float64(x[i, k])
            row = by_feature[k]
            for j in range(groups):
                acc[j] += xk * row[j]
        best = -np.inf
        for j in range(groups):
            value = acc[j] + intercept[j]
            if value != value:
                out[i] = j
                break
            if j == 0 or value > best:
                best, out[i] = value, j
    return out
