"""Completion methods. Each module exposes ``fit(records, **params) -> Model``.

``routerrec.fit(records, method=NAME, **params)`` dispatches here; adding a method means
adding its module to ``METHODS`` and to the shared behavioural test suite.
"""
from __future__ import annotations

from typing import Callable

from .model import Model
from . import als, implicit as implicit_mf, knn, lightfm as lightfm_mf, logistic, mean, sgd

__all__ = ["METHODS", "fit"]

METHODS: dict[str, Callable[..., Model]] = {
    "als": als.fit,
    "implicit": implicit_mf.fit,
    "knn": knn.fit,
    "lightfm": lightfm_mf.fit,
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
    implicit_mf.check_feedback(records, method)  # explicit methods refuse implicit data and vice versa
    model = fitter(records, **params)
    if isinstance(model, Model) and not any(model.prompt_benchmark):  # for cold start
        labels = records.prompt_benchmark
        model.prompt_benchmark = [labels.get(p) for p in model.prompts]
    return model
