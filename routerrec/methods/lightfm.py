"""LightFM's logistic matrix factorisation, exported into a routerrec ``Model``.

LightFM's ``logistic`` loss touches stored cells only (label = value > 0), so unlike its
WARP/BPR losses it has explicit semantics. A graded score ``s`` in [0, 1] is stored twice,
as a positive cell of weight ``s`` and a negative cell of weight ``1 - s``, whose summed
log-loss is the cross-entropy against ``s``; a 0/1 score is one cell of weight 1.

LightFM predicts ``user_bias + item_bias + user_repr . item_repr``, where a user's
representation is the feature-weighted sum of feature embeddings (identity features by
default). That sum is computed once per prompt and stored as the prompt's factors, so the
exported model predicts exactly what ``LightFM.predict`` does, through the logistic link.

What it cannot do: fold in. LightFM has no fold-in: its id space is fixed at fit time,
``fit_partial`` only continues SGD on the same ids, and its penalties are per-SGD-step
(``user_alpha``/``item_alpha``), not a prior a one-row solve could reuse. A ``lightfm``
model therefore refuses ``add_model``/``add_prompt`` with that explanation instead of
returning a silently miscalibrated vector; refit, or use ``logistic``, whose fold-in is a
regularised solve of its own objective. SGD with ``num_threads > 1`` is racy (Hogwild), so
results are reproducible only with ``num_threads=1`` (the default).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..util.progress import progress_bar
from .model import Model
from ..util import validate
from .registry import FLAG, count, factor_memory, number, register_method, register_model_kind, seed

__all__ = ["fit", "LightFMModel", "DEFAULTS", "PARAMS"]

DEFAULTS = dict(rank=32, reg=1e-6, iterations=20, learning_rate=0.05, seed=0, num_threads=1)


def _prompt_features(what: str, value):
    """None, "text" or a 2-D matrix of finite numbers (its row count is checked against the
    records in ``_features``)."""
    if value is None or (isinstance(value, str) and value == "text"):
        return value
    if isinstance(value, str) or not (sp.issparse(value) or isinstance(value, np.ndarray)):
        raise TypeError(f"{what} must be None, 'text' or a matrix (numpy or scipy.sparse), "
                        f"got {type(value).__name__} {value!r:.60}")
    if value.ndim != 2:
        raise ValueError(f"{what} must be a 2-D matrix, got shape {value.shape}")
    validate.finite(what, value.data if sp.issparse(value) else value)
    return value


PARAMS = dict(rank=count(1), reg=number(0), iterations=count(1),
              learning_rate=number(0, low_open=True), seed=seed(32), num_threads=count(1),
              prompt_features=_prompt_features, identity=FLAG)

_NO_FOLD_IN = (
    "method 'lightfm' cannot fold in a new {kind}: LightFM's ids are fixed at fit time "
    "(fit_partial cannot grow them) and its user_alpha/item_alpha penalties are per SGD "
    "step, not a prior a one-row solve could reuse, so any vector routerrec solved here "
    "would be miscalibrated. Refit with the new {kind}'s records, or use method='logistic', "
    "whose fold-in solves its own regularised objective.")


@register_model_kind
class LightFMModel(Model):
    """A ``Model`` exported from LightFM: predicts like any other, refuses fold-in (see module).

    ``add_model`` and cold start's ``fold_in_model`` reach the refusal through
    ``model_posterior``."""

    kind = "lightfm"

    def model_posterior(self, results):
        raise NotImplementedError(_NO_FOLD_IN.format(kind="model"))

    def add_prompt(self, prompt, results):
        raise NotImplementedError(_NO_FOLD_IN.format(kind="prompt"))


def weighted_cells(scores: sp.csr_matrix) -> tuple[sp.coo_matrix, sp.coo_matrix]:
    """(labels, weights) COO matrices: each cell as (+1, s) and (-1, 1 - s), zero weights dropped.

    Duplicate coordinates are intended: LightFM iterates over the stored cells.
    """
    coo = scores.tocoo()
    s = np.clip(coo.data.astype(np.float32), 0.0, 1.0)
    row = np.concatenate([coo.row, coo.row])
    col = np.concatenate([coo.col, coo.col])
    label = np.concatenate([np.ones_like(s), -np.ones_like(s)])
    weight = np.concatenate([s, 1.0 - s])
    keep = weight > 0
    shape = scores.shape
    return (sp.coo_matrix((label[keep], (row[keep], col[keep])), shape=shape),
            sp.coo_matrix((weight[keep], (row[keep], col[keep])), shape=shape))


def _features(records, prompt_features, identity: bool, n_prompts: int):
    """The prompt feature matrix LightFM sees: identity (if asked) next to the given features."""
    if prompt_features is None:
        return None
    if isinstance(prompt_features, str):  # "text", as the declaration checked
        prompt_features = text_features(records)
    feats = sp.csr_matrix(prompt_features, dtype=np.float32)
    if feats.shape[0] != n_prompts:
        raise ValueError(f"prompt_features has {feats.shape[0]} rows, expected one per prompt "
                         f"({n_prompts}, in records.prompts order)")
    if identity:
        feats = sp.hstack([sp.identity(n_prompts, dtype=np.float32, format="csr"), feats],
                          format="csr")
    return feats


def text_features(records, *, max_features: int = 2000) -> sp.csr_matrix:
    """TF-IDF of the prompt texts (rows in ``records.prompts`` order; empty rows when unknown).

    Rows are L2-normalised, so a prompt's representation is its identity embedding plus a
    unit-weight mix of word embeddings, which is what lets LightFM score unseen prompts.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [t or "" for t in records.text_of(records.prompts)]
    if not any(texts):
        raise ValueError("prompt_features='text' needs prompt texts, and these records have none")
    return TfidfVectorizer(max_features=max_features, dtype=np.float32).fit_transform(texts).tocsr()


