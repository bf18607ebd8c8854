"""Routers: score prompts never seen in training for every model, then pick one per prompt.

Every router has one interface (scikit-learn style: ``__init__`` stores parameters, ``fit``
returns self, fitted attributes end in ``_``)::

    router = make_router("mf", method="als").fit(train_records)   # records with texts
    router.predict(texts, models=None)        # n x m predicted scores
    router.predict_cost(texts, models=None)   # n x m predicted cost (CostModel)
    router.route(texts, wtp=None, max_cost=None, models=None)   # one model id per prompt
    router.save(dir); load_router(dir)

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
from .encoders import encoder_from_state, make_encoder
from ..util.artifacts import ArtifactError, read_artifact, write_artifact
from ..methods.model import LINKS, load_model

__all__ = ["Router", "MF_METHOD_DEFAULTS", "MFRouter", "LightFMRouter", "KNNRouter",
           "LinearRouter", "EnsembleRouter", "OracleRouter", "RandomRouter", "BestSingleRouter", "OraclePRouter", "ROUTERS", "make_router",
           "load_router", "RouterFileError", "true_matrices", "learned_routers"]

_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
# A second completion-model setting the mf router tries (besides the method's own defaults)
# when ``method_params`` is None: a light prior, so the prompt factors keep the structure the
# features must predict (logistic's reg=2 once shrank RouterBench's prompt factors to ~0).
MF_METHOD_DEFAULTS = {"logistic": dict(rank=8, reg=0.05), "als": dict(rank=8, reg=0.03)}


class RouterFileError(ArtifactError):
    """A router directory that is missing, corrupt or of another version."""


def true_matrices(records, models: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense (prompts x models) true scores and costs, NaN where unobserved.

    Rows follow ``records.prompts``, columns ``models`` (default ``records.models``; a model
    the records do not know is an all-NaN column).
    """
    m = records.matrix()
    coo = m.scores.tocoo()
    shape = (len(m.prompts), len(m.models) + 1)  # last column: all NaN, for unknown models
    scores, costs = np.full(shape, np.nan), np.full(shape, np.nan)
    scores[coo.row, coo.col] = coo.data
    if m.costs is not None:  # same sparsity pattern and order as the scores
        costs[coo.row, coo.col] = m.costs.tocoo().data
    cols = [m.model_index.get(x, len(m.models)) for x in (m.models if models is None else models)]
    return scores[:, cols], costs[:, cols]


