"""Learned routers: an encoder turns prompt text into features, a model maps features to
every candidate's score (``mf``, ``linear``, ``knn``, ``lightfm``, ``ensemble``)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Router, dense_observed, text_lengths
from .encoders import encoder_from_state, make_encoder
from ..methods.model import LINKS, load_model

__all__ = ["LearnedRouter", "MF_METHOD_DEFAULTS", "MFRouter", "LinearRouter", "KNNRouter",
           "LightFMRouter", "EnsembleRouter"]

_ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
# A second completion-model setting the mf router tries (besides the method's own defaults)
# when ``method_params`` is None: a light prior, so the prompt factors keep the structure the
# features must predict (logistic's reg=2 once shrank RouterBench's prompt factors to ~0).
MF_METHOD_DEFAULTS = {"logistic": dict(rank=8, reg=0.05), "als": dict(rank=8, reg=0.03)}


class LearnedRouter(Router):
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
        return None if self.encoder_.keyed_by == "id" else text_lengths(texts)

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


class MFRouter(LearnedRouter):
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
        dense, mask = dense_observed(m)
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


class LinearRouter(LearnedRouter):
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
        dense, mask = dense_observed(m)
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


class KNNRouter(LearnedRouter):
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
        dense, mask = dense_observed(m)
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


class LightFMRouter(LearnedRouter):
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


class EnsembleRouter(LearnedRouter):
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
        cls = MEMBERS.get(name)
        if cls is None:
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


# the routers an ensemble may combine (every learned router but the ensemble itself)
MEMBERS: dict[str, type] = {c.name: c for c in (MFRouter, LinearRouter, KNNRouter, LightFMRouter)}
