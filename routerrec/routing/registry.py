"""The router registry: ``ROUTERS`` maps names to classes, complete once this module is
imported (each router module registers its classes with ``register_router``; importing the
``learned`` and ``reference`` packages here enrols them all). ``make_router``, ``load_router``
and every list of routers (CLI choices, evaluators, the shared test suite) go through it."""
from __future__ import annotations

from pathlib import Path

from . import learned, reference  # noqa: F401  (importing them registers every router)
from .base import ROUTERS, Router, RouterFileError
from .cost import CostModel
from ..util.artifacts import read_artifact

__all__ = ["ROUTERS", "learned_routers", "make_router", "load_router"]


def learned_routers() -> list[str]:
    """Names of the registered routers that learn from records (every other one is a reference)."""
    return [name for name, cls in ROUTERS.items() if not cls.reference]


def make_router(name: str, **params) -> Router:
    """An unfitted router by name: ``mf``, ``lightfm``, ``knn``, ``linear``, ``ensemble``, ``oracle``,
    ``random``, ``best-single``, ``oracle-p`` (with ``p=``)."""
    try:
        cls = ROUTERS[name]
    except KeyError:
        raise ValueError(f"unknown router {name!r}; choose one of {sorted(ROUTERS)}") from None
    return cls(**params)


def load_router(directory) -> Router:
    """Read a directory written by ``Router.save`` (arrays without pickle)."""
    d = Path(directory)
    manifest, arrays = read_artifact(
        d, fmt="routerrec-router", what="router", error=RouterFileError,
        hints={"routerrec-model": " (a completion model: refit with `routerrec fit --router mf`)"})
    try:
        router = make_router(manifest["router"], **manifest["params"])
        router.models_ = list(manifest["models"])
        router.cost_model_ = CostModel.from_state(
            manifest["cost_model"], {k[5:]: v for k, v in arrays.items() if k.startswith("cost.")})
        router._set_state(manifest["state"], arrays, d)
    except FileNotFoundError as exc:
        raise RouterFileError(f"{d}: missing file ({exc.filename})") from None
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise RouterFileError(f"{d}: corrupt router ({exc})") from None
    return router
