"""The posterior of a new LLM's row given probe answers, and the benchmark estimates it gives.

A new model's row ``x = [q, b]`` has the population prior of the trained model rows
(``Design``, taken from a fitted ``Model``). Given probe answers, its posterior is Gaussian
(identity link: exact ridge/MAP, the same solve as ``Model.add_model``; logistic link:
Laplace at the MAP, damped Newton). A benchmark's accuracy is estimated as the observed
probe answers plus the predicted scores of the other items, divided by the item count; its
variance adds the parameter part ``g^T cov g`` (``g`` the gradient of the predicted sum),
the answer noise of the unseen items (``p(1-p)`` each for scores in [0, 1]) and, for the
unseen share of the benchmark, the model-level discrepancy the factors miss
(``Model.discrepancy``, measured leave-one-model-out at fit time: ``methods.discrepancy``),
less what the probes in the benchmark tell of it. ``BatchState`` does this for many new models at once, which is what makes the leave-models-out evaluation
fast (``routerrec.evaluation.coldstart``); probe strategies (``coldstart.probes``) and fold-in
(``coldstart.foldin``) work on the same two classes. Intervals take the Student-t quantile
with (trained models - 1) degrees of freedom, since the prior is estimated from them.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t

from ..data.records import UNKNOWN_BENCHMARK
from ..kernels.linalg import psd_cholesky
from ..methods.model import MIN_POPULATION, Model

__all__ = ["Design", "BatchState", "fitted_model"]

_MIN_CELL_VAR = 0.01  # floor of a binary cell's p(1-p): predictions are never certain
_NEWTON_STEPS = 8


def fitted_model(model) -> Model:
    """``model`` when it is a fitted ``Model`` (what every cold-start entry point takes)."""
    if not isinstance(model, Model):
        raise TypeError(f"cold start needs a fitted routerrec Model (routerrec.fit, "
                        f"load_model), got {type(model).__name__}")
    return model


class Design:
    """The arrays probe selection and cold-start estimates work on, taken from a ``Model``.

    ``Y`` (n_prompts x (rank+1)) augmented prompt vectors, ``offset`` ``mu + b_prompt``,
    ``prior_mean`` / ``prior_cov`` of model rows, ``prior_precision`` its inverse,
    ``noise_var`` the per-answer noise of the identity link (1 for logistic),
    ``groups`` integer benchmark code per prompt and ``benchmarks`` their names.
    """

    def __init__(self, model):
        prior = fitted_model(model).side_prior("model", 1.0)
        if prior is None:
            raise ValueError(f"cold start needs at least {MIN_POPULATION} trained models to "
                             f"estimate the population prior of a new one; the model has "
                             f"{len(model.models)}: fit it on records with more models")
        self.model = model
        self.link = model.link
        self.Y = np.column_stack([model.prompt_factors,
                                  np.ones(len(model.prompts))]).astype(np.float64)
        self.offset = (model.global_mean + model.prompt_bias).astype(np.float64)
        self.noise_var = 1.0 if model.link == "logistic" else float(model.noise_var or 0.0)
        if self.noise_var <= 0:
            raise ValueError("cold start needs the model's training noise variance (noise_var)")
        precision, shift = prior
        self.prior_precision = precision.astype(np.float64)
        self.prior_cov = np.linalg.inv(self.prior_precision)
        self.prior_mean = self.prior_cov @ shift.astype(np.float64)
        labels = [b if b is not None else UNKNOWN_BENCHMARK for b in model.prompt_benchmark]
        self.benchmarks = sorted(set(labels))
        code = {b: i for i, b in enumerate(self.benchmarks)}
        self.groups = np.array([code[b] for b in labels], dtype=np.int64)
        self.bounded = model.score_range == (0.0, 1.0)
        # per benchmark (+ overall): the variance of a model's accuracy the factors miss
        missed = model.discrepancy or {"overall": 0.0, "benchmarks": {}}
        self.discrepancy = np.array([missed["benchmarks"].get(b, 0.0) for b in self.benchmarks]
                                    + [missed["overall"]])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of model rows ``x`` (n x k1) on every prompt (n x n_prompts)."""
        return self.model.apply_link(x @ self.Y.T + self.offset).astype(np.float64)

    def slope(self, pred: np.ndarray) -> np.ndarray:
        """d score / d linear predictor per cell: p(1-p) (logistic) or 1 (identity).

        The identity link's clipping to the score range is ignored on purpose: a cell
        predicted past a bound has a flat clipped prediction, but its answer is not certain,
        and treating it as certain left ALS intervals covering ~50% of held-out models'
        accuracies at a nominal 95% (benchmarks/bench_coldstart_sizes.py).
        """
        if self.link == "logistic":
            return pred * (1 - pred)
        return np.ones_like(pred)

    def cell_var(self, pred: np.ndarray) -> np.ndarray:
        """Variance of one unseen answer: p(1-p) for scores in [0, 1], else the noise."""
        if self.bounded:
            return np.maximum(pred * (1 - pred), _MIN_CELL_VAR)
        return np.full_like(pred, self.noise_var)


