"""Neighbourhood collaborative filtering with shrunk, baseline-centred similarities.

Explicit semantics: only observed cells count. With baselines ``b_ui = mu + b_u + b_i``
(regularised means) and residuals ``r_ui - b_ui``, the similarity of two columns is the
Pearson-baseline correlation over the rows both observed, shrunk by ``n / (n + shrink)`` so
that a correlation measured on three prompts does not outrank one measured on three
hundred. A cell is predicted as ``b_ui + sum_j s_ij (r_uj - b_uj) / sum_j |s_ij|`` over the
``k`` most similar columns (positive similarity only) that its row observed.

``kind="model"`` (default) compares models (item-based: a prompt's score on model i is
read off the models most like i that answered it); ``kind="prompt"`` compares prompts.
Not a factor model: ``KNNModel`` keeps the residuals and the similarity matrix (dense,
columns x columns) and implements the same public contract as ``Model``.
"""
from __future__ import annotations

from functools import cached_property

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from ..util.progress import progress_bar
from .model import Model
from .registry import count, number, one_of, register_method, register_model_kind

__all__ = ["fit", "KNNModel", "DEFAULTS", "PARAMS"]

DEFAULTS = dict(kind="model", k=40, shrink=100.0, reg=5.0)
_KINDS = ("model", "prompt")
PARAMS = dict(kind=one_of(*_KINDS), k=count(1), shrink=number(0), reg=number(0))
_BLOCK = 4096  # rows per dense block when accumulating similarity statistics
_COLS = 1024  # columns compared per pass
_BASELINE_SWEEPS = 5


def _baselines(csr, reg, mu):
    """Regularised row and column biases of a rows x columns CSR (alternating shrunk means)."""
    counts_r, counts_c = np.diff(csr.indptr), np.bincount(csr.indices, minlength=csr.shape[1])
    rows = np.repeat(np.arange(csr.shape[0]), counts_r)
    b_r, b_c = np.zeros(csr.shape[0]), np.zeros(csr.shape[1])
    for _ in range(_BASELINE_SWEEPS):
        b_c = np.bincount(csr.indices, csr.data - mu - b_r[rows], csr.shape[1]) / (reg + counts_c)
        b_r = np.bincount(rows, csr.data - mu - b_c[csr.indices], csr.shape[0]) / (reg + counts_r)
    return b_r, b_c


