"""What the online router learns on, built from one fitted ``mf`` router; a refit builds a new
one and the router swaps it in whole.

* Prompt rows: the ``mf`` router's ridge map turns a text into ``t = [p, b_prompt]`` (the prior
  mean of the prompt's latent row); the map's residual covariance on the training prompts is
  its prior covariance (with no training records: the spread of the fitted prompt rows, wider).
  A prompt with feedback is folded in (``refine``): its row's posterior given its observed
  scores, the models' column means fixed.
* Columns: every model's ``ColumnPosterior``. A trained model starts at its fitted column with
  the precision of its training cells (population prior + ``sum w z z^T`` over the prompts it
  was observed on, ``w`` the link's weight at the fitted values); a model added live starts at
  the population prior of the trained columns (``Model.side_prior``, the prior cold start
  uses), its covariance times ``new_prior_scale``: that prior is the shrunk spread of a few
  dozen trained columns, and a new model that is best on some tasks lies outside it (with
  the prior as it is, feedback moved such a model too little to take its tasks over).
  ``factor_confidence`` scales a trained column's factor precision (below).
* Feedback updates a column with the prompt's *text* row (the map's mean, not the folded-in
  row), so an update does not depend on which feedback came first; the row's error adds
  ``v' S v`` to the record's noise (``row_var``, errors in variables), so columns fitted on
  exact training rows move only as far as such noisier evidence warrants. A regression on
  the map's rows is still not the one the factors were fitted by (the rows are shrunk toward
  their mean), so a trained column's factor precision is multiplied by ``factor_confidence``
  (its bias, the model's level on the traffic, keeps the training precision).
"""
from __future__ import annotations

import copy
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ..data.load import records_from_frame
from ..data.readers.scores_json import text_id
from ..routing.learned.mf import MFRouter
from .posterior import MIN_WEIGHT, ColumnPosterior, link_slope, prompt_posterior

__all__ = ["OnlineState", "refit_records", "REFERENCE_PROMPTS"]

REFERENCE_PROMPTS = 256  # prompts a model's width is measured over (the latest routed ones)
_JITTER = 1e-6