@register_method("lightfm", params=PARAMS, memory=factor_memory(row_solves=False))
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"],
        learning_rate: float = DEFAULTS["learning_rate"], seed: int = DEFAULTS["seed"],
        num_threads: int = DEFAULTS["num_threads"], prompt_features=None, identity: bool = True,
        progress: bool = False) -> LightFMModel:
    """Fit LightFM (logistic loss, adagrad) on the observed cells; scores must lie in [0, 1].

    ``reg`` is LightFM's ``user_alpha`` and ``item_alpha``; ``iterations`` its epochs.
    ``prompt_features`` is ``None``, ``"text"`` (TF-IDF of the prompt texts) or a matrix with
    one row per prompt in ``records.prompts`` order; ``identity`` keeps a per-prompt
    embedding next to them.
    """
    from lightfm import LightFM

    m = records.matrix()
    data = m.scores.data
    if data.size and (data.min() < 0 or data.max() > 1):
        raise ValueError(f"lightfm's logistic loss needs scores in [0, 1]; these range over "
                         f"[{data.min():g}, {data.max():g}]: rescale them first")
    labels, weights = weighted_cells(m.scores)
    user_features = _features(records, prompt_features, identity, len(m.prompts))
    lfm = LightFM(no_components=rank, loss="logistic", learning_rate=learning_rate,
                  user_alpha=reg, item_alpha=reg, random_state=np.random.RandomState(seed))
    with progress_bar(iterations, "LightFM epochs", enabled=progress) as bar:
        for _ in range(iterations):
            lfm.fit_partial(labels, user_features=user_features, sample_weight=weights,
                            epochs=1, num_threads=num_threads)
            bar.update(1)
    prompt_bias, prompt_factors = lfm.get_user_representations(user_features)
    model_bias, model_factors = lfm.get_item_representations()
    params = dict(rank=rank, reg=reg, iterations=iterations, learning_rate=learning_rate,
                  seed=seed, num_threads=num_threads,
                  prompt_features=("text" if isinstance(prompt_features, str)
                                   else None if prompt_features is None else "matrix"),
                  identity=identity)
    return LightFMModel(method="lightfm", params=params, prompts=m.prompts, models=m.models,
                        global_mean=0.0, prompt_bias=prompt_bias, model_bias=model_bias,
                        prompt_factors=prompt_factors, model_factors=model_factors,
                        link="logistic")

