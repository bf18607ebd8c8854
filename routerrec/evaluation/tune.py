"""Hyper-parameter selection: grid or random search on a validation split of cells.

Regularisation alone moves held-out error by 2x on planted data (tests/test_tune.py), so
the defaults are a start, not an answer: ``tune`` fits every candidate on the training
part of ``records.split_cells(validation, seed)`` and scores it on the held-out part with
the same metrics as every report (``metrics.heldout_report``).

``fit --holdout SHARE --holdout-seed S`` later scores on ``records.split_cells(SHARE, S)``;
choosing parameters on those very cells would flatter that score. So ``tune`` first removes
the same holdout (``holdout``, ``holdout_seed``: the same split) and splits its validation
cells from the rest only; the output says which cells were set aside (``excluded_holdout``).
"""
from __future__ import annotations

import itertools
import math
import time
from typing import Collection, Mapping, Sequence

import numpy as np

from ..methods import METHODS, check_params, fit
from .arguments import check_records
from .metrics import BINARY_METRICS, baseline_report, score_model
from ..util import validate
from ..util.progress import progress_bar

__all__ = ["tune", "GRIDS", "METRICS"]

# method -> default search space (every value a list). Methods without an entry need a grid.
GRIDS: dict[str, dict[str, list]] = {
    "als": {"rank": [8, 16, 32], "reg": [0.003, 0.01, 0.03, 0.1]},
    "logistic": {"rank": [8, 16, 32], "reg": [0.001, 0.003, 0.01, 0.03]},
    "sgd": {"rank": [8, 16, 32], "reg": [0.005, 0.02, 0.05]},
    "knn": {"k": [10, 20, 40, 80], "shrink": [10.0, 100.0]},
    "mean": {"kind": ["global", "model", "prompt"]},
}

# metric -> True when larger is better
METRICS = {"rmse": False, "mae": False, "auc": True, "accuracy": True, "log_loss": False}
MIN_VALIDATION_CELLS = 10  # fewer cannot tell trials apart


def _candidates(grid: Mapping[str, Sequence], trials: int | None, seed: int) -> list[dict]:
    keys = sorted(grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if trials is not None and trials < len(combos):  # random search: a seeded subset
        pick = np.random.default_rng(seed).choice(len(combos), trials, replace=False)
        combos = [combos[i] for i in sorted(pick)]
    return combos


def _check_grid(grid) -> dict:
    """``grid`` as a dict of parameter name -> non-empty list of values."""
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping of parameter name -> list of values, got "
                        f"{type(grid).__name__}")
    for key, values in grid.items():
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Collection):
            raise TypeError(f"grid[{key!r}] must be a list of values, got "
                            f"{type(values).__name__} {values!r}")
    empty = [k for k, v in grid.items() if not len(v)]
    if empty:
        raise ValueError(f"grid entries {empty} have no values")
    return dict(grid)


def _check_validation(valid, metric: str, share: float, cells: int, excluded) -> None:
    """The validation cells must let ``metric`` be computed (AUC: both classes), and be at
    least ``MIN_VALIDATION_CELLS``: otherwise every trial would score NaN or noise."""
    n = valid.n_records
    advice = "raise validation (CLI: --validation) or tune on more records"
    if n < MIN_VALIDATION_CELLS:
        left = f" left after fit's holdout of {excluded['cells']}" if excluded else ""
        raise ValueError(f"validation={share} holds out {n} of the {cells} cells{left}; "
                         f"tuning needs at least {MIN_VALIDATION_CELLS} to compare trials: {advice}")
    if metric == "auc":
        ones = int(valid.table.get_column("score").sum())
        if not 0 < ones < n:
            raise ValueError(f"metric 'auc' needs validation cells of both classes; the {n} "
                             f"held out are all {int(ones > 0)}: {advice}, or use log_loss")


def _refusal(method: str, params: dict) -> str | None:
    """Why the method's declaration refuses ``params`` (an unknown name, a bad value), or
    None: a trial it refuses is recorded as failed without a fit."""
    try:
        check_params(method, params)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def _without_holdout(records, holdout, holdout_seed):
    """``(records minus fit's holdout cells, what was set aside)``: ``fit --holdout
    --holdout-seed`` draws exactly these cells (the same ``split_cells``)."""
    if holdout is None:
        return records, None
    try:
        rest, held = records.split_cells(holdout, holdout_seed)
    except ValueError as exc:
        raise ValueError(f"holdout={holdout}: {exc} (or tune on every cell: holdout=None)") from exc
    return rest, {"share": holdout, "seed": holdout_seed, "cells": held.n_records,
                  "note": "these cells (fit --holdout SHARE --holdout-seed SEED's test cells) "
                          "were set aside before the validation split: tuning never saw them"}


