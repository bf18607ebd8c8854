"""Ridge maps and the validation split the learned routers tune on (``mf`` and ``linear``
choose their ridge strength, ``knn`` its neighbour count, on the same seeded 20% of the
training prompts)."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np

__all__ = ["ALPHAS", "ridge_path", "fit_ridge", "validation_rows", "select_alpha"]

# the ridge strengths ``mf`` and ``linear`` choose from by default
ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def ridge_path(x: np.ndarray, y: np.ndarray,
               alphas: Sequence[float]) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """Ridge with intercept for every alpha at once (one SVD): yields (alpha, W, b)."""
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    u, s, vt = np.linalg.svd(x - xm, full_matrices=False)
    uty = u.T @ (y - ym)
    for a in alphas:
        w = vt.T @ ((s / (s * s + a))[:, None] * uty)
        yield a, w, ym - xm @ w


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of one ridge regression with intercept: ``y ≈ x @ W + b``."""
    return next(ridge_path(x, y, [alpha]))[1:]


def validation_rows(n: int, seed: int) -> np.ndarray:
    """A seeded mask of 20% of ``n`` training rows (at least one) that routers tune on."""
    val = np.zeros(n, bool)
    val[np.random.default_rng(seed).permutation(n)[: max(1, n // 5)]] = True
    return val


def select_alpha(x: np.ndarray, y: np.ndarray, alphas: Sequence[float],
                 score_fn: Callable[[np.ndarray, np.ndarray], float],
                 seed: int) -> tuple[float, dict]:
    """The alpha whose ridge map, fit on 80% of the rows, scores best on the other 20%.

    ``score_fn(val_rows, predicted targets) -> error``. Returns (alpha, errors by alpha); with
    fewer than 10 rows there is nothing to validate on, and the middle alpha is returned.
    """
    n = len(x)
    if n < 10:
        return alphas[len(alphas) // 2], {}
    val = validation_rows(n, seed)
    errors = {a: score_fn(np.flatnonzero(val), x[val] @ w + b)
              for a, w, b in ridge_path(x[~val], y[~val], alphas)}
    return min(errors, key=errors.get), errors