def _similarity(res, cols_new, shrink):
    """Shrunk Pearson-baseline similarity between the columns ``cols_new`` (a dense block,
    rows x m) and every column of the residual CSR ``res`` (rows x n), over co-observed rows.

    ``cols_new`` holds NaN where a row did not observe the column. Returns m x n float32.
    """
    n_rows, n = res.shape
    m = cols_new.shape[1]
    num, sq_new, sq_old, both = (np.zeros((m, n)) for _ in range(4))
    for s in range(0, n_rows, _BLOCK):
        block = res[s:s + _BLOCK]
        r_old = block.toarray()
        m_old = np.zeros_like(r_old)
        m_old[np.repeat(np.arange(block.shape[0]), np.diff(block.indptr)), block.indices] = 1.0
        new = cols_new[s:s + _BLOCK]
        m_new = (~np.isnan(new)).astype(np.float64)
        r_new = np.nan_to_num(new)
        num += r_new.T @ r_old
        sq_new += (r_new ** 2).T @ m_old
        sq_old += m_new.T @ r_old ** 2
        both += m_new.T @ m_old
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = num / np.sqrt(sq_new * sq_old) * (both / (both + shrink))
    return np.nan_to_num(sim, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@njit(cache=True, parallel=True)
def _predict_groups(group_start, users, items, out_pos, indptr, indices, data, sim, order, k,
                    n_items, out, n_chunks):
    """For pairs sorted by user (``group_start`` delimits users), the neighbourhood term.
    Users are dealt round-robin to ``n_chunks`` tasks; each pair's result depends only on
    its own user's data, so it does not depend on the thread count."""
    n_groups = group_start.shape[0] - 1
    for c in prange(n_chunks):
        scratch = np.full(n_items, np.nan, dtype=np.float32)
        for g in range(c, n_groups, n_chunks):
            u = users[group_start[g]]
            for jj in range(indptr[u], indptr[u + 1]):
                scratch[indices[jj]] = data[jj]
            for t in range(group_start[g], group_start[g + 1]):
                i = items[t]
                num = 0.0
                den = 0.0
                found = 0
                row = order[i]
                for w in range(row.shape[0]):
                    j = row[w]
                    s = sim[i, j]
                    if s <= 0.0 or found == k:
                        break
                    r = scratch[j]
                    if r == r:  # observed (not NaN)
                        num += s * r
                        den += s
                        found += 1
                out[out_pos[t]] = num / den if den > 0.0 else 0.0
            for jj in range(indptr[u], indptr[u + 1]):
                scratch[indices[jj]] = np.nan


@register_model_kind
class KNNModel(Model):
    """A fitted neighbourhood model with ``Model``'s contract (predict, fold-in, save).

    Parameters beyond ``Model``'s: ``residuals`` (a CSR of observed ``r - baseline``, rows =
    the side without similarities, columns = the side with them) and ``similarity``
    (columns x columns). ``params["kind"]`` says which side the columns are.
    """

    kind = "knn"

    def __init__(self, *, residuals, similarity, **state):
        state.update(prompt_factors=np.zeros((len(state["prompts"]), 0), np.float32),
                     model_factors=np.zeros((len(state["models"]), 0), np.float32))
        super().__init__(**state)
        self.residuals = sp.csr_matrix(residuals, dtype=np.float32)
        self.similarity = np.ascontiguousarray(similarity, dtype=np.float32)
        n_rows, n_cols = ((len(self.prompts), len(self.models)) if self.by_model
                          else (len(self.models), len(self.prompts)))
        if self.residuals.shape != (n_rows, n_cols) or self.similarity.shape != (n_cols, n_cols):
            raise ValueError(f"residuals {self.residuals.shape} / similarity "
                             f"{self.similarity.shape} do not match {len(self.prompts)} "
                             f"prompts x {len(self.models)} models")

    @staticmethod
    def _saved_grid(manifest) -> tuple[int, int]:
        """(rows, columns) of the saved residuals: columns are the side with similarities."""
        n_p, n_m = len(manifest["prompts"]), len(manifest["models"])
        return (n_p, n_m) if manifest["params"]["kind"] == "model" else (n_m, n_p)

    @classmethod
    def check_manifest(cls, manifest) -> None:
        super().check_manifest(manifest)
        for key in DEFAULTS:  # predict and fold-in read all four
            if key not in manifest["params"]:
                raise ValueError(f"params must hold the knn parameter {key!r}")

    @classmethod
    def saved_shapes(cls, manifest) -> dict:
        n_rows, n_cols = cls._saved_grid(manifest)
        return {**super().saved_shapes(manifest), "res_indptr": (n_rows + 1,),
                "res_indices": ("nnz",), "res_data": ("nnz",), "similarity": (n_cols, n_cols)}

    @classmethod
    def from_saved(cls, manifest, arrays, **extra) -> "KNNModel":
        """``Model.from_saved`` plus the residuals and similarities (read without pickle);
        the residuals' index arrays are checked in full (they index memory in numba)."""
        residuals = sp.csr_matrix(
            (arrays["res_data"], arrays["res_indices"], arrays["res_indptr"]),
            shape=cls._saved_grid(manifest))
        try:
            residuals.check_format(full_check=True)
        except ValueError as exc:
            raise ValueError(f"res_indptr and res_indices are not a valid sparse matrix "
                             f"({exc})") from None
        return super().from_saved(manifest, arrays, residuals=residuals,
                                  similarity=arrays["similarity"], **extra)

    @property
    def by_model(self) -> bool:
        return self.params["kind"] == "model"

    @cached_property
    def _order(self) -> np.ndarray:
        """Each column's other columns, most similar first (self last)."""
        sim = self.similarity.copy()
        np.fill_diagonal(sim, -np.inf)
        return np.argsort(-sim, axis=1, kind="stable").astype(np.int32)

    # ----------------------------------------------------------- prediction
    def predict(self, prompts=None, models=None) -> np.ndarray:
        pi, mi = self.prompt_indices(prompts), self.model_indices(models)
        self.check_grid(len(pi), len(mi), 64, "predicting")  # int64 pair indices, sorts, sums
        grid_p, grid_m = np.meshgrid(pi, mi, indexing="ij")
        return self.predict_pairs(grid_p.ravel(), grid_m.ravel()).reshape(len(pi), len(mi))

    def predict_pairs(self, prompt_idx, model_idx, chunk: int = 1 << 20) -> np.ndarray:
        prompt_idx = np.asarray(prompt_idx, dtype=np.int64)
        model_idx = np.asarray(model_idx, dtype=np.int64)
        users, items = (prompt_idx, model_idx) if self.by_model else (model_idx, prompt_idx)
        order = np.argsort(users, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(users[order]) != 0]) if len(order) else []
        group_start = np.r_[starts, len(order)].astype(np.int64)
        neigh = np.zeros(len(users), dtype=np.float64)
        res = self.residuals
        _predict_groups(group_start, users[order].astype(np.int64),
                        items[order].astype(np.int64), order.astype(np.int64),
                        res.indptr.astype(np.int64), res.indices.astype(np.int64), res.data,
                        self.similarity, self._order, int(self.params["k"]), res.shape[1],
                        neigh, max(1, min(len(group_start) - 1, 8 * numba.get_num_threads())))
        linear = (self.global_mean + self.prompt_bias[prompt_idx] + self.model_bias[model_idx]
                  + neigh)
        return self.apply_link(linear)

    # -------------------------------------------------------------- fold-in
    def add_model(self, name, results) -> "KNNModel":
        """A new model from ``{prompt id: score}``: its baseline, and (kind="model") its
        similarity to every model, or (kind="prompt") its residual row. No refit."""
        self.new_id("model", name)
        idx, vals = self._fold_values(results, "model")
        resid = vals - self.global_mean - self.prompt_bias[idx]
        bias = resid.sum() / (self.params["reg"] + len(idx))
        return self._grow(idx, resid - bias, new_is_column=self.by_model,
                          models=self.models + [name],
                          model_bias=np.append(self.model_bias, bias))

    def add_prompt(self, prompt, results) -> "KNNModel":
        """A new prompt from ``{model id: score}`` (see ``add_model``)."""
        self.new_id("prompt", prompt)
        idx, vals = self._fold_values(results, "prompt")
        resid = vals - self.global_mean - self.model_bias[idx]
        bias = resid.sum() / (self.params["reg"] + len(idx))
        return self._grow(idx, resid - bias, new_is_column=not self.by_model,
                          prompts=self.prompts + [prompt],
                          prompt_benchmark=self.prompt_benchmark + [None],
                          prompt_bias=np.append(self.prompt_bias, bias))

    def _grow(self, idx, resid, *, new_is_column, **changes) -> "KNNModel":
        res = self.residuals
        order = np.argsort(idx)
        idx, resid = idx[order], resid[order]
        if new_is_column:  # a new column: residuals grow by one column, similarity by one row+col
            col = np.full((res.shape[0], 1), np.nan)
            col[idx, 0] = resid
            s = _similarity(res, col, self.params["shrink"])[0]
            sim = np.zeros((res.shape[1] + 1,) * 2, np.float32)
            sim[:-1, :-1], sim[-1, :-1], sim[:-1, -1] = self.similarity, s, s
            new_res = sp.hstack([res, sp.csr_matrix((resid, (idx, np.zeros_like(idx))),
                                                    shape=(res.shape[0], 1))]).tocsr()
        else:  # a new row: similarities are kept (they were measured on the training rows)
            sim = self.similarity
            new_res = sp.vstack([res, sp.csr_matrix((resid, (np.zeros_like(idx), idx)),
                                                    shape=(1, res.shape[1]))]).tocsr()
        return self._with(residuals=new_res, similarity=sim, **changes)

    def _with(self, **changes) -> "KNNModel":
        changes.setdefault("residuals", self.residuals)
        changes.setdefault("similarity", self.similarity)
        return super()._with(**changes)

    def add_model_row(self, name, factors, bias):
        raise NotImplementedError("a knn model has no factor rows: add a model with add_model")

    # ---------------------------------------------------------- persistence
    def arrays(self) -> dict:
        res = self.residuals
        return {**super().arrays(), "res_indptr": res.indptr, "res_indices": res.indices,
                "res_data": res.data, "similarity": self.similarity}


