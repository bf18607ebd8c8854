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

__all__ = ["METHODS", "ENGINES", "fit", "load_model"]

ENGINES = tuple(sorted({engine for spec in METHODS.values() for engine in spec.engines}))


def fit(records, method: str = "als", *, engine: str = DEFAULT_ENGINE, **params) -> Model:
    """Fit a completion model of the named ``method`` on ``records``.

    ``engine="spark"`` trains ``als`` with Spark MLlib (``routerrec.methods.spark``; pass
    ``master=`` for a cluster) for records that outgrow one machine; the result is the same
    kind of ``Model``. A method refuses records of the other feedback kind (explicit scores
    or implicit choices; ``registry.check_feedback``).
    """
    try:
        spec = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {list(ENGINES)}")
    fitter = spec.engines.get(engine)
    if fitter is None:
        runs = " / ".join(repr(m) for m, s in sorted(METHODS.items()) if engine in s.engines)
        raise ValueError(f"engine {engine!r} runs method {runs} only (got {method!r})")
    model = fitter(records, **params)
    if isinstance(model, Model) and not any(model.prompt_benchmark):  # for cold start
        labels = records.prompt_benchmark
        model.prompt_benchmark = [labels.get(p) for p in model.prompts]
    return model
