"""Completion methods: one module per method, each registering itself in ``registry``.

``routerrec.fit(records, method=NAME, engine=ENGINE, **params)`` dispatches to the fitter a
method module registered (``@register_method``). Importing this package imports every method
module, so ``METHODS`` and the links and saved-model kinds ``load_model`` reads are complete
from a fresh process on. A new method is a module here, imported below; the shared
behavioural suite (tests/methods/test_methods_suite.py) enrols it by itself.
"""
from __future__ import annotations

from . import als, implicit, knn, lightfm, logistic, mean, sgd, spark  # noqa: F401  (they register)
from .model import Model, load_model
from .registry import DEFAULT_ENGINE, METHODS

__all__ = ["METHODS", "ENGINES", "fit", "check_params", "load_model"]

ENGINES = tuple(sorted({engine for spec in METHODS.values() for engine in spec.engines}))


def fit(records, method: str = "als", *, engine: str = DEFAULT_ENGINE, **params) -> Model:
    """Fit a completion model of the named ``method`` on ``records``.

    ``engine="spark"`` trains ``als`` with Spark MLlib (``routerrec.methods.spark``; pass
    ``master=`` for a cluster) for records that outgrow one machine; the result is the same
    kind of ``Model``. The parameters are checked against the method's declaration and the
    memory the fit needs against ``ROUTERREC_MAX_ARRAY_BYTES`` before anything is fitted,
    and a method refuses records of the other feedback kind (explicit scores or implicit
    choices; ``registry.check_feedback``).
    """
    model = _spec(method, engine).engines[engine](records, **params)
    if isinstance(model, Model) and not any(model.prompt_benchmark):  # for cold start
        labels = records.prompt_benchmark
        model.prompt_benchmark = [labels.get(p) for p in model.prompts]
    return model


def check_params(method: str, params: dict, *, engine: str = DEFAULT_ENGINE) -> dict:
    """The parameters ``fit(records, method, engine=engine, **params)`` would fit with, or the
    TypeError / ValueError it would raise for them, without records: for a command to call
    before it loads data."""
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
