"""Mean baselines as models: global mean, per-model mean, per-prompt mean.

They are rank-0 ``Model`` objects, so every report, router and fold-in treats a baseline
exactly like a learned method.
"""
from __future__ import annotations

import numpy as np

from .model import Model
from .registry import number, one_of, register_method

KINDS = ("global", "model", "prompt")
PARAMS = dict(kind=one_of(*KINDS), reg=number(0))


def _means(csr):
    counts = np.diff(csr.indptr)
    sums = np.add.reduceat(csr.data.astype(np.float64), csr.indptr[:-1]) if csr.nnz else 0
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@register_method("mean", params=PARAMS)
def fit(records, *, kind: str = "model", reg: float = 1e-6, progress: bool = False) -> Model:
    """Predict the ``kind`` mean (``global``, per-``model`` or per-``prompt``) for every cell."""
    m = records.matrix()
    mu = float(m.scores.data.mean())
    prompt_bias = np.zeros(len(m.prompts), np.float32)
    model_bias = np.zeros(len(m.models), np.float32)
    if kind == "prompt":
        prompt_bias = np.nan_to_num(_means(m.scores) - mu).astype(np.float32)
    elif kind == "model":
        model_bias = np.nan_to_num(_means(m.scores.T.tocsr()) - mu).astype(np.float32)
    data = m.scores.data
    return Model(method="mean", params=dict(kind=kind, reg=reg), prompts=m.prompts,
                 models=m.models, global_mean=mu, prompt_bias=prompt_bias,
                 model_bias=model_bias,
                 prompt_factors=np.zeros((len(m.prompts), 0), np.float32),
                 model_factors=np.zeros((len(m.models), 0), np.float32),
                 clip=(float(data.min()), float(data.max())))  # the range fold-in checks