class Router:
    """Base class: the shared interface. Subclasses implement ``_fit`` and ``_scores``."""

    name = ""
    reference = False

    def __init__(self, *, cost: str = "auto", seed: int = 0):
        self.cost, self.seed = cost, seed

    # -- parameters (sklearn style)
    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in self._param_names()}

    @classmethod
    def _param_names(cls) -> list[str]:
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
        self.models_ = list(m.models)
        lengths = _lengths(records.text_of(m.prompts))
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

    # -- texts
    def predict(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted scores, shape (len(texts), len(models)), columns in the order asked."""
        cols = self._cols(models)
        return self._scores(list(texts))[:, cols]

    def predict_cost(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted cost of each candidate, shape (len(texts), len(models))."""
        cols = self._cols(models)
        texts = list(texts)
        return self.cost_model_.predict(self._lengths_of(texts), cols, len(texts))

    def choose(self, scores: np.ndarray, costs: np.ndarray, *, wtp: float | None = None,
               max_cost=None) -> np.ndarray:
        """The pick rule, the one every caller goes through (``route``, ``route_records``, the
        CLI's batch routing and the evaluators): a column per row of predicted ``scores`` and
        ``costs`` (rules in ``routerrec.routing.cost.choose``)."""
        return choose(scores, costs, wtp=wtp, max_cost=max_cost)

    def route(self, texts: Sequence[str], *, models: Sequence[str] | None = None,
              wtp: float | None = None, max_cost=None) -> list[str]:
        """One model id per prompt (see ``choose``)."""
        idx = self.choose(self.predict(texts, models=models),
                          self.predict_cost(texts, models=models), wtp=wtp, max_cost=max_cost)
        names = self.candidates(models)
        return [names[i] for i in idx]

    def candidates(self, models: Sequence[str] | None = None) -> list[str]:
        """The candidate pool's model ids (all models when None); unknown ids raise KeyError."""
        return [self.models_[j] for j in self._cols(models)]

    def _lengths_of(self, texts):
        return _lengths(texts)

    # -- records (uniform entry point for evaluation)
    def _keys(self, records, prompts):
        texts = records.text_of(prompts)
        missing = [p for p, t in zip(prompts, texts) if t is None]
        if missing:
            raise ValueError(f"{len(missing)} prompt(s) have no text in {records.source}, "
                             f"e.g. {missing[:3]!r}: routers featurise prompt texts")
        return texts

    def predict_records(self, records, *, models: Sequence[str] | None = None) -> np.ndarray:
        """Scores for ``records.prompts`` (rows) x ``models``; learned routers use texts only."""
        return self.predict(self._keys(records, records.prompts), models=models)

    def predict_cost_records(self, records, *, models: Sequence[str] | None = None) -> np.ndarray:
        return self.predict_cost(self._keys(records, records.prompts), models=models)

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


def _lengths(texts) -> np.ndarray | None:
    if any(t is None for t in texts):
        return None
    return np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts))


# ------------------------------------------------------------------ learned routers


