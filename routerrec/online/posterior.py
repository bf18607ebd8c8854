"""The Gaussian posterior of one model's column ``x = [q, b]`` (factor vector and bias) that
feedback updates one record at a time.

A score ``y`` of the model on a prompt whose latent row is ``z = [p, 1]`` (offset
``o = mu + b_prompt``) has the linear predictor ``eta = z . x + o``. The posterior is kept in
natural parameters: precision ``P`` and ``h = P mean``. One record adds
``w z z^T`` to ``P`` and ``w z (y~ - o)`` to ``h`` (a rank-one update):

* identity link: ``w = 1 / noise_var`` and ``y~ = y`` -- the exact Gaussian posterior, and a
  sum, so any order of the same records gives the same state and it equals the batch solve
  ``(P0 + Z^T Z / s2)^-1 (P0 m0 + Z^T (y - o) / s2)`` (``batch_posterior``);
* logistic link: the likelihood linearised at an anchor ``a`` (the Laplace/IRLS working
  response cold start's Newton solver uses): ``p = sigmoid(z . a + o)``, ``w = p(1-p)``,
  ``y~ = eta(a) + (y - p) / w``, i.e. the mean is one Newton step from ``a`` on every record
  so far. Still a sum at a fixed anchor (order-free); the anchor moves to the batch MAP
  (``kernels.logistic.logistic_row_map``, the solver cold start uses) after every record up
  to ``RELINEARISE_FIRST`` and then at every power of two, where the state equals the batch
  Laplace posterior (a new model's first records, far from its prior mean, are solved
  exactly).

``row_var`` (errors in variables): a record's row is the text map's estimate, so its linear
predictor has the row's variance ``s2`` on top of the answer noise: the identity weight is
``1 / (noise_var + s2)``, a logistic record is taken on ``eta / kappa`` (``probit_scale``). A
constant per column, so the state is still a sum and equals the batch solve with it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..kernels.linalg import psd_cholesky
from ..kernels.logistic import logistic_row_map

__all__ = ["ColumnPosterior", "batch_posterior", "prompt_posterior", "column_widths", "link_slope",
           "inverse_link", "probit_scale", "RELINEARISE_FIRST", "MIN_WEIGHT"]

RELINEARISE_FIRST = 16  # logistic: the anchor moves to the MAP after each record up to here
MIN_WEIGHT = 1e-3       # floor of p(1-p): a confident prediction still learns from a miss


def inverse_link(link: str, eta: np.ndarray) -> np.ndarray:
    """Scores from linear predictors (float64; the model's clip is applied by callers)."""
    if link == "logistic":
        return 1.0 / (1.0 + np.exp(-np.clip(eta, -40, 40)))
    return np.asarray(eta, dtype=np.float64)


def link_slope(link: str, eta: np.ndarray) -> np.ndarray:
    """d score / d eta: p(1-p) (logistic) or 1 (identity)."""
    if link == "logistic":
        p = inverse_link(link, eta)
        return p * (1 - p)
    return np.ones_like(np.asarray(eta, dtype=np.float64))


def probit_scale(row_var: float) -> float:
    """``kappa = sqrt(1 + pi s2 / 8)``: ``E[sigmoid(eta)]`` for ``eta ~ N(m, s2)`` is close to
    ``sigmoid(m / kappa)`` (MacKay's probit approximation), so a logistic record whose linear
    predictor carries the row's variance ``s2`` is a logistic record on ``eta / kappa``."""
    return float(np.sqrt(1.0 + np.pi * row_var / 8.0))


def _weights(link, noise_var, z, offset, y, anchor, row_var=0.0):
    """Weights ``w`` and working targets ``w (y~ - o)`` of records linearised at ``anchor``;
    ``row_var`` is the variance the prompt row's uncertainty adds to the linear predictor."""
    if link == "identity":
        var = noise_var + row_var
        return np.full(len(y), 1.0 / var), (y - offset) / var
    kappa = probit_scale(row_var)
    p = inverse_link(link, (z @ anchor + offset) / kappa)
    w = np.maximum(p * (1 - p), MIN_WEIGHT) / kappa ** 2
    return w, w * (z @ anchor) + (y - p) / kappa


def batch_posterior(prior_mean, prior_precision, z, offset, y, *, link: str,
                    noise_var: float = 1.0, row_var: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(mean, precision) of a column from all its records at once, the reference the rank-one
    updates are checked against: the closed form (identity, noise ``noise_var + row_var``) or
    the Laplace posterior at the MAP from ``logistic_row_map`` (logistic; with ``row_var`` the
    records are on ``eta / kappa``, solved for ``[q, b / kappa]`` and mapped back)."""
    m0, p0 = np.asarray(prior_mean, float), np.asarray(prior_precision, float)
    z, offset, y = (np.asarray(a, float) for a in (z, offset, y))
    if link == "identity":
        var = noise_var + row_var
        precision = p0 + z.T @ z / var
        return np.linalg.solve(precision, p0 @ m0 + z.T @ (y - offset) / var), precision
    kappa = probit_scale(row_var)
    d = np.ones(len(m0))
    d[-1] = 1.0 / kappa                     # x' = d * x: the bias feature of z / kappa is 1
    p_scaled = p0 / np.outer(d, d)
    x, hessian = logistic_row_map(z[:, :-1] / kappa, offset / kappa, 0.0, np.arange(len(y)),
                                  y, p_scaled, p0 @ m0 / d)
    return np.asarray(x, float) / d, np.asarray(hessian, float) * np.outer(d, d)


class ColumnPosterior:
    """One model's column posterior: ``prior_mean`` / ``prior_precision`` (the fitted column
    with its training precision, or the population prior) updated by ``update``.

    ``link`` is the completion model's (``identity`` or ``logistic``), ``noise_var`` the
    identity link's answer noise, ``row_var`` the variance a record's linear predictor gets
    from the uncertainty of the prompt row it is computed with (errors in variables; 0: rows
    taken as exact). Records are kept (``z``, offsets, scores) so the logistic
    anchor can move and a save keeps everything.
    """

    def __init__(self, prior_mean, prior_precision, *, link: str, noise_var: float = 1.0,
                 row_var: float = 0.0):
        self.prior_mean = np.asarray(prior_mean, dtype=np.float64).copy()
        self.prior_precision = np.asarray(prior_precision, dtype=np.float64).copy()
        self.link, self.noise_var, self.row_var = link, float(noise_var), float(row_var)
        self._records: list[tuple[np.ndarray, float, float]] = []  # (z, offset, y)
        self._reset(self.prior_mean)

    @property
    def z(self) -> np.ndarray:
        return np.array([r[0] for r in self._records]).reshape(-1, len(self.prior_mean))

    @property
    def offset(self) -> np.ndarray:
        return np.array([r[1] for r in self._records], dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        return np.array([r[2] for r in self._records], dtype=np.float64)

    def _reset(self, anchor):
        """Natural parameters of every record so far, linearised at ``anchor``."""
        self.anchor = np.asarray(anchor, dtype=np.float64).copy()
        z = self.z
        w, target = _weights(self.link, self.noise_var, z, self.offset, self.y, self.anchor,
                             self.row_var)
        self.precision = self.prior_precision + (z * w[:, None]).T @ z
        self.shift = self.prior_precision @ self.prior_mean + z.T @ target
        self._cache = {}

    @property
    def n(self) -> int:
        return len(self._records)

    def update(self, z, offset: float, y: float) -> None:
        """Add one record: the rank-one update of the natural parameters."""
        z = np.asarray(z, dtype=np.float64)
        self._records.append((z, float(offset), float(y)))
        w, target = _weights(self.link, self.noise_var, z[None], np.array([offset]),
                             np.array([y]), self.anchor, self.row_var)
        self.precision += w[0] * np.outer(z, z)
        self.shift += z * target[0]
        self._cache = {}
        if self.link == "logistic" and (self.n <= RELINEARISE_FIRST or self.n & (self.n - 1) == 0):
            self.relinearise()

    def record_weights(self, z, offset) -> np.ndarray:
        """The weight a record at each prompt row ``z`` would get at the posterior mean: its
        precision on the linear predictor (what one record there teaches)."""
        z = np.asarray(z, dtype=np.float64)
        return _weights(self.link, self.noise_var, z, np.asarray(offset, float),
                        np.zeros(len(z)), self.mean, self.row_var)[0]

    def relinearise(self) -> None:
        """Move the anchor to the batch MAP of every record so far (logistic; identity needs
        none): the state becomes the batch Laplace posterior exactly."""
        if self.link == "logistic" and self.n:
            mean = batch_posterior(self.prior_mean, self.prior_precision, self.z,
                                   self.offset, self.y, link=self.link, row_var=self.row_var)[0]
            self._reset(mean)

    @property
    def mean(self) -> np.ndarray:
        if "mean" not in self._cache:
            self._cache["mean"] = np.linalg.solve(self.precision, self.shift)
        return self._cache["mean"]

    @property
    def cov(self) -> np.ndarray:
        if "cov" not in self._cache:
            cov = np.linalg.inv(self.precision)
            self._cache["cov"] = (cov + cov.T) / 2
        return self._cache["cov"]

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` columns drawn from the posterior, shape (n, k1)."""
        if "chol" not in self._cache:
            self._cache["chol"] = psd_cholesky(self.cov)
        return self.mean + rng.standard_normal((n, len(self.mean))) @ self._cache["chol"].T

    def width(self, z: np.ndarray, offset: np.ndarray) -> tuple[float, float]:
        """(mean score, width of its 95% interval) of this column over prompts ``z``."""
        scores, widths = column_widths([self], z, offset)
        return float(scores[0]), float(widths[0])

    # ---------------------------------------------------------------- persistence
    def arrays(self) -> dict:
        return {"prior_mean": self.prior_mean, "prior_precision": self.prior_precision,
                "z": self.z, "offset": self.offset, "y": self.y, "anchor": self.anchor,
                "row_var": np.array(self.row_var)}

    @classmethod
    def from_arrays(cls, arrays: dict, *, link: str, noise_var: float) -> "ColumnPosterior":
        self = cls(arrays["prior_mean"], arrays["prior_precision"], link=link,
                   noise_var=noise_var, row_var=float(arrays.get("row_var", 0.0)))
        self._records = [(np.asarray(z, dtype=np.float64), float(o), float(y)) for z, o, y in
                         zip(arrays["z"], arrays["offset"], arrays["y"])]
        self._reset(arrays["anchor"])
        return self


def column_widths(columns: Sequence[ColumnPosterior], z: np.ndarray,
                  offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the mean score over prompts ``z`` (rows ``[p, 1]``, offsets ``offset``) and
    the full width of its 95% interval by the delta method: ``2 * 1.96 * sqrt(g^T cov g)``,
    ``g`` the mean over the prompts of ``slope * z``. All columns share one link."""
    if not columns:
        return np.zeros(0), np.zeros(0)
    eta = z @ np.array([c.mean for c in columns]).T + offset[:, None]      # prompts x columns
    link = columns[0].link
    grad = link_slope(link, eta).T @ z / len(z)                               # columns x k1
    var = np.einsum("mk,mkl,ml->m", grad, np.array([c.cov for c in columns]), grad)
    return inverse_link(link, eta).mean(axis=0), 2 * 1.96 * np.sqrt(np.maximum(var, 0.0))


def prompt_posterior(prior_mean, prior_precision, features, offset, y, *, link: str,
                     noise_var: float = 1.0) -> np.ndarray:
    """A prompt's latent row ``[p, b_prompt]`` folded in from its observed scores: the same
    batch solve with the models' column means as ``features`` (``[q, 1]``) and ``mu + b_model``
    as offsets; the prior is the ridge map's prediction from the text and its residual
    precision."""
    return batch_posterior(prior_mean, prior_precision, features, offset, y, link=link,
                           noise_var=noise_var)[0]