class OnlineState:
    """Prompt-row map, population prior and column posteriors of one fitted ``mf`` router.

    ``records`` are the router's training records (texts needed); without them the trained
    columns' precision counts every training prompt as observed and the prompt prior is the
    fitted rows' spread. ``factor_confidence`` multiplies the precision of the trained
    columns' factors (their bias keeps its own): feedback comes with the text map's rows,
    so it moves a trained model's level freely but its factors, fitted on exact rows, that
    many times less. ``new_prior_scale`` widens a model added live's prior (``new_column``).
    """

    def __init__(self, router: MFRouter, records=None, *, row_noise: bool = True,
                 factor_confidence: float = 1.0, new_prior_scale: float = 1.0):
        if not isinstance(router, MFRouter) or not hasattr(router, "completion_"):
            raise TypeError(f"OnlineRouter needs a fitted mf router (make_router('mf').fit"
                            f"(records) or OnlineRouter.fit), got {type(router).__name__}")
        self.router = router
        c = self.completion = router.completion_
        if c.link not in ("identity", "logistic"):
            raise ValueError(f"online updates need an identity or logistic link, the mf "
                             f"router's completion model has {c.link!r}")
        self.link = c.link
        self.noise_var = _answer_noise(c)
        fitted = np.column_stack([c.prompt_factors, c.prompt_bias]).astype(np.float64)
        self.population = _population(c)
        observed = self._observed(records)
        texts = None if records is None else records.text_of(c.prompts)
        self.prompt_precision = self._prompt_precision(fitted, texts)
        self.row_noise, self.new_prior_scale = row_noise, new_prior_scale
        z, offset = self.features(fitted)
        sample = np.random.default_rng(0).permutation(len(z))[:REFERENCE_PROMPTS]
        self.reference = (z[sample], offset[sample])  # widths before any prompt is routed
        scale = np.sqrt(np.append(np.full(c.rank, factor_confidence), 1.0))
        firm = np.outer(scale, scale)  # factor block x factor_confidence, the bias's x 1
        self.columns = {}
        for j, name in enumerate(c.models):
            x = np.append(c.model_factors[j], c.model_bias[j]).astype(np.float64)
            rows = np.flatnonzero(observed[:, j])
            w = self._weights(z[rows] @ x + offset[rows])
            precision = (self.population[1] + (z[rows] * w[:, None]).T @ z[rows]) * firm
            self.columns[name] = ColumnPosterior(x, precision, link=self.link,
                                                 noise_var=self.noise_var,
                                                 row_var=self.row_var(x))

    def row_var(self, column: np.ndarray) -> float:
        """Variance a feedback record's linear predictor gets from its prompt row being the
        text map's prediction, not the true row (errors in variables): ``v' S v``, ``S`` the
        row's prior covariance and ``v = [q, 1]`` the gradient of ``eta`` in the row at the
        column ``column = [q, b]`` (its prior mean, fixed so the updates stay a sum); 0 without
        ``row_noise``."""
        if not self.row_noise:
            return 0.0
        v = np.append(column[:-1], 1.0)
        return float(v @ np.linalg.solve(self.prompt_precision, v))

    def _observed(self, records) -> np.ndarray:
        """(completion prompts x models) mask of the training cells (all, without records)."""
        c = self.completion
        mask = np.ones((len(c.prompts), len(c.models)), dtype=bool)
        if records is not None:
            m = records.matrix()
            coo = m.scores.tocoo()
            mask[:] = False
            rows = c.prompt_indices([m.prompts[i] for i in coo.row])
            cols = c.model_indices([m.models[j] for j in coo.col])
            mask[rows, cols] = True
        return mask

    def _prompt_precision(self, fitted: np.ndarray, texts) -> np.ndarray:
        """Inverse covariance of a prompt row around the text map's prediction."""
        if texts is None or any(t is None for t in texts):
            resid = fitted - fitted.mean(axis=0)
        else:
            resid = fitted - self.text_rows(texts)
        cov = np.atleast_2d(np.cov(resid.T)) + _JITTER * np.eye(fitted.shape[1])
        return np.linalg.inv(cov)

    def _weights(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "logistic":
            return np.maximum(link_slope(self.link, eta), MIN_WEIGHT)
        return np.full(len(eta), 1.0 / self.noise_var)

    # ------------------------------------------------------------------ prompts
    def text_rows(self, texts: Sequence[str]) -> np.ndarray:
        """The ridge map's row ``[p, b_prompt]`` of each text (n x k1, float64)."""
        # in float64: feedback must not depend on the batch its text arrived in
        return self.router.latent_rows(self.router.encoder_.transform(list(texts)), np.float64)

    def features(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A column's features ``z = [p, 1]`` and offsets ``mu + b_prompt`` of prompt rows."""
        rows = np.atleast_2d(rows)
        z = np.column_stack([rows[:, :-1], np.ones(len(rows))])
        return z, self.completion.global_mean + rows[:, -1]

    def refine(self, row: np.ndarray, observed: Mapping[str, float]) -> np.ndarray:
        """The prompt's row folded in from its observed ``{model: score}`` (fold-in)."""
        known = [m for m in observed if m in self.columns]
        if not known:
            return row
        cols = np.array([self.columns[m].mean for m in known])
        features = np.column_stack([cols[:, :-1], np.ones(len(known))])
        offset = self.completion.global_mean + cols[:, -1]
        y = np.array([observed[m] for m in known], dtype=np.float64)
        return prompt_posterior(row, self.prompt_precision, features, offset, y,
                                link=self.link, noise_var=self.noise_var)

    def scores(self, eta: np.ndarray) -> np.ndarray:
        """Scores of linear predictors: the completion model's link and clip (float64)."""
        return self.completion.apply_link(np.asarray(eta)).astype(np.float64)

    def new_column(self) -> ColumnPosterior:
        """A column at the population prior, its covariance times ``new_prior_scale`` (a
        model added live)."""
        mean, precision = self.population
        return ColumnPosterior(mean, precision / self.new_prior_scale, link=self.link,
                               noise_var=self.noise_var, row_var=self.row_var(mean))

    # ------------------------------------------------------------------ persistence
    def arrays(self) -> tuple[list[str], dict]:
        """(column names, arrays) of everything feedback changed or the build computed."""
        names = list(self.columns)
        arrays = {"population_mean": self.population[0],
                  "population_precision": self.population[1],
                  "prompt_precision": self.prompt_precision,
                  "reference_z": self.reference[0], "reference_offset": self.reference[1]}
        for i, name in enumerate(names):
            arrays.update({f"col{i}.{k}": v for k, v in self.columns[name].arrays().items()})
        return names, arrays

    def restored(self, names: Sequence[str], arrays: Mapping) -> "OnlineState":
        """This state (its router and settings: a loaded router is built with its saved
        settings first) with the arrays a save wrote; nothing recomputed."""
        state = copy.copy(self)
        state.population = (arrays["population_mean"], arrays["population_precision"])
        state.prompt_precision = arrays["prompt_precision"]
        state.reference = (arrays["reference_z"], arrays["reference_offset"])
        k1 = self.completion.rank + 1
        if state.population[0].shape != (k1,) or state.reference[0].shape[1:] != (k1,):
            raise ValueError(f"its arrays are for rank {state.population[0].shape[0] - 1}, the "
                             f"router's completion model has rank {k1 - 1}")
        state.columns = {}
        for i, name in enumerate(names):
            part = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"col{i}.")}
            state.columns[name] = ColumnPosterior.from_arrays(part, link=self.link,
                                                              noise_var=self.noise_var)
        return state


