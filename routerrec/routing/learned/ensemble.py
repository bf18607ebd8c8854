"""The ``ensemble`` router: the mean predicted score of several learned routers that share one
encoder."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import ROUTERS, register_router
from .base import LearnedRouter

__all__ = ["EnsembleRouter"]


def member_routers() -> dict:
    """The routers that can be members of a router made of routers (``ensemble``, ``auto``):
    the learned ones that hold no routers themselves."""
    return {n: c for n, c in ROUTERS.items()
            if issubclass(c, LearnedRouter) and not c.holds_routers}


@register_router
class EnsembleRouter(LearnedRouter):
    """Mean of the predicted scores of several learned routers on one shared encoder.

    Default members ``linear`` + ``mf``: on RouterBench's training split (5-fold
    cross-validation, see docs/routerbench.md) the average was steadier than either member
    alone, and it keeps ``mf``'s miscalibrated evals from dominating. ``router_params`` maps
    a member name to its parameters; the encoder is fitted once and shared. A member is any
    registered learned router but an ensemble.
    """

    name = "ensemble"
    holds_routers = True

    def __init__(self, *, routers: Sequence[str] = ("linear", "mf"),
                 router_params: dict | None = None, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.routers, self.router_params = routers, router_params

    @property
    def dense_training(self) -> bool:
        return any(getattr(ROUTERS.get(name), "dense_training", False) for name in self.routers)

    def _member(self, name):
        members = member_routers()
        if name not in members:
            raise ValueError(f"ensemble member {name!r} must be a learned router that holds "
                             f"no routers itself ({', '.join(members)})")
        return members[name](**{"seed": self.seed, **(self.router_params or {}).get(name, {})})

    def _fit_features(self, x, m, records):
        if not len(self.routers):
            raise ValueError("an ensemble needs at least one member router")
        self.members_ = []
        for name in self.routers:
            member = self._member(name)
            member._fit_features(x, m, records)
            self.members_.append(member)

    def _predict_features(self, x):
        return np.mean([r._predict_features(x) for r in self.members_], axis=0, dtype=np.float32)

    def _model_state(self):
        extras, arrays = [], {}
        for i, r in enumerate(self.members_):
            extra, own = r._model_state()
            extras.append(extra)
            arrays.update({f"m{i}.{k}": v for k, v in own.items()})
        return {"members": extras}, arrays

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        shapes = {}
        for i, (name, own) in enumerate(zip(params["routers"], state["members"], strict=True)):
            for k, shape in ROUTERS[name]._model_shapes({}, own, n_models).items():
                shapes[f"m{i}.{k}"] = tuple(f"m{i}.{d}" if isinstance(d, str) and d != "features"
                                            else d for d in shape)
        return shapes

    def _save_parts(self, tmp):
        for i, r in enumerate(self.members_):
            (tmp / f"m{i}").mkdir()
            r._save_parts(tmp / f"m{i}")

    def _set_model_state(self, extra, arrays, directory):
        self.members_ = []
        for i, (name, own) in enumerate(zip(self.routers, extra["members"])):
            member = self._member(name)
            member.models_ = self.models_  # members check their parts against the router's models
            prefix = f"m{i}."
            member._set_model_state(own, {k[len(prefix):]: v for k, v in arrays.items()
                                          if k.startswith(prefix)}, directory / f"m{i}")
            self.members_.append(member)
