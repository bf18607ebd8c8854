"""Checks of the arguments the evaluations share, made before any fit (the one-value checks
are ``util.validate``'s)."""
from __future__ import annotations

from typing import Mapping, Sequence

from ..data.records import Records
from ..util import validate

__all__ = ["check_records", "check_router_params"]


def check_records(what: str, value) -> Records:
    """``value`` if it is ``Records`` (a list, a path or a frame is a TypeError saying how to
    make them)."""
    return validate.instance(what, value, Records,
                             how="load_records, records_from_frame or load_sample")


def check_router_params(params, routers: Sequence[str]) -> dict:
    """``{router: {param: value}}`` for ``routers`` (base names of the registry) from the
    ``router_params`` argument: a mapping of mappings that names only routers evaluated, each
    router built once here so that its constructor refuses a bad parameter before any fit."""
    from ..routing.registry import make_router  # imported when used: it loads every router

    if params is None:
        params = {}
    if not isinstance(params, Mapping) or not all(isinstance(v, Mapping)
                                                  for v in params.values()):
        raise TypeError("router_params must map router names to mappings of parameters, got "
                        + repr(params)[:100])
    unknown = set(params) - set(routers)
    if unknown:
        raise ValueError(f"router_params for routers not evaluated: {sorted(unknown)} "
                         f"(evaluated: {list(routers)})")
    out = {name: dict(params.get(name, {})) for name in routers}
    for name, kw in out.items():
        make_router(name, **kw)
    return out