def tune(records, *, method: str, grid: Mapping[str, Sequence] | None = None,
         fixed: Mapping | None = None, trials: int | None = None, validation: float = 0.1,
         seed: int = 0, metric: str = "rmse", holdout: float | None = 0.1,
         holdout_seed: int = 0, progress: bool = False) -> dict:
    """Search ``grid`` (default ``GRIDS[method]``) for the best ``metric`` on held-out cells.

    ``fixed`` parameters go to every fit; ``trials`` < grid size samples that many
    combinations (seeded). ``holdout``/``holdout_seed``: the cells ``fit --holdout
    --holdout-seed`` will score on are set aside first and never used (None: tune on all
    cells). Returns ``{"method", "metric", "best": {params, score}, "trials": [{params,
    metrics, fit_seconds}], "baselines", "validation", "seed", "excluded_holdout"}``;
    a trial that fails (bad combination) is recorded with its error, not raised. Every
    argument is checked before any fit: each candidate's parameters against the method's
    declaration (when none passes, nothing is fitted), the validation split (enough cells,
    both classes for AUC), and a metric that needs 0/1 scores against graded records.
    """
    check_records("records", records)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    validate.choice("metric", metric, list(METRICS))
    grid = _check_grid(GRIDS.get(method, {}) if grid is None else grid)
    if not grid:
        raise ValueError(f"no default grid for method {method!r}: give one")
    if fixed is not None and not isinstance(fixed, Mapping):
        raise TypeError(f"fixed must be a mapping of parameter name -> value, got "
                        f"{type(fixed).__name__}")
    if trials is not None:
        validate.integer("trials", trials, low=1)
    validate.fraction("validation", validation)
    validate.integer("seed", seed, low=0)
    if holdout is not None:
        validate.fraction("holdout", holdout)
    validate.integer("holdout_seed", holdout_seed, low=0)
    if metric in BINARY_METRICS and records.score_kind != "binary":
        raise ValueError(f"metric {metric!r} needs binary (0/1) scores; these records' "
                         "scores are graded (not all 0 or 1): use rmse or mae")
    fixed = dict(fixed or {})
    candidates = _candidates(grid, trials, seed)
    refused = [_refusal(method, {**fixed, **params}) for params in candidates]
    if all(refused):
        raise ValueError(f"every trial failed; first error: {refused[0]}")
    tunable, excluded = _without_holdout(records, holdout, holdout_seed)
    train, valid = tunable.split_cells(validation, seed)
    _check_validation(valid, metric, validation, tunable.n_records, excluded)
    sign = -1.0 if METRICS[metric] else 1.0
    results, best = [], None
    baselines = baseline_report(train, valid)  # the same for every trial: fitted once
    with progress_bar(len(candidates), f"tune {method}", enabled=progress, unit="fit") as bar:
        for params, error in zip(candidates, refused):
            model, t0 = None, time.perf_counter()
            if error is None:
                try:
                    model = fit(train, method=method, **{**fixed, **params})
                except (ValueError, TypeError) as exc:
                    error = str(exc)
            bar.update(1)
            if model is None:
                results.append({"params": params, "error": error})
                continue
            seconds = time.perf_counter() - t0
            scores = score_model(model, valid)
            results.append({"params": params, "metrics": scores, "fit_seconds": seconds})
            value = scores[metric]
            if not math.isnan(value) and (best is None or sign * value < sign * best["score"]):
                best = {"params": {**fixed, **params}, "score": value}
    if best is None:
        errors = [t["error"] for t in results if "error" in t]
        if len(errors) == len(results):
            raise ValueError(f"every trial failed; first error: {errors[0]}")
        raise ValueError(f"no trial gave a finite {metric}: the models of "
                         f"{len(results) - len(errors)} trial(s) predicted NaN or infinity on "
                         "the validation cells"
                         + (f", {len(errors)} failed (first error: {errors[0]})" if errors else ""))
    return {"method": method, "metric": metric, "best": best, "trials": results,
            "baselines": baselines, "validation": validation, "seed": seed,
            "excluded_holdout": excluded}
