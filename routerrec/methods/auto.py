"""``method="auto"``, the default: the completion method and rank a user gets without flags.

The rule, by score kind and data size (the numbers behind it are in docs/methods.md,
"Defaults", from benchmarks/bench_defaults.py and benchmarks/bench_coldstart_sizes.py):

- implicit feedback (choices, no scores): ``implicit``;
- 0/1 scores from at least ``LOGISTIC_MIN_MODELS`` models: ``logistic`` with rank
  ``n_models // 8`` (between 4 and 32): the Bernoulli likelihood gives the best held-out
  error and log-loss and the best calibrated cold start there, and its population prior
  needs a rank well below the model count;
- otherwise (graded scores, or fewer models): ``als`` with its defaults: on 11 to 29 real
  models (RouterBench, MMLU-Pro) its held-out error beats logistic's at every rank, and its
  ``reg * n`` weighting keeps a rank above the model count in check.

Parameters given with ``auto`` must be ones every candidate takes (``SHARED``); name a
method to set others.
"""
from __future__ import annotations

from .registry import DEFAULT_ENGINE, METHODS, check_records

__all__ = ["AUTO", "SHARED", "LOGISTIC_MIN_MODELS", "auto_method", "check_auto_params"]

AUTO = "auto"
SHARED = ("rank", "reg", "iterations", "seed")
LOGISTIC_MIN_MODELS = 40


def auto_method(records, engine: str) -> tuple[str, dict]:
    """``(method, default parameters)`` the rule above picks for ``records`` (on an engine
    other than routerrec's own, the one method it runs: ``als``)."""
    check_records(records, AUTO)
    if engine != DEFAULT_ENGINE:
        return "als", {}
    if records.feedback == "implicit":
        return "implicit", {}
    n = records.n_models
    if records.score_kind == "binary" and n >= LOGISTIC_MIN_MODELS:
        return "logistic", {"rank": min(32, max(4, n // 8))}
    return "als", {}


def check_auto_params(params) -> dict:
    """``params`` checked for whichever method ``auto`` picks: only ``SHARED`` names (and
    the fitters' ``progress`` keyword), each value checked as every candidate declares it."""
    unknown = sorted(set(params) - set(SHARED) - {"progress"})
    if unknown:
        raise TypeError(f"method auto has no parameter {unknown[0]!r}; its parameters are "
                        f"{', '.join(SHARED)} (those of every method it may pick): name a "
                        f"method (e.g. method='logistic') to set others")
    declared = METHODS["als"].params[DEFAULT_ENGINE]  # the SHARED checks, as als declares them
    return {k: (v if k == "progress" else declared[k](f"auto parameter {k}", v))
            for k, v in params.items()}
