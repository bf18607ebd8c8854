"""Fold a new LLM in from a few probe answers, with per-benchmark accuracy estimates.

``fold_in_model`` adds the new model's row (``Model.model_posterior``: the link's own solve,
no refit) and reports, per benchmark, the estimate and interval its posterior gives
(``coldstart.design``): the answers seen plus the predictions for the other items.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..kernels.linalg import blas_one_thread
from ..util import validate
from .design import BatchState, Design

__all__ = ["FoldInResult", "fold_in_model"]


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


def fold_in_model(model, name: str, results: Mapping[str, float], *, level: float = 0.95,
                  benchmarks: Sequence[str] | None = None) -> FoldInResult:
    """Fold ``{prompt id: score}`` in as model ``name`` (no refit) and estimate its accuracy
    per benchmark (probe answers + predictions for the other items) with intervals.

    ``benchmarks`` limits the estimates (and their items) to those benchmarks. The grown
    model alone is ``model.add_model(name, results)``; this also returns the estimates.
    """
    t0 = time.perf_counter()
    level = validate.fraction("level", level)
    with blas_one_thread():  # tiny matrices: threaded BLAS only adds contention (400x measured)
        return _fold_in_model(model, name, results, level, benchmarks, t0)


def _fold_in_model(model, name, results, level, benchmarks, t0) -> FoldInResult:
    design = Design(model)  # refuses what is not a Model, or cannot give a prior
    model.new_id("model", name)
    q, b, cov = model.model_posterior(results)  # solved once: the new row and its posterior
    new = model.add_model_row(name, q, b)
    scope = np.ones((1, len(model.prompts)), dtype=bool)
    if benchmarks is not None:
        scope[0] = np.isin(np.asarray(model.prompt_benchmark, dtype=object), list(benchmarks))
    state = BatchState(design, scope)
    idx = model.prompt_indices(list(results))
    # the link's own solver gave the posterior: use it as is (else the state solves it)
    state.observe(idx[None], np.asarray(list(results.values()), float)[None],
                  posterior=None if cov is None else (np.append(q, b), cov))
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
