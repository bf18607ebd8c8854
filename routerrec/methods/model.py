"""The fitted completion model every method returns, and its persistence.

A ``Model`` predicts ``link(mu + b_prompt + b_model + p_prompt . q_model)`` for every
prompt x model pair. Methods differ in how they fit these arrays (ALS, logistic, SGD,
Spark, ...), not in how the arrays are used, so routing, fold-in and evaluation work
the same for all of them. What differs by method (the link's inverse and fold-in solver,
the class a saved model loads as) is looked up in ``methods.registry``, never imported here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..kernels.als import solve_side
from ..util import validate
from ..util.artifacts import FORMAT_VERSION, ArtifactError, read_artifact, write_artifact
from ..util.limits import check_bytes
from .registry import (DEFAULT_ENGINE, LINKS, METHODS, MODEL_KINDS, register_link,
                       register_model_kind)

__all__ = ["Model", "ModelFileError", "load_model", "population_prior", "MIN_POPULATION",
           "FORMAT_VERSION"]

_ARRAYS = ("prompt_bias", "model_bias", "prompt_factors", "model_factors")


class ModelFileError(ArtifactError):
    """A model directory that is missing, corrupt or written by an incompatible version."""


MIN_POPULATION = 3  # fitted rows a population prior (a mean and a covariance) needs


def population_prior(factors, bias, noise_var):
    """Gaussian prior for a new row, from the rows already fitted on the same side.

    Returns ``(precision, shift)`` in the kernel's units (scaled by the noise variance),
    so a row with few observations is pulled toward the population's mean vector along
    the directions the population actually varies in, rather than toward zero. The
    covariance is Ledoit-Wolf shrunk toward a scaled identity: with 5 to 25 models and a
    rank near that count the sample covariance is singular or nearly so, and the shrunk
    one is well conditioned for any number of rows (the shrinkage vanishes as rows grow).
    """
    from sklearn.covariance import ledoit_wolf

    aug = np.column_stack([factors, bias]).astype(np.float64)
    cov = ledoit_wolf(aug)[0] + 1e-6 * np.eye(aug.shape[1])
    precision = noise_var * np.linalg.inv(cov)
    return precision.astype(np.float32), (precision @ aug.mean(axis=0)).astype(np.float32)


def _ridge_fold_in(model, side, index, values):
    """One row solve for a new model (``side="model"``) or prompt with the other side fixed.

    With a known training noise variance and at least ``MIN_POPULATION`` fitted rows, the
    penalty is the population prior of that side (MAP); otherwise ALS-WR's ``reg * n`` (as
    in training).
    Also returns the Gaussian posterior covariance of ``[factors, bias]`` (noise variance
    times the inverse of the penalised Gram matrix; ``None`` without a noise variance).
    """
    fixed, fixed_bias, own = (
        (model.prompt_factors, model.prompt_bias, model.model_factors) if side == "model" else
        (model.model_factors, model.model_bias, model.prompt_factors))
    prior = None if model.noise_var is None else model.side_prior(side, model.noise_var)
    reg = 0.0 if prior is not None else model.params.get("reg", 0.1)
    order = np.argsort(index)
    row = solve_side(np.array([0, len(index)]), np.asarray(index)[order],
                     np.asarray(values)[order], fixed, fixed_bias, model.global_mean, reg,
                     prior)[0]
    cov = None
    if model.noise_var is not None:
        y = np.column_stack([fixed[index], np.ones(len(index))]).astype(np.float64)
        gram = y.T @ y + (prior[0] if prior is not None else reg * len(index) * np.eye(len(row)))
        cov = model.noise_var * np.linalg.inv(gram)
    return row[:-1], row[-1], cov


# the identity link is the base model's own: scores are the linear predictor, and a new row is
# the ridge (or MAP) solve of the squared error the identity-link methods minimise
register_link("identity", lambda linear: linear, _ridge_fold_in)


@register_model_kind
class Model:
    """A fitted prompts x models completion model.

    Parameters are arrays (``prompt_factors`` is n_prompts x rank, ``model_factors`` is
    n_models x rank, biases are vectors) plus the ids that name their rows. ``noise_var``
    is the training residual variance; fold-in uses it to weigh the population prior.
    ``prompt_benchmark`` (one name or None per prompt) lets cold start report accuracy
    per benchmark, and ``discrepancy`` (``methods.discrepancy``) widens its intervals by
    what the factors miss. Subclasses that are saved differently set their own ``kind`` (the
    manifest's, which picks the class ``load_model`` rebuilds) and extend ``from_saved``.
    """

    kind = "factor"

    def __init__(self, *, method: str, params: Mapping, prompts: Sequence[str],
                 models: Sequence[str], global_mean: float, prompt_bias, model_bias,
                 prompt_factors, model_factors, link: str = "identity",
                 clip: tuple[float, float] | None = None, noise_var: float | None = None,
                 metrics: Mapping | None = None,
                 prompt_benchmark: Sequence[str | None] | None = None,
                 discrepancy: Mapping | None = None):
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; expected one of {sorted(LINKS)}")
        self.method = method
        self.params = dict(params)
        self.prompts = list(prompts)
        self.models = list(models)
        self.global_mean = float(global_mean)
        self.prompt_bias = np.ascontiguousarray(prompt_bias, dtype=np.float32)
        self.model_bias = np.ascontiguousarray(model_bias, dtype=np.float32)
        self.prompt_factors = np.ascontiguousarray(prompt_factors, dtype=np.float32)
        self.model_factors = np.ascontiguousarray(model_factors, dtype=np.float32)
        self.link = link
        self.clip = None if clip is None else (float(clip[0]), float(clip[1]))
        self.noise_var = None if noise_var is None else float(noise_var)
        self.metrics = dict(metrics or {})
        self.discrepancy = None if discrepancy is None else dict(discrepancy)
        self.prompt_benchmark = (list(prompt_benchmark) if prompt_benchmark is not None
                                 else [None] * len(self.prompts))
        self._check_shapes()
        self._priors: dict = {}
        self._prompt_index = {p: i for i, p in enumerate(self.prompts)}
        self._model_index = {m: j for j, m in enumerate(self.models)}

    @classmethod
    def saved_shapes(cls, manifest: Mapping) -> dict:
        """The shapes of the arrays a saved model of this kind holds, from the ids of a
        manifest ``check_manifest`` passed (``read_artifact``'s ``expect``: a file claiming
        more is refused before reading)."""
        n_p, n_m = len(manifest["prompts"]), len(manifest["models"])
        return {"prompt_bias": (n_p,), "model_bias": (n_m,), "prompt_factors": (n_p, "rank"),
                "model_factors": (n_m, "rank")}

    @classmethod
    def check_manifest(cls, manifest: Mapping) -> None:
        """Raise TypeError / ValueError naming the first manifest field a model cannot be
        built from or would predict NaN (or a silently clipped constant) with."""
        for side in ("prompts", "models"):
            _unique_ids(side, manifest[side])
        validate.real("global_mean", manifest["global_mean"])
        validate.choice("link", manifest["link"], sorted(LINKS))
        if manifest["clip"] is not None:
            low, high = validate.reals("clip", manifest["clip"], length=2)
            if low > high:
                raise ValueError(f"clip must be [low, high] with low <= high, got "
                                 f"{manifest['clip']}")
        if manifest.get("noise_var") is not None:
            validate.real("noise_var", manifest["noise_var"], low=0)
        method, params = validate.name("method", manifest["method"]), manifest["params"]
        if not isinstance(params, dict):
            raise TypeError(f"params must be a JSON object, got {type(params).__name__}")
        if method in METHODS:  # the saving method's declaration; keys it does not declare
            declared = METHODS[method].params[DEFAULT_ENGINE]  # (engine=...) are left alone
            METHODS[method].check_params({k: v for k, v in params.items() if k in declared})
        if not isinstance(manifest.get("metrics") or {}, dict):
            raise TypeError("metrics must be a JSON object")
        labels = manifest.get("prompt_benchmark")
        if labels is not None and (
                not isinstance(labels, list) or len(labels) != len(manifest["prompts"])
                or not all(b is None or isinstance(b, str) for b in labels)):
            raise ValueError("prompt_benchmark must be a list of benchmark names or nulls, "
                             "one per prompt")
        discrepancy = manifest.get("discrepancy")
        if discrepancy is not None:
            if not isinstance(discrepancy, dict) or not isinstance(
                    discrepancy.get("benchmarks"), dict):
                raise ValueError('discrepancy must be {"overall": number, "benchmarks": '
                                 '{name: number}}')
            validate.real("discrepancy.overall", discrepancy.get("overall"), low=0)
            for name, value in discrepancy["benchmarks"].items():
                validate.real(f"discrepancy.benchmarks[{name!r}]", value, low=0)

    @classmethod
    def from_saved(cls, manifest: Mapping, arrays: Mapping, **extra) -> "Model":
        """A model of this class from what ``save`` wrote (``manifest()`` and ``arrays()``).

        ``load_model`` calls it on the class registered for the manifest's ``kind``; a
        subclass that saves more passes its own constructor arguments as ``extra``.
        """
        return cls(method=manifest["method"], params=manifest["params"],
                   prompts=manifest["prompts"], models=manifest["models"],
                   global_mean=manifest["global_mean"], link=manifest["link"],
                   clip=manifest["clip"], noise_var=manifest.get("noise_var"),
                   metrics=manifest.get("metrics"),
                   prompt_benchmark=manifest.get("prompt_benchmark"),
                   discrepancy=manifest.get("discrepancy"),
                   **{a: arrays[a] for a in _ARRAYS}, **extra)

    # ----------------------------------------------------------------- shape
    def _check_shapes(self):
        n_p, n_m = len(self.prompts), len(self.models)
        if len(set(self.prompts)) != n_p or len(set(self.models)) != n_m:
            raise ValueError("prompt and model ids must be unique")
        if len(self.prompt_benchmark) != n_p:
            raise ValueError(f"{len(self.prompt_benchmark)} prompt benchmarks for {n_p} prompts")
        if self.prompt_bias.shape != (n_p,) or self.model_bias.shape != (n_m,):
            raise ValueError(f"bias shapes {self.prompt_bias.shape}, {self.model_bias.shape} "
                             f"do not match {n_p} prompts x {n_m} models")
        if (self.prompt_factors.ndim != 2 or self.model_factors.ndim != 2
                or self.prompt_factors.shape[0] != n_p or self.model_factors.shape[0] != n_m
                or self.prompt_factors.shape[1] != self.model_factors.shape[1]):
            raise ValueError(f"factor shapes {self.prompt_factors.shape} (prompts) and "
                             f"{self.model_factors.shape} (models) do not match "
                             f"{n_p} prompts x {n_m} models")

    def side_prior(self, side: str, noise_var: float):
        """``population_prior`` of the ``"model"`` or ``"prompt"`` side, computed once per
        fitted model (fold-in and probe selection ask for it on every call); None with
        fewer than ``MIN_POPULATION`` fitted rows on that side."""
        key = (side, noise_var)
        if key not in self._priors:
            own, bias = ((self.model_factors, self.model_bias) if side == "model"
                         else (self.prompt_factors, self.prompt_bias))
            self._priors[key] = (population_prior(own, bias, noise_var)
                                 if own.shape[0] >= MIN_POPULATION else None)
        return self._priors[key]

    @staticmethod
    def check_grid(n_rows: int, n_cols: int, bytes_per_cell: int, what: str) -> None:
        """Refuse a dense n_rows x n_cols result above the memory limit, saying what to do."""
        check_bytes(n_rows * n_cols * bytes_per_cell,
                    f"{what} {n_rows:,} prompts x {n_cols:,} models",
                    advice="predict fewer prompts at a time (prompts=[...] in chunks, "
                           "--prompts FILE), fewer models (models=, --models) or, on the "
                           "command line, --top K to print the best models per prompt")

    @property
    def rank(self) -> int:
        return self.model_factors.shape[1]

    def __repr__(self) -> str:
        return (f"Model(method={self.method!r}, prompts={len(self.prompts)}, "
                f"models={len(self.models)}, rank={self.rank}, link={self.link!r})")

    # ------------------------------------------------------------- indexing
    def has_prompt(self, prompt: str) -> bool:
        return prompt in self._prompt_index

    def has_model(self, model: str) -> bool:
        return model in self._model_index

    def prompt_indices(self, prompts: Sequence[str] | None) -> np.ndarray:
        return self._indices(prompts, self._prompt_index, "prompt")

    def model_indices(self, models: Sequence[str] | None) -> np.ndarray:
        return self._indices(models, self._model_index, "model")

    @staticmethod
    def _indices(ids, index, kind):
        if ids is None:
            return np.arange(len(index), dtype=np.int64)
        if isinstance(ids, str):
            raise TypeError(f"{kind}s must be a list of ids, not a single string {ids!r}")
        try:
            return np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids))
        except KeyError as exc:
            raise KeyError(f"unknown {kind} id {exc.args[0]!r}: the model was not fitted "
                           f"on it (use add_{kind} to fold it in)") from None
        except TypeError:  # not sized, not iterable, or an unhashable item
            raise TypeError(f"{kind}s must be a list of ids (strings), got "
                            f"{type(ids).__name__}") from None

    # ----------------------------------------------------------- prediction
    def apply_link(self, linear: np.ndarray) -> np.ndarray:
        """Scores from linear predictors: the inverse link, then the clip (float32)."""
        out = LINKS[self.link].inverse(linear.astype(np.float32, copy=False))
        if self.clip is not None:
            np.clip(out, self.clip[0], self.clip[1], out=out)
        return out

    def predict(self, prompts: Sequence[str] | None = None,
                models: Sequence[str] | None = None) -> np.ndarray:
        """Predicted scores, an array of shape (n_prompts, n_models) in the order asked."""
        pi, mi = self.prompt_indices(prompts), self.model_indices(models)
        self.check_grid(len(pi), len(mi), 8, "predicting")
        linear = self.prompt_factors[pi] @ self.model_factors[mi].T
        linear += self.global_mean
        linear += self.prompt_bias[pi][:, None]
        linear += self.model_bias[mi][None, :]
        return self.apply_link(linear)

    def score_rows(self, factors: np.ndarray, bias: np.ndarray,
                   models: Sequence[str] | None = None) -> np.ndarray:
        """Scores of prompts given only as latent rows (``factors`` n x rank, ``bias`` n),
        e.g. rows a router predicted from text: shape (n, n_models)."""
        mi = self.model_indices(models)
        self.check_grid(len(factors), len(mi), 8, "scoring")
        linear = (np.asarray(factors) @ self.model_factors[mi].T + np.asarray(bias)[:, None]
                  + self.model_bias[mi][None, :] + self.global_mean)
        return self.apply_link(np.asarray(linear, dtype=np.float32))

    def predict_pairs(self, prompt_idx: np.ndarray, model_idx: np.ndarray,
                      chunk: int = 1 << 20) -> np.ndarray:
        """Predicted score of each (prompt index, model index) pair, for held-out cells."""
        out = np.empty(len(prompt_idx), dtype=np.float32)
        for s in range(0, len(prompt_idx), chunk):
            pi, mi = prompt_idx[s:s + chunk], model_idx[s:s + chunk]
            lin = np.einsum("ij,ij->i", self.prompt_factors[pi], self.model_factors[mi])
            lin += self.global_mean + self.prompt_bias[pi] + self.model_bias[mi]
            out[s:s + chunk] = self.apply_link(lin)
        return out

    # -------------------------------------------------------------- fold-in
    @property
    def score_range(self) -> tuple[float, float] | None:
        """(0, 1) when this model's scores are accuracies or probabilities (a link whose
        scores are, or training scores within [0, 1]): answers folded in must lie there.
        None otherwise: any finite number (a new model may well score beyond the training
        range of unbounded scores)."""
        low, high = self.clip if self.clip is not None else (-np.inf, np.inf)
        return (0.0, 1.0) if LINKS[self.link].unit or (low >= 0 and high <= 1) else None

    def new_id(self, kind: str, value) -> str:
        """``value`` as the id of a new ``kind`` ("model" or "prompt"): a name that can be
        selected afterwards (``util.validate.name``) and is not in the model yet."""
        validate.name(f"the new {kind}'s name", value)
        if (self.has_model if kind == "model" else self.has_prompt)(value):
            raise ValueError(f"{kind} {value!r} is already in the model")
        return value

    def _fold_values(self, results: Mapping[str, float], kind: str):
        """Indices on the other side and float64 values of a new ``kind`` row's
        ``{id: score}``, each score a finite number within ``score_range``."""
        other = "model" if kind == "prompt" else "prompt"
        if not isinstance(results, Mapping):
            raise TypeError(f"add_{kind} takes {{{other} id: score}} (a dict), got "
                            f"{type(results).__name__}")
        index = self._prompt_index if kind == "model" else self._model_index
        if not results:
            raise ValueError(f"add_{kind} needs at least one observed score")
        unknown = [k for k in results if k not in index]
        if unknown:
            raise KeyError(f"unknown {other} id(s) {unknown[:5]!r}: fold-in needs scores on "
                           f"{other}s the model knows")
        low, high = self.score_range or (None, None)
        idx = np.fromiter((index[k] for k in results), dtype=np.int64, count=len(results))
        vals = np.array([validate.real(f"the score on {other} {k!r}", v, low=low, high=high)
                         for k, v in results.items()], dtype=np.float64)
        return idx, vals

    def _fold_in(self, results: Mapping[str, float], kind: str):
        idx, vals = self._fold_values(results, kind)
        solver = LINKS[self.link].fold_in
        if solver is None:
            raise NotImplementedError(f"method {self.method!r} ({self.link} link) has no fold-in")
        return solver(self, kind, idx, vals.astype(np.float32))

    def model_posterior(self, results: Mapping[str, float]):
        """``(factors, bias, cov)`` of a new model's row from ``{prompt id: score}``; ``cov``
        is the posterior covariance of ``[factors, bias]`` or None when the solver has none."""
        q, b, *cov = self._fold_in(results, "model")
        return q, b, (cov[0] if cov else None)

    def add_model(self, name: str, results: Mapping[str, float]) -> "Model":
        """A new model whose vector is solved from ``{prompt id: score}`` with prompts fixed.

        No refit: one small regularised solve, after which the new model is predicted on
        every prompt like the trained ones. ``routerrec.fold_in_model`` also returns
        per-benchmark accuracy estimates with intervals.
        """
        self.new_id("model", name)
        q, b, _ = self.model_posterior(results)
        return self.add_model_row(name, q, b)

    def add_model_row(self, name: str, factors: np.ndarray, bias: float) -> "Model":
        """A new model whose row is already solved (e.g. by ``model_posterior``)."""
        self.new_id("model", name)
        return self._with(models=self.models + [name],
                          model_factors=np.vstack([self.model_factors, factors[None, :]]),
                          model_bias=np.append(self.model_bias, bias))

    def add_prompt(self, prompt: str, results: Mapping[str, float]) -> "Model":
        """A new prompt whose vector is solved from ``{model id: score}`` with models fixed."""
        self.new_id("prompt", prompt)
        p, b, *_ = self._fold_in(results, "prompt")
        return self._with(prompts=self.prompts + [prompt],
                          prompt_benchmark=self.prompt_benchmark + [None],
                          prompt_factors=np.vstack([self.prompt_factors, p[None, :]]),
                          prompt_bias=np.append(self.prompt_bias, b))

    def _with(self, **changes) -> "Model":
        state = dict(method=self.method, params=self.params, prompts=self.prompts,
                     models=self.models, global_mean=self.global_mean,
                     prompt_bias=self.prompt_bias, model_bias=self.model_bias,
                     prompt_factors=self.prompt_factors, model_factors=self.model_factors,
                     link=self.link, clip=self.clip, noise_var=self.noise_var,
                     metrics=self.metrics, prompt_benchmark=self.prompt_benchmark,
                     discrepancy=self.discrepancy)
        state.update(changes)
        return type(self)(**state)

    # ---------------------------------------------------------- persistence
    def manifest(self) -> dict:
        manifest = {"format": "routerrec-model",
                    "method": self.method, "params": self.params, "link": self.link,
                    "clip": self.clip, "noise_var": self.noise_var,
                    "global_mean": self.global_mean, "prompts": self.prompts,
                    "models": self.models, "metrics": self.metrics,
                    "prompt_benchmark": self.prompt_benchmark, "discrepancy": self.discrepancy}
        if self.kind != Model.kind:  # a factor model's manifest has never named its kind
            manifest["kind"] = self.kind
        return manifest

    def arrays(self) -> dict:
        """The arrays ``save`` writes (model kinds that are not factor models add theirs)."""
        return {a: getattr(self, a) for a in _ARRAYS}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``manifest.json`` + ``arrays.npz`` atomically: a failed save keeps the old copy."""
        return write_artifact(validate.path("save's directory", directory), self.manifest(),
                              self.arrays(), error=ModelFileError)


