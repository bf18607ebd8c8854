"""Completion methods. Each module exposes ``fit(records, **params) -> Model``.

``routerrec.fit(records, method=NAME, **params)`` dispatches here; adding a method means
adding its module to ``METHODS`` and to the shared behavioural test suite.
"""
from __future__ import annotations

from typing import Callable

from .model import Model
from . import als, implicit as implicit_mf, knn, lightfm as lightfm_mf, logistic, mean, sgd, spark

__all__ = ["METHODS", "ENGINES", "fit"]

METHODS: dict[str, Callable[..., Model]] = {
    "als": als.fit,
    "implicit": implicit_mf.fit,
    "knn": knn.fit,
    "lightfm": lightfm_mf.fit,
    "logistic": logistic.fit,
    "mean": mean.fit,
    "sgd": sgd.fit,
}


ENGINES = ("numba", "spark")


def fit(records, method: str = "als", *, engine: str = "numba", **params) -> Model:
    """Fit a completion model of the named ``method`` on ``records``.

    ``engine="spark"`` trains ``als`` with Spark MLlib (``routerrec.methods.spark``; pass
    ``master=`` for a cluster) for records that outgrow one machine; the result is the same
    kind of ``Model``.
    """
    try:
        fitter = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {list(ENGINES)}")
    if engine == "spark":
        if method != "als":
            raise ValueError(f"engine 'spark' runs method 'als' only (got {method!r})")
        fitter = spark.fit
    implicit_mf.check_feedback(records, method)  # explicit methods refuse implicit data and vice versa
    model = fitter(records, **params)
    if isinstance(model, Model) and not any(model.prompt_benchmark):  # for cold start
        labels = records.prompt_benchmark
        model.prompt_benchmark = [labels.get(p) for p in model.prompts]
    return model
