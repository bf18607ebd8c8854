"""Held-out quality of completion models: RMSE, MAE and, for binary scores, AUC,
accuracy and log-loss, always next to the mean baselines."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["cell_metrics", "heldout_report", "baseline_report", "score_model", "BASELINES",
           "BINARY_METRICS"]

# Every held-out report shows these next to the method (name -> mean kind).
BASELINES = {"global-mean": "global", "model-mean": "model", "prompt-mean": "prompt"}
_EPS = 1e-6
BINARY_METRICS = ("auc", "accuracy", "log_loss")  # need 0/1 scores


def cell_metrics(truth: np.ndarray, pred: np.ndarray, *, binary: bool) -> dict:
    """Error of predictions ``pred`` against observed scores ``truth`` (same length).

    A metric that cannot be computed is NaN, never an exception and never a number that hides
    it: no cells (``n`` 0), a NaN or infinite prediction (a diverged fit; every metric), an
    error too large for a float, or AUC on cells of one class. Reports write NaN as null.
    """
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    names = ["rmse", "mae", *(BINARY_METRICS if binary else ())]
    out = {"n": int(len(truth)), **dict.fromkeys(names, float("nan"))}
    if not len(truth) or not np.isfinite(pred).all():
        return out
    with np.errstate(over="ignore"):  # an overflowing error is reported as NaN below
        err = pred - truth
        out.update(rmse=float(np.sqrt(np.mean(err ** 2))), mae=float(np.mean(np.abs(err))))
    if binary:
        p = np.clip(pred, _EPS, 1 - _EPS)
        both = 0 < truth.sum() < len(truth)
        out["auc"] = float(roc_auc_score(truth, pred)) if both else float("nan")
        out["accuracy"] = float(np.mean((pred >= 0.5) == (truth >= 0.5)))
        out["log_loss"] = float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))
    return {"n": out["n"], **{k: out[k] if np.isfinite(out[k]) else float("nan") for k in names}}


def score_model(model, test) -> dict:
    """``cell_metrics`` of ``model`` on the observed cells of ``test``."""
    m = test.matrix()
    coo = m.scores.tocoo()
    pi = model.prompt_indices(m.prompts)[coo.row]
    mi = model.model_indices(m.models)[coo.col]
    return cell_metrics(coo.data, model.predict_pairs(pi, mi),
                        binary=test.score_kind == "binary")


def baseline_report(train, test) -> dict:
    """Metrics of each mean baseline (fitted on ``train``) on the cells of ``test``."""
    from ..methods import fit

    return {name: score_model(fit(train, method="mean", kind=kind), test)
            for name, kind in BASELINES.items()}


def heldout_report(model, train, test) -> dict:
    """Metrics of ``model`` and of each mean baseline on the cells of ``test``.

    ``train`` must cover every prompt and model in ``test`` (``Records.split_cells``
    guarantees it), so no baseline or method is asked about an id it never saw.
    """
    return {model.method: score_model(model, test), **baseline_report(train, test)}