class _Learned(Router):
    """A router on prompt features: an encoder, then ``_fit_features`` / ``_predict_features``."""

    def __init__(self, *, encoder: str = "tfidf", encoder_params: dict | None = None,
                 cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        self.encoder, self.encoder_params = encoder, encoder_params

    def _fit(self, records, m):
        enc = make_encoder(self.encoder, **(self.encoder_params or {}))
        keys = list(m.prompts) if enc.keyed_by == "id" else self._keys(records, m.prompts)
        self.encoder_ = enc.fit(keys)
        self._fit_features(self.encoder_.transform(keys), m, records)

    def _lengths_of(self, texts):
        return None if self.encoder_.keyed_by == "id" else _lengths(texts)

    def predict_records(self, records, *, models=None):
        return self.predict(self._record_keys(records), models=models)

    def predict_cost_records(self, records, *, models=None):
        return self.predict_cost(self._record_keys(records), models=models)

    def _record_keys(self, records):
        self._check_fitted()
        if self.encoder_.keyed_by == "id":
            return records.prompts
        return self._keys(records, records.prompts)

    def _scores(self, texts):
        return self._predict_features(self.encoder_.transform(texts))

    def _state(self):
        params, arrays = self.encoder_.state()
        extra, own = self._model_state()
        return ({"encoder": {"name": self.encoder_.name, "params": params}, **extra},
                {**{f"enc.{k}": v for k, v in arrays.items()}, **own})

    def _set_state(self, extra, arrays, directory):
        enc = extra["encoder"]
        self.encoder_ = encoder_from_state(enc["name"], enc["params"],
                                           {k[4:]: v for k, v in arrays.items() if k.startswith("enc.")})
        self._set_model_state(extra, arrays, directory)

    def _model_state(self):
        return {}, {}


def _dense_observed(m) -> tuple[np.ndarray, np.ndarray]:
    """(scores with model means where unobserved, observed mask) as dense float arrays."""
    coo = m.scores.tocoo()
    mask = np.zeros(m.scores.shape, dtype=bool)
    mask[coo.row, coo.col] = True
    counts = mask.sum(axis=0)
    means = np.asarray(m.scores.sum(axis=0)).ravel() / np.maximum(counts, 1)
    dense = np.where(mask, m.scores.toarray(), means[None, :])
    return dense, mask


def _ridge_path(x, y, alphas):
    """Ridge with intercept for every alpha at once (one SVD): yields (alpha, W, b)."""
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    u, s, vt = np.linalg.svd(x - xm, full_matrices=False)
    uty = u.T @ (y - ym)
    for a in alphas:
        w = vt.T @ ((s / (s * s + a))[:, None] * uty)
        yield a, w, ym - xm @ w


def _validation_rows(n: int, seed: int) -> np.ndarray:
    """A seeded mask of 20% of ``n`` training rows (at least one) that routers tune on."""
    val = np.zeros(n, bool)
    val[np.random.default_rng(seed).permutation(n)[: max(1, n // 5)]] = True
    return val


def _select_alpha(x, y, alphas, score_fn, seed):
    """The alpha whose ridge map, fit on 80% of the rows, scores best on the other 20%.

    ``score_fn(val_rows, predicted targets) -> error``. Returns (alpha, errors by alpha).
    """
    n = len(x)
    if n < 10:
        return alphas[len(alphas) // 2], {}
    val = _validation_rows(n, seed)
    errors = {a: score_fn(np.flatnonzero(val), x[val] @ w + b)
              for a, w, b in _ridge_path(x[~val], y[~val], alphas)}
    return min(errors, key=errors.get), errors


def _fit_ridge(x, y, alpha):
    return next(_ridge_path(x, y, [alpha]))[1:]


class MFRouter(_Learned):
    """Completion model + ridge map from prompt features to its prompt factors and bias.

    ``method`` is any ``routerrec.fit`` method (default: ``logistic`` on binary records when
    it is available, else ``als``); ``method_params`` go to it. When ``method_params`` is
    None, the method's own defaults and ``MF_METHOD_DEFAULTS[method]`` are both fitted and the
    one whose feature map validates better is kept (``method_params_``). The ridge strength is
    chosen from ``alphas`` on 20% of the training prompts (error of the predicted scores on
    their observed cells). A new prompt gets a latent vector, then every model a score through
    the completion model's link.
    """

    name = "mf"

    def __init__(self, *, method: str | None = None, method_params: dict | None = None,
                 alphas: Sequence[float] = _ALPHAS, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.method, self.method_params, self.alphas = method, method_params, alphas

    def _fit_features(self, x, m, records):
        from ..methods import METHODS, fit

        method = self.method
        if method is None:
            binary = bool(np.isin(m.scores.data, (0.0, 1.0)).all())
            method = "logistic" if binary and "logistic" in METHODS else "als"
        self.method_ = method
        if self.method_params is not None:
            candidates = [dict(self.method_params)]
        else:
            candidates = [{}] + ([MF_METHOD_DEFAULTS[method]] if method in MF_METHOD_DEFAULTS else [])
        dense, mask = _dense_observed(m)
        x = x.astype(np.float64)
        best = None
        for params in candidates:
            model = fit(records, method=method, **params)
            rows = model.prompt_indices(m.prompts)
            target = np.column_stack([model.prompt_factors[rows],
                                      model.prompt_bias[rows]]).astype(np.float64)

            def error(val_rows, t, model=model):
                pred = model.score_rows(t[:, :-1], t[:, -1])
                return float(np.mean((pred - dense[val_rows])[mask[val_rows]] ** 2))

            alpha, errors = _select_alpha(x, target, list(self.alphas), error, self.seed)
            if best is None or errors.get(alpha, 0.0) < best[0]:
                best = (errors.get(alpha, 0.0), params, model, alpha, errors, target)
        _, self.method_params_, self.completion_, self.alpha_, self.validation_, target = best
        w, b = _fit_ridge(x, target, self.alpha_)
        self.map_weights_, self.map_bias_ = w.astype(np.float32), b.astype(np.float32)

    def _predict_features(self, x):
        t = x @ self.map_weights_ + self.map_bias_
        return self.completion_.score_rows(t[:, :-1], t[:, -1])

    def _model_state(self):
        return ({"method_": self.method_, "alpha_": self.alpha_,
                 "method_params_": self.method_params_},
                {"map_weights": self.map_weights_, "map_bias": self.map_bias_})

    def _save_parts(self, tmp):
        self.completion_.save(tmp / "completion")

    def _set_model_state(self, extra, arrays, directory):
        self.method_, self.alpha_ = extra["method_"], extra["alpha_"]
        self.method_params_ = extra["method_params_"]
        self.map_weights_, self.map_bias_ = arrays["map_weights"], arrays["map_bias"]
        self.completion_ = load_model(directory / "completion")


class LinearRouter(_Learned):
    """One ridge regression per model on prompt features (RouterEval's LinearR).

    Unobserved training cells are filled with the model's mean; ``alpha`` is chosen from
    ``alphas`` on 20% of the training prompts. Predictions are clipped to the score range.
    """

    name = "linear"

    def __init__(self, *, alphas: Sequence[float] = _ALPHAS, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.alphas = alphas

    def _fit_features(self, x, m, records):
        dense, mask = _dense_observed(m)
        self.clip_ = (float(m.scores.data.min()), float(m.scores.data.max()))

        def error(val_rows, pred):
            pred = np.clip(pred, *self.clip_)
            return float(np.mean((pred - dense[val_rows])[mask[val_rows]] ** 2))

        x = x.astype(np.float64)
        self.alpha_, self.validation_ = _select_alpha(x, dense, list(self.alphas), error, self.seed)
        w, b = _fit_ridge(x, dense, self.alpha_)
        self.weights_, self.bias_ = w.astype(np.float32), b.astype(np.float32)

    def _predict_features(self, x):
        return np.clip(x @ self.weights_ + self.bias_, *self.clip_)

    def _model_state(self):
        return ({"alpha_": self.alpha_, "clip_": list(self.clip_)},
                {"weights": self.weights_, "bias": self.bias_})

    def _set_model_state(self, extra, arrays, directory):
        self.alpha_, self.clip_ = extra["alpha_"], tuple(extra["clip_"])
        self.weights_, self.bias_ = arrays["weights"], arrays["bias"]


class KNNRouter(_Learned):
    """Mean observed score of the ``k`` most similar training prompts (cosine).

    The RouterBench / RouterEval baseline. ``k`` is chosen from ``ks`` on 20% of the training
    prompts (neighbours searched among the other 80%), so the baseline is tuned, not strawmanned.
    """

    name = "knn"

    def __init__(self, *, ks: Sequence[int] = (5, 10, 20, 40, 80), encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.ks = ks

    def _fit_features(self, x, m, records):
        dense, mask = _dense_observed(m)
        self.train_x_ = x.astype(np.float32)
        self.train_sum_ = np.where(mask, dense, 0.0).astype(np.float32)
        self.train_count_ = mask.astype(np.float32)
        self.fallback_ = dense.mean(axis=0).astype(np.float32)
        val = _validation_rows(len(x), self.seed)
        ks = [k for k in self.ks if k <= max(1, (~val).sum())] or [1]
        errors = {}
        for k in ks:
            pred = _knn(x[val], x[~val], self.train_sum_[~val], self.train_count_[~val],
                        self.fallback_, k)
            errors[k] = float(np.mean((pred - dense[val])[mask[val]] ** 2))
        self.k_ = min(errors, key=errors.get)
        self.validation_ = errors

    def _predict_features(self, x):
        return _knn(x, self.train_x_, self.train_sum_, self.train_count_, self.fallback_,
                    min(self.k_, len(self.train_x_)))

    def _model_state(self):
        return ({"k_": self.k_}, {"train_x": self.train_x_, "train_sum": self.train_sum_,
                                  "train_count": self.train_count_, "fallback": self.fallback_})

    def _set_model_state(self, extra, arrays, directory):
        self.k_ = extra["k_"]
        self.train_x_, self.train_sum_ = arrays["train_x"], arrays["train_sum"]
        self.train_count_, self.fallback_ = arrays["train_count"], arrays["fallback"]


def _knn(q, x, sums, counts, fallback, k, chunk=2048):
    out = np.empty((len(q), sums.shape[1]), dtype=np.float32)
    k = min(k, len(x))
    for s in range(0, len(q), chunk):
        sims = q[s:s + chunk] @ x.T
        nbrs = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(x) else \
            np.broadcast_to(np.arange(len(x)), (len(sims), len(x)))
        num = sums[nbrs].sum(axis=1)
        den = counts[nbrs].sum(axis=1)
        out[s:s + chunk] = np.where(den > 0, num / np.maximum(den, 1), fallback[None, :])
    return out


class LightFMRouter(_Learned):
    """LightFM (logistic loss) with prompt features as a hybrid router.

    Prompts are described only by their features plus a constant (so unseen prompts are
    scored like seen ones); models get identity features. Binary cells are +1/−1; a graded
    score s is stored twice, (+1, weight s) and (−1, weight 1 − s). Prediction uses the
    learned arrays directly (numpy), so a saved router does not need lightfm to load.
    """

    name = "lightfm"

    def __init__(self, *, rank: int = 16, epochs: int = 30, learning_rate: float = 0.05,
                 user_alpha: float = 1e-5, item_alpha: float = 1e-5, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.rank, self.epochs, self.learning_rate = rank, epochs, learning_rate
        self.user_alpha, self.item_alpha = user_alpha, item_alpha

    def _fit_features(self, x, m, records):
        import scipy.sparse as sp
        from lightfm import LightFM

        coo = m.scores.tocoo()
        s = coo.data.astype(np.float32)
        rows = np.concatenate([coo.row, coo.row])
        cols = np.concatenate([coo.col, coo.col])
        labels = np.concatenate([np.ones_like(s), -np.ones_like(s)])
        weights = np.concatenate([s, 1.0 - s])
        keep = weights > 0
        shape = m.scores.shape
        inter = sp.coo_matrix((labels[keep], (rows[keep], cols[keep])), shape=shape)
        wts = sp.coo_matrix((weights[keep], (rows[keep], cols[keep])), shape=shape)
        feats = sp.csr_matrix(self._augment(x))
        lfm = LightFM(no_components=self.rank, loss="logistic", learning_rate=self.learning_rate,
                      user_alpha=self.user_alpha, item_alpha=self.item_alpha,
                      random_state=self.seed)
        lfm.fit(inter, user_features=feats, sample_weight=wts, epochs=self.epochs, num_threads=1)
        self.user_embeddings_ = lfm.user_embeddings
        self.user_biases_ = lfm.user_biases
        self.item_embeddings_ = lfm.item_embeddings
        self.item_biases_ = lfm.item_biases

    @staticmethod
    def _augment(x):
        return np.column_stack([x, np.ones(len(x), dtype=x.dtype)]).astype(np.float32)

    def _predict_features(self, x):
        xa = self._augment(x)
        linear = (xa @ self.user_embeddings_) @ self.item_embeddings_.T
        linear += (xa @ self.user_biases_)[:, None] + self.item_biases_[None, :]
        return LINKS["logistic"](linear)

    def _model_state(self):
        return {}, {"user_embeddings": self.user_embeddings_, "user_biases": self.user_biases_,
                    "item_embeddings": self.item_embeddings_, "item_biases": self.item_biases_}

    def _set_model_state(self, extra, arrays, directory):
        for k in ("user_embeddings", "user_biases", "item_embeddings", "item_biases"):
            setattr(self, f"{k}_", arrays[k])


class EnsembleRouter(_Learned):
    """Mean of the predicted scores of several learned routers on one shared encoder.

    Default members ``linear`` + ``mf``: on RouterBench's training split (5-fold
    cross-validation, see docs/routerbench.md) the average was steadier than either member
    alone, and it keeps ``mf``'s miscalibrated evals from dominating. ``router_params`` maps
    a member name to its parameters; the encoder is fitted once and shared.
    """

    name = "ensemble"

    def __init__(self, *, routers: Sequence[str] = ("linear", "mf"),
                 router_params: dict | None = None, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.routers, self.router_params = routers, router_params

    def _member(self, name):
        cls = ROUTERS.get(name)
        if cls is None or not issubclass(cls, _Learned) or cls is EnsembleRouter:
            raise ValueError(f"ensemble member {name!r} must be a learned router other than "
                             "'ensemble' (mf, lightfm, knn, linear)")
        return cls(**{"seed": self.seed, **(self.router_params or {}).get(name, {})})

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

    def _save_parts(self, tmp):
        for i, r in enumerate(self.members_):
            (tmp / f"m{i}").mkdir()
            r._save_parts(tmp / f"m{i}")

    def _set_model_state(self, extra, arrays, directory):
        self.members_ = []
        for i, (name, own) in enumerate(zip(self.routers, extra["members"])):
            member = self._member(name)
            prefix = f"m{i}."
            member._set_model_state(own, {k[len(prefix):]: v for k, v in arrays.items()
                                          if k.startswith(prefix)}, directory / f"m{i}")
            self.members_.append(member)


# ------------------------------------------------------------------ reference routers


class _Reference(Router):
    """Reference routers ignore ``wtp``: each is one point on a cost-quality plot."""

    reference = True

    def _fit(self, records, m):
        dense, mask = _dense_observed(m)
        self.train_means_ = dense.mean(axis=0)

    def choose(self, scores, costs, *, wtp=None, max_cost=None):
        return super().choose(scores, costs, wtp=None, max_cost=max_cost)

    def predict_records(self, records, *, models=None):
        return self.predict(records.prompts, models=models)

    def predict_cost_records(self, records, *, models=None):
        return self.predict_cost(records.text_of(records.prompts), models=models)

    def _state(self):
        return {}, {"train_means": self.train_means_}

    def _set_state(self, extra, arrays, directory):
        self.train_means_ = arrays["train_means"]


class OracleRouter(_Reference):
    """Best true score, cheapest (true cost) on ties; unobserved cells are never chosen."""

    name = "oracle"

    def _scores(self, texts):
        raise NotImplementedError("the oracle needs the true scores: use predict_records(records)")

    def predict_records(self, records, *, models=None):
        return true_matrices(records, self.candidates(models))[0]

    def predict_cost_records(self, records, *, models=None):
        cost = true_matrices(records, self.candidates(models))[1]
        guess = super().predict_cost_records(records, models=models)
        return np.where(np.isnan(cost), guess, cost)


class RandomRouter(_Reference):
    """A uniformly random candidate per prompt (seeded, the same draw on every call)."""

    name = "random"

    def _scores(self, texts):
        return np.random.default_rng(self.seed).random((len(texts), len(self.models_)))



class BestSingleRouter(_Reference):
    """The candidate with the best mean score on the training records, for every prompt."""

    name = "best-single"

    def _scores(self, texts):
        return np.broadcast_to(self.train_means_, (len(texts), len(self.models_)))


class OraclePRouter(OracleRouter):
    """RouterEval's r_o(p): the oracle's pick with probability ``p``, else a random candidate."""

    name = "oracle-p"

    def __init__(self, *, p: float = 0.5, cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = p

    def route_records(self, records, *, models=None, wtp=None, max_cost=None):
        oracle = super().route_records(records, models=models, max_cost=max_cost)
        names = self.candidates(models)
        rng = np.random.default_rng(self.seed)
        use_oracle = rng.random(len(oracle)) < self.p
        pick = rng.integers(len(names), size=len(oracle))
        return [o if u else names[r] for o, u, r in zip(oracle, use_oracle, pick)]


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
