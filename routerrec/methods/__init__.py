"""Completion methods. Each module exposes ``fit(records, **params) -> Model``.

``routerrec.fit(records, method=NAME, **params)`` dispatches here; adding a method means
adding its module to ``METHODS`` and to the shared behavioural test suite.
"""
from __future__ import annotations

from typing import Callable

from ..model import Model
from . import als, knn, logistic, mean, sgd

__all__ = ["METHODS", "fit"]

METHODS: dict[str, Callable[..., Model]] = {
    "als": als.fit,
    "knn": knn.fit,
    "logistic": logistic.fit,
    "mean": mean.fit,
    "sgd": sgd.fit,
}


def fit(records, method: str = "als", **params) -> Model:
    """Fit a completion model of the named ``method`` on ``records``."""
    try:
        fitter = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None
    return fitter(records, **params)