def memory(n_prompts: int, n_models: int, n_records: int, params: dict) -> tuple[int, str]:
    """Bytes of a knn fit and its first prediction: the dense columns x columns similarity
    (float32, and the neighbour order sorted from a copy of it), the dense column blocks
    and statistics ``_column_similarity`` builds, and copies of the residuals."""
    by_model = params["kind"] == "model"
    n_cols, n_rows = (n_models, n_prompts) if by_model else (n_prompts, n_models)
    m = min(_COLS, n_cols)
    nbytes = (20 * n_cols * n_cols + 8 * 3 * n_rows * m + 24 * min(_BLOCK, n_rows) * n_cols
              + 48 * m * n_cols + 40 * n_records)
    cols = "models" if by_model else "prompts"
    advice = ("knn compares every pair of the " + f"{n_cols:,} {cols}; " +
              ("fit on fewer models" if by_model else "use kind='model' (it compares models)")
              + ", or use a factor method such as als")
    return nbytes, advice


@register_method("knn", params=PARAMS, memory=memory)
def fit(records, *, kind: str = DEFAULTS["kind"], k: int = DEFAULTS["k"],
        shrink: float = DEFAULTS["shrink"], reg: float = DEFAULTS["reg"],
        progress: bool = False) -> KNNModel:
    """Fit neighbourhood CF: baselines, residuals and shrunk column similarities.

    ``k`` neighbours per prediction, ``shrink`` the similarity shrinkage (in co-observed
    rows), ``reg`` the baselines' regularisation (in observations).
    """
    m = records.matrix()
    csr = m.scores.astype(np.float64)
    mu = float(csr.data.mean()) if csr.nnz else 0.0
    b_p, b_m = _baselines(csr, reg, mu)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    res = sp.csr_matrix((csr.data - mu - b_p[rows] - b_m[csr.indices], csr.indices,
                         csr.indptr), shape=csr.shape)
    if kind == "prompt":
        res = res.T.tocsr()
    sim = _column_similarity(res, shrink, progress)
    data = m.scores.data
    return KNNModel(method="knn", params=dict(kind=kind, k=k, shrink=shrink, reg=reg),
                    prompts=m.prompts, models=m.models, global_mean=mu, prompt_bias=b_p,
                    model_bias=b_m, residuals=res, similarity=sim,
                    clip=(float(data.min()), float(data.max())) if len(data) else None)


def _column_similarity(res, shrink, progress):
    """All columns against all columns, in blocks of ``_COLS`` columns to bound memory."""
    n = res.shape[1]
    sim = np.empty((n, n), np.float32)
    csc = res.tocsc()
    with progress_bar(n, "knn similarities", enabled=progress, unit="column") as bar:
        for s in range(0, n, _COLS):
            coo = csc[:, s:s + _COLS].tocoo()
            cols = np.full((res.shape[0], min(_COLS, n - s)), np.nan)
            cols[coo.row, coo.col] = coo.data
            sim[s:s + _COLS] = _similarity(res, cols, shrink)
            bar.update(cols.shape[1])
    np.fill_diagonal(sim, 0.0)
    return sim