def _answer_noise(model) -> float:
    """The variance of one answer on the working scale: the identity link's training noise
    (1 when the method did not record one), 1 for logistic (its weights carry the noise)."""
    return 1.0 if model.link == "logistic" else float(model.noise_var or 1.0)


def _population(model) -> tuple[np.ndarray, np.ndarray]:
    """(mean, precision) of a trained column in natural units: ``Model.side_prior`` with unit
    noise scale (what cold start's ``Design`` uses); with fewer models than a covariance
    needs, the trained columns' mean with a unit precision."""
    prior = model.side_prior("model", 1.0)
    if prior is None:
        aug = np.column_stack([model.model_factors, model.model_bias]).astype(np.float64)
        return aug.mean(axis=0), np.eye(aug.shape[1])
    precision = prior[0].astype(np.float64)
    return np.linalg.solve(precision, prior[1].astype(np.float64)), precision


def refit_records(records, feedback: Sequence[tuple], models: Sequence[str]):
    """The training records of a refit: ``records`` restricted to ``models`` plus every
    feedback ``(text, model, score, cost)`` on them. A feedback text that is a training
    prompt's text takes that prompt's id (the cell is then the mean of both); any other text
    gets ``online-`` + its text hash. Repeated (prompt, model) cells are averaged."""
    table = records.table.filter(pl.col("model").is_in(list(models)))
    has_cost = "cost" in table.columns
    table = table.join(records.texts, on="prompt", how="left")
    by_text = dict(zip(records.texts["text"].to_list(), records.texts["prompt"].to_list()))
    rows = [(by_text.get(text, "online-" + text_id(text)), model, float(score),
             None if cost is None else float(cost), None, text)
            for text, model, score, cost in feedback if model in models]
    names = ["prompt", "model", "score", "cost", "benchmark", "text"]
    extra = pl.DataFrame(rows, schema={"prompt": pl.String, "model": pl.String,
                                       "score": pl.Float64, "cost": pl.Float64,
                                       "benchmark": pl.String, "text": pl.String},
                         orient="row")
    if not has_cost:
        extra, names = extra.drop("cost"), [n for n in names if n != "cost"]
    frame = pl.concat([table.select(names), extra.select(names)])
    return records_from_frame(frame, cost="cost" if has_cost else None, benchmark="benchmark",
                              text="text", on_duplicate="mean", source="<online refit>")
