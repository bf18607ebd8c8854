"""Routers: score prompts never seen in training for every model, then pick one per prompt.

Every router has one interface (scikit-learn style: ``__init__`` stores parameters, ``fit``
returns self, fitted attributes end in ``_``)::

    router = make_router("mf", method="als").fit(train_records)   # records with texts
    router.predict(texts, models=None)        # n x m predicted scores
    router.predict_cost(texts, models=None)   # n x m predicted cost (CostModel)
    router.route(texts, wtp=None, max_cost=None, models=None)   # one model id per prompt
    router.save(dir); load_router(dir)
    router.summary()                          # what reports say about the fitted router

``models=`` restricts the candidate pool by column selection: nothing is refitted, so one
fitted router serves many pools. Learned routers (``mf``, ``lightfm``, ``knn``,
``linear``) see only texts (or ids, with the ``precomputed`` encoder). Reference routers
(``oracle``, ``random``, ``best-single``, ``oracle-p`` = RouterEval's r_o(p)) need the
truth of the prompts they route, so evaluation goes through the uniform
``predict_records(records)`` / ``route_records(records, ...)``: learned routers read only the
records' texts there, reference routers may read the true scores and costs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .cost import CostModel, choose
from ..util.artifacts import ArtifactError, write_artifact
from ..util.limits import check_bytes
from ..util.validate import integer, texts as check_texts

__all__ = ["Router", "RouterFileError", "ROUTERS", "register_router", "true_matrices",
           "dense_observed", "DENSE_BYTES_PER_CELL", "text_lengths"]

# peak bytes per (prompt, model) cell of fitting a router on dense training scores
# (``dense_observed`` and the router's working copies; linear's ridge, the largest, was
# measured at 43 with tracemalloc on 4,000 x 1,000 records)
DENSE_BYTES_PER_CELL = 48

# name -> class of every router; filled by ``register_router`` as router modules are imported
# (``routerrec.routing.registry`` imports them all, so read it from there)
ROUTERS: dict[str, type["Router"]] = {}


def register_router(cls: type["Router"]) -> type["Router"]:
    """Class decorator: enrol a router under its ``name`` (``make_router``, ``load_router``,
    the CLI's choices, the evaluators and the shared test suite all read ``ROUTERS``)."""
    if not cls.name or ROUTERS.get(cls.name, cls) is not cls:
        raise ValueError(f"router name {cls.name!r} of {cls.__name__} is empty or taken")
    ROUTERS[cls.name] = cls
    return cls


class RouterFileError(ArtifactError):
    """A router directory that is missing, corrupt or of another version."""


def true_matrices(records, models: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense (prompts x models) true scores and costs, NaN where unobserved.

    Rows follow ``records.prompts``, columns ``models`` (default ``records.models``; a model
    the records do not know is an all-NaN column).
    """
    m = records.matrix()
    names = m.models if models is None else models
    check_bytes(16 * len(m.prompts) * (len(m.models) + 1 + len(names)),
                f"the dense true scores and costs of {len(m.prompts)} prompts x "
                f"{len(names)} models", advice="evaluate on fewer prompts or a smaller pool")
    coo = m.scores.tocoo()
    shape = (len(m.prompts), len(m.models) + 1)  # last column: all NaN, for unknown models
    scores, costs = np.full(shape, np.nan), np.full(shape, np.nan)
    scores[coo.row, coo.col] = coo.data
    if m.costs is not None:  # same sparsity pattern and order as the scores
        costs[coo.row, coo.col] = m.costs.tocoo().data
    cols = [m.model_index.get(x, len(m.models)) for x in names]
    return scores[:, cols], costs[:, cols]


class Router:
    """Base class: the shared interface. Subclasses implement ``_fit`` and ``_scores``."""

    name = ""
    reference = False
    tuned_attributes: tuple[str, ...] = ()  # fitted settings chosen on validation, for reports
    # True when fitting holds the training scores as dense prompts x models arrays
    # (``dense_observed``): ``fit`` then checks their size before any work
    dense_training = False

    def __init__(self, *, cost: str = "auto", seed: int = 0):
        self.cost, self.seed = cost, integer("seed", seed, low=0)

    # -- parameters (sklearn style)
    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in self.param_names()}

    @classmethod
    def param_names(cls) -> list[str]:
        """The keyword parameters of the constructor (what ``make_router`` accepts)."""
        import inspect

        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # -- fitting
    def fit(self, records) -> "Router":
        """Fit on training records (prompt texts needed by learned routers)."""
        m = records.matrix()
        if not m.models:
            raise ValueError("cannot fit a router on empty records")
        if self.dense_training:
            n, k = m.scores.shape
            check_bytes(DENSE_BYTES_PER_CELL * n * k,
                        f"fitting the {self.name} router on {n} prompts x {k} models "
                        "(dense training scores)",
                        advice="fit on a sample of the prompts (records.filter(prompts=...)), "
                               "or use the lightfm router, which trains on observed cells only")
        self.models_ = list(m.models)
        lengths = text_lengths(records.text_of(m.prompts))
        self.cost_model_ = CostModel(kind=self.cost).fit(records, lengths)
        self._fit(records, m)
        return self

    def _fit(self, records, m):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self):
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(records) first")

    def _cols(self, models) -> np.ndarray:
        self._check_fitted()
        if models is None:
            return np.arange(len(self.models_))
        if isinstance(models, str):
            raise TypeError(f"models must be a list of ids, not the string {models!r}")
        index = {m: j for j, m in enumerate(self.models_)}
        unknown = [m for m in models if m not in index]
        if unknown:
            raise KeyError(f"unknown model id(s) {unknown[:5]!r}; the router knows "
                           f"{len(self.models_)} models, e.g. {self.models_[:5]!r}")
        if not len(models):
            raise ValueError("models= must name at least one model")
        return np.fromiter((index[m] for m in models), dtype=np.int64, count=len(models))

    def summary(self) -> dict:
        """What a report says about the fitted router: its name and parameters, the settings
        it chose on validation (``tuned_attributes``: ``alpha_`` is reported as ``alpha``)
        and its cost model's kind. ``routerrec fit --router`` and the evaluators report it."""
        self._check_fitted()
        return {"router": self.name, "params": self.get_params(),
                **{k.rstrip("_"): getattr(self, k) for k in self.tuned_attributes},
                "cost_model": self.cost_model_.kind_}

    # -- texts: the public entry points check them (a list of strings), records pass as they are
    def predict(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted scores, shape (len(texts), len(models)), columns in the order asked."""
        cols = self._cols(models)
        return self._predict(check_texts("texts", texts), cols)

    def predict_cost(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted cost of each candidate, shape (len(texts), len(models))."""
        cols = self._cols(models)
        return self._predict_cost(check_texts("texts", texts), cols)

    def _predict(self, keys: list, cols: np.ndarray) -> np.ndarray:
        self._check_output(len(keys), cols)
        return self._scores(keys)[:, cols]

    def _predict_cost(self, keys: list, cols: np.ndarray) -> np.ndarray:
        self._check_output(len(keys), cols)
        return self._costs(keys, cols)

    def _costs(self, keys: list, cols: np.ndarray) -> np.ndarray:
        lengths = self._lengths_of(keys) if self.cost_model_.uses_lengths else None
        return self.cost_model_.predict(lengths, cols, len(keys))

    def _check_output(self, n: int, cols: np.ndarray) -> None:
        """Refuse a batch whose predictions (all models, then the pool; float64 copies in
        ``choose``) would pass the memory limit."""
        check_bytes(8 * n * (len(self.models_) + 4 * len(cols)),
                    f"routing {n} prompts to {len(cols)} models at once",
                    advice="route the prompts in batches")

    def choose(self, scores: np.ndarray, costs: np.ndarray, *, wtp: float | None = None,
               max_cost=None) -> np.ndarray:
        """The pick rule, the one every caller goes through (``route``, ``route_records``, the
        CLI's batch routing and the evaluators): a column per row of predicted ``scores`` and
        ``costs`` (rules in ``routerrec.routing.cost.choose``)."""
        return choose(scores, costs, wtp=wtp, max_cost=max_cost)

    def route(self, texts: Sequence[str], *, models: Sequence[str] | None = None,
              wtp: float | None = None, max_cost=None) -> list[str]:
        """One model id per prompt (see ``choose``): the first candidate of ``decide``."""
        return [ranked[0][0] for ranked in self.decide(texts, models=models, wtp=wtp,
                                                       max_cost=max_cost)]

    def decide(self, texts: Sequence[str], *, models: Sequence[str] | None = None,
               wtp: float | None = None, max_cost=None,
               ranks: int = 1) -> list[list[tuple[str, float, float]]]:
        """Per prompt, the ``ranks`` best candidates in pick order: (model, predicted score,
        predicted cost). The first is ``route``'s pick; each next one is what ``choose`` picks
        with the earlier ones removed (a gateway's fallback order). ``route``, the server's
        ``/v1/route`` and its chat gateway all go through here, so they agree by construction."""
        cols = self._cols(models)
        texts = check_texts("texts", texts)
        ranks = integer("ranks", ranks, low=1)
        scores = self._predict(texts, cols)  # checks the memory both arrays need
        costs = self._costs(texts, cols)
        budgets = None if max_cost is None or np.ndim(max_cost) == 0 else max_cost
        first = self.choose(scores, costs, wtp=wtp, max_cost=max_cost)
        decisions = []
        for i, j in enumerate(first):
            order = [int(j)]
            left = [k for k in range(len(cols)) if k != j] if ranks > 1 else []
            while left and len(order) < ranks:  # the rule again on the candidates not yet taken
                budget = max_cost if budgets is None else [budgets[i]]
                order.append(left.pop(int(self.choose(scores[i:i + 1, left], costs[i:i + 1, left],
                                                      wtp=wtp, max_cost=budget)[0])))
            decisions.append([(self.models_[cols[k]], float(scores[i, k]), float(costs[i, k]))
                              for k in order])
        return decisions

    def candidates(self, models: Sequence[str] | None = None) -> list[str]:
        """The candidate pool's model ids (all models when None); unknown ids raise KeyError."""
        return [self.models_[j] for j in self._cols(models)]

    def _lengths_of(self, texts):
        return text_lengths(texts)

    # -- records (uniform entry point for evaluation)
    def _keys(self, records, prompts):
        return records.texts_for(prompts, "routers featurise prompt texts")

    def _score_keys(self, records) -> list:
        """What ``_scores`` reads for ``records.prompts`` (texts; routers may read ids)."""
        return self._keys(records, records.prompts)

    def _cost_keys(self, records) -> list:
        """What the cost model reads for ``records.prompts`` (texts; None: mean lengths)."""
        return self._score_keys(records)

    def predict_records(self, records, *, models: Sequence[str] | None = None) -> np.ndarray:
        """Scores for ``records.prompts`` (rows) x ``models``; learned routers use texts only."""
        cols = self._cols(models)
        return self._predict(self._score_keys(records), cols)

    def predict_cost_records(self, records, *, models: Sequence[str] | None = None) -> np.ndarray:
        cols = self._cols(models)
        return self._predict_cost(self._cost_keys(records), cols)

    def route_records(self, records, *, models: Sequence[str] | None = None,
                      wtp: float | None = None, max_cost=None) -> list[str]:
        """``route`` for the prompts of ``records`` (in ``records.prompts`` order)."""
        idx = self.choose(self.predict_records(records, models=models),
                          self.predict_cost_records(records, models=models), wtp=wtp,
                          max_cost=max_cost)
        names = self.candidates(models)
        return [names[i] for i in idx]

    # -- persistence
    def _state(self) -> tuple[dict, dict]:
        return {}, {}

    @classmethod
    def saved_shapes(cls, params: dict, state: dict, n_models: int) -> dict:
        """The shapes of the arrays ``_state`` saves, from a saved manifest's ``params`` and
        ``state`` (``load_router`` checks them before reading; see ``safe_npz.read_npz``)."""
        return {}

    def _set_state(self, extra: dict, arrays: dict, directory: Path) -> None:
        pass

    def save(self, directory) -> Path:
        """Write ``manifest.json`` + ``arrays.npz`` (+ sub-models) atomically."""
        self._check_fitted()
        extra, arrays = self._state()
        cparams, carrays = self.cost_model_.state()
        arrays = {**{f"cost.{k}": v for k, v in carrays.items()}, **arrays}
        manifest = {"format": "routerrec-router", "router": self.name,
                    "params": self.get_params(), "models": self.models_,
                    "cost_model": cparams, "state": extra}
        return write_artifact(directory, manifest, arrays, error=RouterFileError,
                              write_parts=self._save_parts)

    def _save_parts(self, tmp: Path) -> None:
        pass


def text_lengths(texts) -> np.ndarray | None:
    """Characters per text (the cost model's feature), or None when any text is missing."""
    if any(t is None for t in texts):
        return None
    return np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts))


def dense_observed(m) -> tuple[np.ndarray, np.ndarray]:
    """(scores with model means where unobserved, observed mask) as dense float arrays."""
    coo = m.scores.tocoo()
    mask = np.zeros(m.scores.shape, dtype=bool)
    mask[coo.row, coo.col] = True
    counts = mask.sum(axis=0)
    means = np.asarray(m.scores.sum(axis=0)).ravel() / np.maximum(counts, 1)
    dense = np.where(mask, m.scores.toarray(), means[None, :])
    return dense, mask
