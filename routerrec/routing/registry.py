"""The router registry: names -> classes; ``make_router`` and ``load_router`` go through it,
and every list of routers (CLI choices, evaluators) is derived from it."""
from __future__ import annotations

from pathlib import Path

from .base import Router, RouterFileError
from .cost import CostModel
from .learned import EnsembleRouter, KNNRouter, LightFMRouter, LinearRouter, MFRouter
from .reference import BestSingleRouter, OraclePRouter, OracleRouter, RandomRouter
from ..util.artifacts import read_artifact

__all__ = ["ROUTERS", "learned_routers", "make_router", "load_router"]

ROUTERS: dict[str, type] = {c.name: c for c in (MFRouter, LightFMRouter, KNNRouter, LinearRouter,
                                                 EnsembleRouter, OracleRouter, RandomRouter, BestSingleRouter,
                                                 OraclePRouter)}


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
