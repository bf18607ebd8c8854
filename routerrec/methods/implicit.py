"""implicit's ALS (Hu, Koren & Volinsky) for records that really are implicit feedback.

Implicit feedback is a log of what users chose ("which model a user kept"), not a score of
how well a model did. implicit's ALS reads it that way: every missing cell becomes target 0
with weight 1, a stored value ``c`` becomes target 1 with confidence ``alpha * c``, and a
stored 0 is dropped. Fed evaluation scores, it therefore learns "was this pair evaluated"
and calls every incorrect answer unknown; on Open LLM Leaderboard scores its held-out
RMSE is 0.357 against explicit ALS's 0.278 (benchmarks/bench_methods.py). So records carry a
``feedback`` kind, and this method registers as reading ``feedback="implicit"`` records
only: it refuses scores, and every explicit method refuses its records
(``methods.registry.check_feedback``).

The fitted user/item factors become a ``Model`` with link ``"preference"``: predictions
are implicit's scores (``x_u . y_i``, a preference, not a probability), and fold-in is
implicit's own one-row solve ``(Y^T C_u Y + reg I) x = Y^T C_u p_u`` with the other side
fixed, so ``add_model`` / ``add_prompt`` take ``{id: confidence}`` like training did.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..util.progress import progress_bar
from .model import Model
from .registry import count, factor_memory, number, register_link, register_method, seed

__all__ = ["fit", "fold_in", "DEFAULTS", "PARAMS"]

DEFAULTS = dict(rank=32, reg=0.01, iterations=15, alpha=1.0, seed=0, num_threads=0)
PARAMS = dict(rank=count(1), reg=number(0), iterations=count(1), alpha=number(0, low_open=True),
              seed=seed(32), num_threads=count(0))


def fold_in(model, side, index, values):
    """The preference link's fold-in: implicit's own one-row solve for a new model
    (``side="model"``) or prompt."""
    from implicit.cpu.als import user_factor

    if np.any(values <= 0):
        raise ValueError("implicit feedback fold-in takes positive confidences only: a 0 "
                         "means the same as a missing cell (not chosen)")
    fixed = model.prompt_factors if side == "model" else model.model_factors
    alpha, reg = model.params.get("alpha", 1.0), model.params.get("reg", DEFAULTS["reg"])
    row = sp.csr_matrix((alpha * values, (np.zeros(len(index), np.int64), index)),
                        shape=(1, fixed.shape[0]))
    x = user_factor(fixed, fixed.T @ fixed, row, 0, reg, fixed.shape[1])
    return x.astype(np.float32), 0.0


@register_method("implicit", feedback="implicit", params=PARAMS,
                 memory=factor_memory(row_solves=False))
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"], alpha: float = DEFAULTS["alpha"],
        seed: int = DEFAULTS["seed"], num_threads: int = DEFAULTS["num_threads"],
        progress: bool = False) -> Model:
    """Fit implicit's ALS (conjugate-gradient solver) on implicit-feedback records.

    Stored values are confidences (e.g. 1 per "kept", or a count) and must be positive.
    Rows are solved independently, so the result does not depend on ``num_threads``.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    m = records.matrix()
    if m.scores.nnz and m.scores.data.min() <= 0:
        raise ValueError("implicit feedback values are confidences and must be positive: "
                         "implicit's ALS drops a stored 0 (it means the same as a missing "
                         "cell). Remove those records, or, if 0 means 'tried and failed', "
                         "these are explicit scores: use an explicit method")
    with progress_bar(iterations, "implicit ALS sweeps", enabled=progress) as bar, \
            threadpool_limits(1, "blas"):  # implicit's threads each call BLAS: one thread each
        als = AlternatingLeastSquares(factors=rank, regularization=reg, alpha=alpha,
                                      iterations=iterations, random_state=seed,
                                      num_threads=num_threads)
        als.fit(m.scores, show_progress=False, callback=lambda *_: bar.update(1))
    n_p, n_m = m.shape
    return Model(method="implicit", params=dict(rank=rank, reg=reg, iterations=iterations,
                                                alpha=alpha, seed=seed),
                 prompts=m.prompts, models=m.models, global_mean=0.0,
                 prompt_bias=np.zeros(n_p, np.float32), model_bias=np.zeros(n_m, np.float32),
                 prompt_factors=als.user_factors, model_factors=als.item_factors,
                 link="preference")


# implicit's scores are preferences x_u . y_i, used as they are
register_link("preference", lambda linear: linear, fold_in)
