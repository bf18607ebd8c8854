"""Cost of sending a prompt to a model, and the rules that trade predicted score for cost.

``CostModel`` learns, per model, ``cost = a + b * prompt characters`` from the records'
cost column: the length term is kept only when it explains the costs (pooled R² over the
training cells >= ``min_r2``); otherwise each model costs its mean. Records without costs
give a zero cost model, so every rule reduces to "best predicted score".

``choose`` applies the selection rules to predicted scores and costs (n prompts x m
candidates):

* willingness to pay ``wtp`` = λ: argmax over models of ``λ·ŝ − ĉ`` (RouterBench's rule);
* budget ``max_cost`` (a number or one per prompt): best predicted score among the models
  whose predicted cost fits (an unknown, NaN, cost does not); a prompt that no model fits
  gets the cheapest model;
* neither: best predicted score.

Ties go to the cheaper model. The candidate pool (``models=``) is a column subset chosen by
the router before ``choose`` sees the arrays.
"""
from __future__ import annotations

import functools

import numpy as np

from ..util.validate import choice, real, reals

__all__ = ["CostModel", "check_wtp", "choose"]


class CostModel:
    """Per-model cost: mean, or intercept + slope per prompt character.

    ``kind``: ``"auto"`` (length term when pooled R² >= ``min_r2``), ``"mean"``, ``"length"``.
    Fitted attributes: ``intercept_``, ``slope_`` (per model, USD and USD/char), ``kind_``
    (``"mean"``, ``"length"`` or ``"none"`` without costs), ``r2_``.
    """

    def __init__(self, *, kind: str = "auto", min_r2: float = 0.5):
        if kind not in ("auto", "mean", "length"):
            raise ValueError(f"cost kind must be 'auto', 'mean' or 'length', got {kind!r}")
        self.kind, self.min_r2 = kind, min_r2

    def fit(self, records, lengths: np.ndarray | None = None) -> "CostModel":
        """``lengths``: characters of each prompt in ``records.prompts`` order (None: unknown)."""
        m = records.matrix()
        n_models = len(m.models)
        self.intercept_ = np.zeros(n_models)
        self.slope_ = np.zeros(n_models)
        self.r2_ = float("nan")
        self.mean_length_ = float(np.mean(lengths)) if lengths is not None and len(lengths) else 0.0
        if m.costs is None:
            self.kind_ = "none"
            return self
        coo = m.costs.tocoo()
        ok = np.isfinite(coo.data)
        rows, cols, cost = coo.row[ok], coo.col[ok], coo.data[ok].astype(np.float64)
        count = np.bincount(cols, minlength=n_models)
        mean = np.bincount(cols, cost, minlength=n_models) / np.maximum(count, 1)
        mean[count == 0] = cost.mean() if len(cost) else 0.0
        self.intercept_, self.kind_ = mean, "mean"
        if lengths is None or self.kind == "mean" or not len(cost):
            return self
        x = np.asarray(lengths, dtype=np.float64)[rows]
        xm = np.bincount(cols, x, minlength=n_models) / np.maximum(count, 1)
        dx, dy = x - xm[cols], cost - mean[cols]
        sxx = np.bincount(cols, dx * dx, minlength=n_models)
        slope = np.where(sxx > 0, np.bincount(cols, dx * dy, minlength=n_models)
                         / np.maximum(sxx, 1e-300), 0.0)
        resid = dy - slope[cols] * dx
        total = float(np.sum(dy * dy))
        self.r2_ = 1.0 - float(np.sum(resid * resid)) / total if total > 0 else 0.0
        if self.kind == "length" or self.r2_ >= self.min_r2:
            self.slope_, self.intercept_, self.kind_ = slope, mean - slope * xm, "length"
        return self

    def predict(self, lengths: np.ndarray | None, cols: np.ndarray, n: int) -> np.ndarray:
        """Predicted cost, shape (n, len(cols)); ``lengths=None`` uses each model's mean length."""
        if lengths is None or not self.uses_lengths:
            out = np.empty((n, len(cols)), np.float32)
            out[...] = self._mean_cost()[cols]  # one row cast to float32, repeated
            return out
        out = self.intercept_[cols][None, :] + np.outer(lengths, self.slope_[cols])
        return np.maximum(out, 0.0).astype(np.float32)

    @property
    def uses_lengths(self) -> bool:
        """Whether ``predict`` reads the prompts' lengths (else each model costs its mean)."""
        return self.kind_ == "length"

    def _mean_cost(self):
        return self.intercept_ + self.slope_ * self.mean_length_

    def state(self) -> tuple[dict, dict]:
        return ({"kind": self.kind, "min_r2": self.min_r2, "kind_": self.kind_,
                 "r2_": None if np.isnan(self.r2_) else self.r2_,
                 "mean_length_": self.mean_length_},
                {"intercept": self.intercept_, "slope": self.slope_})

    @classmethod
    def from_state(cls, params: dict, arrays: dict) -> "CostModel":
        """The saved cost model (from a file: every value is checked)."""
        self = cls(kind=params["kind"], min_r2=real("cost min_r2", params["min_r2"]))
        self.kind_ = choice("cost kind_", params["kind_"], ("none", "mean", "length"))
        self.mean_length_ = real("cost mean_length_", params["mean_length_"], low=0)
        self.r2_ = float("nan") if params["r2_"] is None else real("cost r2_", params["r2_"])
        self.intercept_, self.slope_ = arrays["intercept"], arrays["slope"]
        return self


def check_wtp(wtp) -> float | None:
    """``wtp`` as a float (a number >= 0), or None; anything else is refused in one sentence."""
    return None if wtp is None else real("wtp (willingness to pay)", wtp, low=0)


def choose(scores: np.ndarray, costs: np.ndarray, *, wtp: float | None = None,
           max_cost=None) -> np.ndarray:
    """Column index chosen per row under the rules above (ties: the cheaper model).

    The one place the pick options are checked: ``wtp`` a number >= 0; ``max_cost`` a number
    >= 0 or one per row (finite: None is "no budget"). A candidate whose predicted cost is
    unknown (NaN) cannot be shown to fit a budget, so a budget excludes it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    costs = np.asarray(costs, dtype=np.float64)
    if scores.shape != costs.shape or scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"scores {scores.shape} and costs {costs.shape} must be the same "
                         "n x m shape with m >= 1")
    wtp = check_wtp(wtp)
    if max_cost is None:
        budgets = np.zeros(0)
    elif np.ndim(max_cost) == 0:
        budgets = np.array([real("max_cost", max_cost, low=0)])
    else:
        budgets = reals("max_cost", max_cost, length=len(costs), low=0)
    return _pick_columns()(scores, costs, 0.0 if wtp is None else wtp, wtp is not None, budgets)


@functools.cache
def _pick_columns():
    """The pick rule's kernel (``kernels.pick``), imported at the first pick: numba is not
    imported by a process that never picks."""
    from ..kernels.pick import pick_columns

    return pick_columns