def _unique_ids(what: str, ids) -> list[str]:
    ids = validate.texts(what, ids)
    if len(set(ids)) != len(ids):
        seen: set = set()
        twice = next(i for i in ids if i in seen or seen.add(i))
        raise ValueError(f"{what} must be unique ids, {twice!r} appears twice")
    return ids


class _BadManifest(Exception):
    """A manifest field a model cannot be built from (raised through ``read_artifact``)."""


def _saved_shapes(manifest: dict) -> dict:
    """``read_artifact``'s ``expect``: the manifest checked (before any array is read) and the
    shapes the arrays of its kind must have."""
    kind = manifest.get("kind", Model.kind)
    try:
        if not isinstance(kind, str) or kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {kind!r}; this routerrec reads "
                             f"{', '.join(sorted(MODEL_KINDS))}")
        MODEL_KINDS[kind].check_manifest(manifest)
        return MODEL_KINDS[kind].saved_shapes(manifest)
    except KeyError as exc:
        raise _BadManifest(f"the field {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError) as exc:
        raise _BadManifest(str(exc)) from None


def load_model(directory: str | os.PathLike) -> Model:
    """Read a directory written by ``Model.save`` as the class registered for its kind.

    Nothing in the files is trusted: the manifest's fields are checked and the arrays'
    shapes compared with its ids before anything is read (no pickle, bounded memory), and
    every array must hold finite numbers, so a damaged model fails here, naming the file
    and the field, rather than predicting NaN later.
    """
    directory = validate.path("load_model's directory", directory)
    try:
        manifest, arrays = read_artifact(
            directory, fmt="routerrec-model", what="model", error=ModelFileError,
            hints={"routerrec-router": " (a router: load it with routerrec.load_router)"},
            expect=_saved_shapes)
    except _BadManifest as exc:
        raise ModelFileError(f"{directory / 'manifest.json'}: {exc}") from None
    try:
        for name, array in arrays.items():
            validate.finite(name, array)
        return MODEL_KINDS[manifest.get("kind", Model.kind)].from_saved(manifest, arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{directory / 'arrays.npz'}: {exc}") from None