class BatchState:
    """Posterior of ``n`` new model rows from their probe answers (arrays, not ids).

    ``scope`` (n x n_prompts, bool) marks the items whose accuracy is estimated and that may
    be probed (e.g. the items a held-out model really has); ``cost`` (n_prompts) divides
    the gain of a probe.
    """

    def __init__(self, design: Design, scope: np.ndarray, *, cost: np.ndarray | None = None):
        self.design = design
        self.scope = np.asarray(scope, dtype=bool)
        n = self.scope.shape[0]
        self.cost = np.ones(design.Y.shape[0]) if cost is None else np.asarray(cost, float)
        self.probed = np.zeros_like(self.scope)
        self.idx = np.zeros((n, 0), dtype=np.int64)
        self.vals = np.zeros((n, 0))
        self.x = np.tile(design.prior_mean, (n, 1))
        self.cov = np.tile(design.prior_cov, (n, 1, 1))
        # benchmark one-hot (n_prompts x n_benchmarks) plus an "overall" column
        onehot = np.eye(len(design.benchmarks))[design.groups]
        self.groups = np.column_stack([onehot, np.ones(len(design.groups))])
        self.names = list(design.benchmarks) + ["overall"]

    @property
    def available(self) -> np.ndarray:
        return self.scope & ~self.probed

    # ------------------------------------------------------------ posterior
    def observe(self, idx: np.ndarray, vals: np.ndarray, *, posterior=None) -> None:
        """Add answers: ``idx`` / ``vals`` of shape (n,) or (n, m); index -1 = no answer.

        ``posterior``, an ``(x, cov)`` pair for one row computed elsewhere (the link's own
        solver, ``Model.model_posterior``), is used as it is instead of solving here.
        """
        idx = np.asarray(idx, dtype=np.int64).reshape(len(self.x), -1)
        vals = np.asarray(vals, dtype=np.float64).reshape(idx.shape)
        rows = np.repeat(np.arange(len(self.x)), idx.shape[1]).reshape(idx.shape)
        self.probed[rows[idx >= 0], idx[idx >= 0]] = True
        self.idx = np.concatenate([self.idx, idx], axis=1)
        self.vals = np.concatenate([self.vals, vals], axis=1)
        if posterior is None:
            self._solve()
        else:
            x, cov = posterior
            self.x, self.cov = np.atleast_2d(x).astype(float), np.asarray(cov, float)[None]

    def _solve(self) -> None:
        d = self.design
        valid = self.idx >= 0
        Yp = d.Y[np.where(valid, self.idx, 0)] * valid[..., None]      # n x s x k1
        off = d.offset[np.where(valid, self.idx, 0)]
        P0, m0 = d.prior_precision, d.prior_mean
        if d.link == "identity":
            H = P0 + np.einsum("nsk,nsl->nkl", Yp, Yp) / d.noise_var
            rhs = P0 @ m0 + np.einsum("nsk,ns->nk", Yp, (self.vals - off) * valid) / d.noise_var
            self.x = np.linalg.solve(H, rhs[..., None])[..., 0]
        else:  # logistic: damped Newton on the convex MAP objective, warm started
            x = self.x
            for _ in range(_NEWTON_STEPS):
                p = 1 / (1 + np.exp(-(np.einsum("nsk,nk->ns", Yp, x) + off)))
                w = p * (1 - p) * valid
                H = P0 + np.einsum("nsk,ns,nsl->nkl", Yp, w, Yp)
                grad = (x - m0) @ P0 + np.einsum("nsk,ns->nk", Yp, (p - self.vals) * valid)
                step = np.linalg.solve(H, grad[..., None])[..., 0]
                x = x - step / np.maximum(1.0, np.linalg.norm(step, axis=1) / 2.0)[:, None]
            p = 1 / (1 + np.exp(-(np.einsum("nsk,nk->ns", Yp, x) + off)))
            H = P0 + np.einsum("nsk,ns,nsl->nkl", Yp, p * (1 - p) * valid, Yp)
            self.x = x
        self.cov = np.linalg.inv(H)

    # ------------------------------------------------------------ estimates
    def _parts(self):
        d = self.design
        pred = d.predict(self.x)
        unseen = self.available  # in scope and not probed
        observed = np.zeros_like(pred)
        rows = np.repeat(np.arange(len(self.x)), self.idx.shape[1]).reshape(self.idx.shape)
        ok = self.idx >= 0
        observed[rows[ok], self.idx[ok]] = self.vals[ok]
        return pred, unseen, observed

    def estimates(self, *, level: float = 0.95) -> dict:
        """Per benchmark (+ ``overall``): estimate, low, high, sd, items, probes; arrays (n, B)."""
        d = self.design
        pred, unseen, observed = self._parts()
        G = self.groups
        scope = self.scope.astype(float)
        n_items = scope @ G
        total = (np.where(unseen, pred, 0.0) + observed * self.probed) @ G
        slope = d.slope(pred) * unseen
        # gradient of each group's predicted sum w.r.t. the row: (n, B, k1)
        grad = np.einsum("ni,ib,ik->nbk", slope, G, d.Y, optimize=True)
        var_param = np.einsum("nbk,nkl,nbl->nb", grad, self.cov, grad)
        var_noise = (d.cell_var(pred) * unseen) @ G
        offset, var_offset = self._benchmark_offsets(pred, observed)
        n_unseen = unseen.astype(float) @ G
        total[:, :-1] += offset * n_unseen[:, :-1]
        total[:, -1] = total[:, :-1].sum(axis=1)  # overall: the sum of the benchmarks' totals
        var_missed = np.column_stack([var_offset, np.broadcast_to(
            d.discrepancy[-1], (len(total), 1))]) * np.square(n_unseen)
        safe = np.maximum(n_items, 1)
        est = total / safe
        sd = np.sqrt(var_param + var_noise + var_missed) / safe
        # Student-t with (trained models - 1) degrees of freedom: the prior's covariance is
        # estimated from that many models (with thousands it is the normal quantile)
        z = student_t.ppf(0.5 + level / 2, df=max(len(d.model.models) - 1, 1))
        lo, hi = (-np.inf, np.inf) if not d.bounded else (0.0, 1.0)
        est = np.where(n_items > 0, np.clip(est, lo, hi), np.nan)
        return {"names": self.names, "estimate": est, "sd": sd,
                "low": np.clip(est - z * sd, lo, hi), "high": np.clip(est + z * sd, lo, hi),
                "items": n_items, "probes": self.probed.astype(float) @ G,
                "gradient": grad}

    def _benchmark_offsets(self, pred, observed):
        """The new model's own offset on each benchmark and its variance, (n, B) each.

        The discrepancy (``Model.discrepancy``) is the variance of a model-level offset the
        factors miss; the probe residuals in the benchmark estimate it (a random effect's
        best linear unbiased predictor): ``tau^2 sum r / (tau^2 m + s2)`` from ``m`` probes
        of mean answer noise ``s2``, with variance ``tau^2 s2 / (tau^2 m + s2)``. With no
        probes it is 0 with variance ``tau^2``; with many it moves the unseen items'
        predictions to the probes' level, which is what made the naive probe mean beat the
        factors at 100 probes with 10-20 trained models.
        """
        d = self.design
        G = self.groups[:, :-1]
        m = self.probed.astype(float) @ G
        residual = ((observed - pred) * self.probed) @ G
        noise = (d.cell_var(pred) * self.probed) @ G
        s2 = np.where(m > 0, noise / np.maximum(m, 1), 1.0)
        tau2 = d.discrepancy[:-1][None, :]
        shrink = tau2 / (tau2 * m + s2)
        return shrink * residual, shrink * s2

    # ------------------------------------------------------------ adaptive choice
    def next_probe(self) -> np.ndarray:
        """Per row, the available item that most reduces the summed variance of the
        per-benchmark estimates (each divided by its item count); -1 when none is left."""
        d = self.design
        est = self.estimates()
        u = np.einsum("nbk,nkl->nbl", est["gradient"][:, :-1] / np.maximum(
            est["items"][:, :-1, None], 1), self.cov)              # cov g_b / n_b
        pred = d.predict(self.x)
        proj = np.einsum("ik,nbk->nib", d.Y, u)                    # y_i . cov g_b / n_b
        L = psd_cholesky(self.cov)  # rounding can leave it indefinite: see psd_cholesky
        pvar = np.square(np.matmul(d.Y[None], L)).sum(-1)         # y_i^T cov y_i
        # answer noise in the units of the posterior: the training noise (identity link)
        # or 1 / (p(1-p)) (logistic: the Fisher weight at the current estimate)
        noise = d.noise_var if d.link == "identity" else 1 / np.maximum(pred * (1 - pred), 1e-3)
        gain = np.square(proj).sum(-1) / (noise + pvar)
        gain = np.where(self.available, gain / self.cost, -np.inf)
        best = np.argmax(gain, axis=1)
        return np.where(self.available.any(axis=1), best, -1)

    def plan(self, k: int) -> list[int]:
        """``k`` probes for row 0 chosen with no answers (each answer taken as predicted)."""
        chosen = []
        for _ in range(k):
            j = int(self.next_probe()[0])
            if j < 0:
                break
            chosen.append(j)
            self.observe(np.array([j]), self.design.predict(self.x)[:, j])
        return chosen
