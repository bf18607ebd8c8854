"""The router registry: ``ROUTERS`` maps names to classes, complete once this module is
imported (each router module registers its classes with ``register_router``; importing the
``learned`` and ``reference`` packages here enrols them all). ``make_router``, ``load_router``
and every list of routers (CLI choices, evaluators, the shared test suite) go through it."""
from __future__ import annotations


from . import learned, reference  # noqa: F401  (importing them registers every router)
from .base import ROUTERS, Router, RouterFileError
from .cost import CostModel
from .reference import GroupBestRouter
from ..util.artifacts import read_artifact
from ..util.validate import finite, path, texts as check_texts

__all__ = ["ROUTERS", "learned_routers", "text_routers", "make_router", "load_router"]


def learned_routers() -> list[str]:
    """Names of the registered routers that learn from records (every other one is a reference)."""
    return [name for name, cls in ROUTERS.items() if not cls.reference]


def text_routers() -> list[str]:
    """Names of the routers that route a new prompt from its text alone, what ``fit --router``
    fits for ``route``: the learned ones and the per-group baselines (task-best, cluster-best)."""
    return [name for name, cls in ROUTERS.items()
            if not cls.reference or issubclass(cls, GroupBestRouter)]


def make_router(name: str = "auto", **params) -> Router:
    """An unfitted router by name, by default ``auto`` (``learned.auto``: learned routing per
    task only where it beat the task's best model out of fold): ``mf``, ``lightfm``, ``knn``,
    ``linear``, ``ensemble``, ``oracle``,
    ``random``, ``best-single``, ``task-best``, ``cluster-best``, ``oracle-p`` (with ``p=``)."""
    try:
        cls = ROUTERS[name]
    except KeyError:
        raise ValueError(f"unknown router {name!r}; choose one of {sorted(ROUTERS)}") from None
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise TypeError(f"router {name!r} has no parameter {unknown[0]!r}; its parameters are "
                        f"{', '.join(cls.param_names())}")
    return cls(**params)


def load_router(directory, *, encoder=None) -> Router:
    """Read a directory written by ``Router.save`` (arrays without pickle).

    ``encoder``: the function a router was fitted with as ``encoder=`` (code is never saved);
    required for such a router and refused for any other.

    Everything in it is checked before use: the arrays' shapes against the manifest before
    they are read, then every value (finite numbers, known kinds, parts that fit together),
    so a damaged or hostile directory raises ``RouterFileError`` naming it, never a traceback
    from deep inside or a router that routes on NaN.
    """
    d = path("load_router's directory", directory)
    if encoder is not None and not callable(encoder):
        raise TypeError(f"load_router's encoder must be your embedding function, got "
                        f"{type(encoder).__name__}")
    manifest, arrays = read_artifact(
        d, fmt="routerrec-router", what="router", error=RouterFileError, expect=_saved_shapes,
        hints={"routerrec-model": " (a completion model: refit with `routerrec fit --router mf`)"})
    try:
        _check_values(arrays)
        router = make_router(manifest["router"], **_with_encoder(manifest, encoder, d))
        router.models_ = _model_ids(manifest)
        router.cost_model_ = CostModel.from_state(
            manifest["cost_model"], {k[5:]: v for k, v in arrays.items() if k.startswith("cost.")})
        router._set_state(manifest["state"], arrays, d)
    except RouterFileError:
        raise
    except FileNotFoundError as exc:
        raise RouterFileError(f"{d}: missing file ({exc.filename})") from None
    except KeyError as exc:
        raise RouterFileError(f"{d}: corrupt router (no entry {exc} in its state)") from None
    except (ValueError, TypeError, IndexError, AttributeError, OSError) as exc:
        raise RouterFileError(f"{d}: corrupt or unusable router ({exc})") from None
    return router


def _with_encoder(manifest: dict, encoder, d) -> dict:
    """The saved parameters, with the caller's encoder function where the router needs one."""
    params = manifest["params"]
    fitted_with_function = params.get("encoder") == "function"
    if fitted_with_function and encoder is None:
        state = manifest["state"]  # a learned router's encoder, or a group router's groups'
        saved = state.get("encoder") or (state.get("groups") or {}).get("encoder") or {}
        label = (saved.get("params") or {}).get("label")
        raise RouterFileError(f"{d}: this router was fitted with your own encoder function "
                              f"{label}, which is not saved: load it with load_router(dir, "
                              "encoder=function) in Python (the command line cannot route "
                              "with it)")
    if encoder is not None and not fitted_with_function:
        raise RouterFileError(f"{d}: this router uses the {params.get('encoder')!r} encoder, "
                              "not a function: load it without encoder=")
    return {**params, "encoder": encoder} if encoder is not None else params


def _model_ids(manifest: dict) -> list[str]:
    models = check_texts("the router's models", manifest["models"])
    if len(set(models)) != len(models):
        raise ValueError("the router's model ids are not unique")
    return models


def _saved_shapes(manifest: dict) -> dict:
    """The shapes the manifest implies for every array of ``arrays.npz``."""
    name = manifest["router"]
    if not isinstance(name, str) or name not in ROUTERS:
        raise ValueError(f"unknown router {name!r}")
    n = len(_model_ids(manifest))
    return {"cost.intercept": (n,), "cost.slope": (n,),
            **ROUTERS[name].saved_shapes(manifest["params"], manifest["state"], n)}


def _check_values(arrays: dict) -> None:
    """Every saved array holds finite numbers (prompt ids of the precomputed encoder: text):
    a router routes on none of NaN, infinity, complex numbers or bytes."""
    for key, a in arrays.items():
        if key == "enc.ids":
            if a.dtype.kind != "U":
                raise TypeError(f"array {key!r} must hold prompt ids (text), got {a.dtype}")
        else:
            finite(f"array {key!r}", a)
