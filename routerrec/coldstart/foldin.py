"""Fold a new LLM in from a few probe answers, with uncertainty,.

The new model's row ``x = [q, b]`` has the population prior of trained model rows
(``probes.Design``). Given probe answers, its posterior is Gaussian (identity link: exact
ridge/MAP, the same solve as ``Model.add_model``; logistic link: Laplace at the MAP, damped
Newton). A benchmark's accuracy is estimated as the observed probe answers plus the
predicted scores of the other items, divided by the item count; its variance adds the
parameter part ``g^T cov g`` (``g`` the gradient of the predicted sum) and the answer noise of
the unseen items (``p(1-p)`` each for scores in [0, 1]). ``BatchState`` does this for many
new models at once, which is what makes the leave-models-out evaluation fast
(``routerrec.evaluation.coldstart``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import norm

from ..kernels.linalg import blas_one_thread
from .probes import Design, select_probes

__all__ = ["FoldInResult", "BatchState", "add_model"]

_NEWTON_STEPS = 8


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
    def observe(self, idx: np.ndarray, vals: np.ndarray) -> None:
        """Add answers: ``idx`` / ``vals`` of shape (n,) or (n, m); index -1 = no answer."""
        idx = np.asarray(idx, dtype=np.int64).reshape(len(self.x), -1)
        vals = np.asarray(vals, dtype=np.float64).reshape(idx.shape)
        rows = np.repeat(np.arange(len(self.x)), idx.shape[1]).reshape(idx.shape)
        self.probed[rows[idx >= 0], idx[idx >= 0]] = True
        self.idx = np.concatenate([self.idx, idx], axis=1)
        self.vals = np.concatenate([self.vals, vals], axis=1)
        self._solve()

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

    def set_posterior(self, x: np.ndarray, cov: np.ndarray) -> None:
        """Use a posterior computed elsewhere (``Model.model_posterior``) for one row."""
        self.x, self.cov = np.atleast_2d(x).astype(float), np.asarray(cov, float)[None]

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
        slope = d.slope(self.x, pred) * unseen
        # gradient of each group's predicted sum w.r.t. the row: (n, B, k1)
        grad = np.einsum("ni,ib,ik->nbk", slope, G, d.Y, optimize=True)
        var_param = np.einsum("nbk,nkl,nbl->nb", grad, self.cov, grad)
        var_noise = (d.cell_var(pred) * unseen) @ G
        safe = np.maximum(n_items, 1)
        est = total / safe
        sd = np.sqrt(var_param + var_noise) / safe
        z = norm.ppf(0.5 + level / 2)
        lo, hi = (-np.inf, np.inf) if not d.bounded else (0.0, 1.0)
        est = np.where(n_items > 0, est, np.nan)
        return {"names": self.names, "estimate": est, "sd": sd,
                "low": np.clip(est - z * sd, lo, hi), "high": np.clip(est + z * sd, lo, hi),
                "items": n_items, "probes": self.probed.astype(float) @ G,
                "gradient": grad}

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
        L = np.linalg.cholesky(self.cov)
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


@dataclass
class FoldInResult:
    """What adding a new LLM gives: the updated model, its predicted score on every prompt,
    and per-benchmark accuracy estimates with ``level`` intervals."""

    name: str
    model: object
    scores: dict
    benchmarks: dict
    n_probes: int
    level: float
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict:
        return {"name": self.name, "n_probes": self.n_probes, "level": self.level,
                "seconds": self.seconds, "benchmarks": self.benchmarks}


def add_model(model, name: str, results: Mapping[str, float], *, level: float = 0.95,
              benchmarks: Sequence[str] | None = None) -> FoldInResult:
    """Fold ``{prompt id: score}`` in as model ``name`` (no refit) and estimate its accuracy
    per benchmark (probe answers + predictions for the other items) with intervals.

    ``benchmarks`` limits the estimates (and their items) to those benchmarks.
    """
    t0 = time.perf_counter()
    with blas_one_thread():  # tiny matrices: threaded BLAS only adds contention (400x measured)
        return _add_model(model, name, results, level, benchmarks, t0)


def _add_model(model, name, results, level, benchmarks, t0) -> FoldInResult:
    new = model.add_model(name, results)
    q, b, cov = model.model_posterior(results)
    design = Design(model)
    scope = np.ones((1, len(model.prompts)), dtype=bool)
    if benchmarks is not None:
        scope[0] = np.isin(np.asarray(model.prompt_benchmark, dtype=object), list(benchmarks))
    state = BatchState(design, scope)
    idx = model.prompt_indices(list(results))
    state.observe(idx[None], np.asarray(list(results.values()), float)[None])
    if cov is not None:  # the link's own solver gave the posterior: use it as is
        state.set_posterior(np.append(q, b), cov)
    est = state.estimates(level=level)
    table = {}
    for j, bench in enumerate(est["names"]):
        if est["items"][0, j] == 0:
            continue
        table[bench] = {k: float(est[k][0, j]) for k in ("estimate", "low", "high", "sd")}
        table[bench].update(items=int(est["items"][0, j]), probes=int(est["probes"][0, j]))
    scores = dict(zip(model.prompts, new.predict(models=[name])[:, 0].tolist()))
    return FoldInResult(name=name, model=new, scores=scores, benchmarks=table,
                        n_probes=len(results), level=level,
                        seconds=time.perf_counter() - t0)
