"""Completion methods: one module per method, each registering itself in ``registry``.

``routerrec.fit(records, method=NAME, engine=ENGINE, **params)`` dispatches to the fitter a
method module registered (``@register_method``). Importing this package imports every method
module, so ``METHODS`` and the links and saved-model kinds ``load_model`` reads are complete
from a fresh process on. A new method is a module here, imported below; the shared
behavioural suite (tests/methods/test_methods_suite.py) enrols it by itself.
"""
from __future__ import annotations

import numpy as np

from . import als, implicit, knn, lightfm, logistic, mean, sgd, spark  # noqa: F401  (they register)
from .auto import AUTO, auto_method, check_auto_params
from .discrepancy import benchmark_discrepancy
from .model import Model, load_model
from .registry import DEFAULT_ENGINE, METHODS

__all__ = ["AUTO", "METHODS", "ENGINES", "fit", "check_params", "load_model"]

ENGINES = tuple(sorted({engine for spec in METHODS.values() for engine in spec.engines}))


def fit(records, method: str = AUTO, *, engine: str = DEFAULT_ENGINE, **params) -> Model:
    """Fit a completion model of the named ``method`` on ``records``.

    ``method="auto"`` (the default) picks the method and rank by score kind and data size
    (``methods.auto``); the returned model names the method it is.

    ``engine="spark"`` trains ``als`` with Spark MLlib (``routerrec.methods.spark``; pass
    ``master=`` for a cluster) for records that outgrow one machine; the result is the same
    kind of ``Model``. The parameters are checked against the method's declaration and the
    memory the fit needs against ``ROUTERREC_MAX_ARRAY_BYTES`` before anything is fitted,
    and a method refuses records of the other feedback kind (explicit scores or implicit
    choices; ``registry.check_feedback``).
    """
    if method == AUTO:
        params = check_auto_params(params)
        method, defaults = auto_method(records, engine)
        params = {**defaults, **params}
    model = _spec(method, engine).engines[engine](records, **params)
    if isinstance(model, Model):  # for cold start: benchmarks, and what the factors miss
        if not any(model.prompt_benchmark):
            labels = records.prompt_benchmark
            model.prompt_benchmark = [labels.get(p) for p in model.prompts]
        if model.discrepancy is None and records.feedback == "explicit":
            model.discrepancy = benchmark_discrepancy(model, _training_scores(model, records))
    return model


def _training_scores(model: Model, records):
    """``records``' score matrix with rows and columns in ``model``'s order."""
    m = records.matrix()
    if list(m.prompts) == model.prompts and list(m.models) == model.models:
        return m.scores
    rows = np.argsort(model.prompt_indices(list(m.prompts)))
    cols = np.argsort(model.model_indices(list(m.models)))
    return m.scores.tocsr()[rows][:, cols]


def check_params(method: str, params: dict, *, engine: str = DEFAULT_ENGINE) -> dict:
    """The parameters ``fit(records, method, engine=engine, **params)`` would fit with, or the
    TypeError / ValueError it would raise for them, without records: for a command to call
    before it loads data. For ``"auto"``, the parameters every method it may pick takes
    (the values are checked once it has picked)."""
    if method == AUTO:
        return check_auto_params(params)
    return _spec(method, engine).check_params(params, engine)


def _spec(method: str, engine: str):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {list(ENGINES)}")
    spec = METHODS[method]
    if engine not in spec.engines:
        runs = " / ".join(repr(m) for m, s in sorted(METHODS.items()) if engine in s.engines)
        raise ValueError(f"engine {engine!r} runs method {runs} only (got {method!r})")
    return spec
