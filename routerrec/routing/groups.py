"""Prompt groups: which task (or cluster) a prompt belongs to, the one home for that question.

Routers that pick per group (``task-best``, ``cluster-best``, and the ``auto`` router) ask it
here, fitted on the training records:

* ``by="task"``: the task is the records' ``benchmark`` label. A prompt without one (a new
  prompt at routing time has only its text) gets the task a text classifier predicts:
  logistic regression on the prompt features of an encoder (``routing.encoders``; by
  default TF-IDF with 256 dimensions, which on MMLU-Pro's 14 categories classifies 76% of
  held-out questions right, against 73% with the routers' 128), trained on the labelled
  training prompts. Its held-out accuracy
  (``classifier_accuracy``: stratified 5-fold cross-validation on the training prompts) is
  reported, because a wrong task means the wrong group's model. A label that training never
  saw is a task of its own: no group (``-1``), and callers fall back to their overall choice.
* ``by="cluster"``: k-means clusters of the prompt features. ``k`` (unless given) is chosen
  by the rule :func:`choose_k` documents: the candidate k whose per-cluster best model scores
  best on held-out training prompts.
* ``by="auto"``: tasks when the training records name at least two, else clusters.

Both kinds assign a prompt by one linear rule, ``argmax(x @ coef.T + intercept)`` over its
features ``x`` (for clusters: the nearest centroid, ``coef = 2c``, ``intercept = -|c|^2``),
so the fitted state is the encoder's arrays plus two arrays, saved without pickle
(``state`` / ``from_state``).
"""
from __future__ import annotations

import numpy as np

from .base import dense_observed
from .encoders import ENCODERS, encoder_from_state, encoder_name, make_encoder
from ..util.validate import choice, integer

__all__ = ["PromptGroups", "group_means", "choose_k", "MIN_GROUP_PROMPTS", "CV_FOLDS"]

# A group needs this many training prompts to get a model of its own; below it, the overall
# best (best-single). The mean of 20 0/1 scores has a standard error near 0.1, already wider
# than the gap between the top models on most tasks: fewer prompts would pick noise.
MIN_GROUP_PROMPTS = 20
CV_FOLDS = 5
MAX_K = 64  # k-means candidates: 1, 2, 4, ... up to this many clusters
DEFAULT_ENCODER_PARAMS = {"tfidf": {"dim": 256}}  # see the module docstring
NO_GROUP = -1


def group_means(scores: np.ndarray, mask: np.ndarray, groups: np.ndarray, n_groups: int, *,
                overall: np.ndarray, min_prompts: int = MIN_GROUP_PROMPTS) -> np.ndarray:
    """``(n_groups, n_models)`` mean observed training score of each model on each group's
    prompts (``scores``, ``mask``: prompts x models; ``groups``: a group per prompt). A model
    observed on fewer than ``min_prompts`` of a group's prompts keeps its ``overall`` mean
    there (among thousands of models, one seen on three prompts, all right, would otherwise
    win the group); a group with fewer than ``min_prompts`` prompts takes the ``overall`` row
    (its best is best-single's)."""
    import scipy.sparse as sp

    n = len(groups)
    onehot = sp.csr_matrix((np.ones(n), (groups, np.arange(n))), shape=(n_groups, n))
    sums = np.asarray(onehot @ np.where(mask, scores, 0.0))
    counts = np.asarray(onehot @ mask.astype(np.float64))
    means = np.where(counts >= min_prompts, sums / np.maximum(counts, 1), overall[None, :])
    small = np.bincount(groups, minlength=n_groups) < min_prompts
    means[small] = overall
    return means


def _folds(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 7]).permutation(n) % CV_FOLDS


def _held_out_score(scores, mask, groups, n_groups, min_prompts, seed) -> float:
    """Mean observed score, on each fold's prompts, of the per-group best model chosen on
    the other folds, among the models observed on the prompt (as the evaluators judge every
    router: on sparse records a model missing from a prompt is neither picked nor scored)."""
    fold = _folds(len(groups), seed)
    total, counted = 0.0, 0
    for f in range(CV_FOLDS):
        fit, held = fold != f, (fold == f) & mask.any(axis=1)
        counts = mask[fit].sum(axis=0)
        overall = np.where(mask[fit], scores[fit], 0).sum(axis=0) / np.maximum(counts, 1)
        means = group_means(scores[fit], mask[fit], groups[fit], n_groups, overall=overall,
                            min_prompts=min_prompts)
        pick = np.where(mask[held], means[groups[held]], -np.inf).argmax(axis=1)
        total += scores[held][np.arange(held.sum()), pick].sum()
        counted += int(held.sum())
    return float(total / max(counted, 1))


def choose_k(x: np.ndarray, scores: np.ndarray, mask: np.ndarray, *, seed: int = 0,
             min_prompts: int = MIN_GROUP_PROMPTS) -> tuple[int, dict, object]:
    """The number of k-means clusters of the features ``x``: among k = 1, 2, 4, ... (at most
    ``MAX_K``, and at most one cluster per ``min_prompts`` prompts), the k whose per-cluster
    best model (``group_means``) has the best mean score on held-out prompts (5-fold
    cross-validation over the training prompts; k-means itself sees no scores, so it is
    fitted once on all of them); ties go to the smaller k. k = 1 is best-single, so the
    chosen k never does worse than best-single on that evidence.
    Returns ``(k, {k: held-out score}, fitted KMeans)``."""
    from sklearn.cluster import KMeans

    ks = [1]
    while ks[-1] * 2 <= min(MAX_K, len(x) // min_prompts):
        ks.append(ks[-1] * 2)
    results, fitted = {}, {}
    for k in ks:
        fitted[k] = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
        coef, intercept = _centroid_rule(fitted[k].cluster_centers_)
        results[k] = _held_out_score(scores, mask, _linear_assign(x, coef, intercept), k,
                                     min_prompts, seed)
    best = max(ks, key=lambda k: (results[k], -k))
    return best, results, fitted[best]


def _centroid_rule(centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest centroid as a linear rule: argmin |x-c|^2 = argmax 2x.c - |c|^2."""
    c = np.asarray(centroids, dtype=np.float64)
    return 2 * c, -(c * c).sum(axis=1)


def _linear_assign(x, coef, intercept) -> np.ndarray:
    from ..kernels.assign import linear_argmax

    return linear_argmax(np.asarray(x), coef, intercept)


class PromptGroups:
    """Which group each prompt is in (see the module docstring). ``fit(records)`` then
    ``assign(records)`` or ``assign_texts(texts)``: a group index per prompt, ``-1`` for a
    task label training never saw; ``names`` the groups' names; ``training_groups_`` the
    group of each training prompt (``records.matrix().prompts`` order), as ``assign`` gives."""

    def __init__(self, *, by: str = "auto", encoder: str = "tfidf",
                 encoder_params: dict | None = None, k: int | None = None, seed: int = 0,
                 min_prompts: int = MIN_GROUP_PROMPTS):
        self.by = choice("groups' by", by, ("auto", "task", "cluster"))
        self.encoder, self.encoder_params = encoder, encoder_params
        self.k = None if k is None else integer("k (clusters)", k, low=1)
        self.seed = integer("seed", seed, low=0)
        self.min_prompts = integer("min_prompts", min_prompts, low=1)

    # -- fitting
    def fit(self, records) -> "PromptGroups":
        """Groups of ``records``' prompts (they need texts: the classifier and the clusters
        read them)."""
        m = records.matrix()
        labels = [records.prompt_benchmark.get(p) for p in m.prompts]
        tasks = sorted({t for t in labels if t is not None})
        by = self.by if self.by != "auto" else ("task" if len(tasks) >= 2 else "cluster")
        if by == "task" and not tasks:
            raise ValueError(f"grouping by task needs task labels, and {records.source} has "
                             "none (no benchmark column): group by cluster (cluster-best)")
        params = (DEFAULT_ENCODER_PARAMS.get(self.encoder, {}) if self.encoder_params is None
                  else self.encoder_params)
        enc = make_encoder(self.encoder, **params)
        if enc.keyed_by != "text":
            raise ValueError(f"prompt groups read texts; the {enc.name!r} encoder reads "
                             "prompt ids: use tfidf or wordllama")
        texts = records.texts_for(m.prompts, "prompt groups read texts")
        self.encoder_ = enc.fit(texts)
        x = enc.transform(texts)
        self.by_, self.k_scores_, self.classifier_accuracy = by, None, None
        if by == "task":
            self.names_ = tasks
            self._fit_classifier(x, labels)
            index = {t: i for i, t in enumerate(tasks)}
            self.training_groups_ = np.array([index[t] if t is not None else NO_GROUP
                                              for t in labels])
            unlabeled = self.training_groups_ < 0
            self.training_groups_[unlabeled] = _linear_assign(x[unlabeled], self.coef_,
                                                              self.intercept_)
        else:
            scores, mask = dense_observed(m)
            if self.k is None:
                k, tried, km = choose_k(x, scores, mask, seed=self.seed,
                                        min_prompts=self.min_prompts)
                self.k_scores_ = {str(k_): v for k_, v in tried.items()}  # JSON keys
            else:
                from sklearn.cluster import KMeans

                k = min(self.k, len(x))
                km = KMeans(n_clusters=k, n_init=1, random_state=self.seed).fit(x)
            self.names_ = [f"cluster {i}" for i in range(k)]
            self.coef_, self.intercept_ = _centroid_rule(km.cluster_centers_)
            self.training_groups_ = _linear_assign(x, self.coef_, self.intercept_)
        return self

    def _fit_classifier(self, x, labels):
        """Logistic regression from features to task on the labelled prompts; its accuracy
        by stratified cross-validation (None when a task has fewer than 2 prompts)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        index = {t: i for i, t in enumerate(self.names_)}
        rows = np.array([t is not None for t in labels])
        y = np.array([index[t] for t in labels if t is not None])
        width = x.shape[1]
        if len(self.names_) == 1:
            self.coef_, self.intercept_ = np.zeros((1, width)), np.zeros(1)
            return

        def model():
            return LogisticRegression(C=1.0, max_iter=500)

        fitted = model().fit(x[rows], y)
        coef, intercept = fitted.coef_, fitted.intercept_
        if len(self.names_) == 2:  # binary: p(class 1) = sigmoid(w.x + b), i.e. argmax [0, w.x + b]
            coef, intercept = np.vstack([np.zeros(width), coef[0]]), np.array([0.0, intercept[0]])
        self.coef_, self.intercept_ = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        folds = min(CV_FOLDS, int(np.bincount(y).min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            self.classifier_accuracy = float(cross_val_score(model(), x[rows], y, cv=cv).mean())

    # -- assigning
    @property
    def names(self) -> list[str]:
        """The groups' names (tasks, or ``cluster i``), in group-index order."""
        self._check_fitted()
        return list(self.names_)

    def _check_fitted(self):
        if not hasattr(self, "names_"):
            raise RuntimeError("PromptGroups is not fitted: call fit(records) first")

    def assign_texts(self, texts) -> np.ndarray:
        """The group of each prompt text (the classifier's task, or the nearest cluster)."""
        self._check_fitted()
        if not len(texts):
            return np.zeros(0, dtype=np.int64)
        return _linear_assign(self.encoder_.transform(texts), self.coef_, self.intercept_)

    def assign(self, records) -> np.ndarray:
        """The group of each of ``records.prompts``: by task, its label when it has one (``-1``
        for a task training never saw), else the classifier's; by cluster, its text's."""
        self._check_fitted()
        prompts = records.prompts
        if self.by_ == "cluster":
            return self.assign_texts(records.texts_for(prompts, "prompt groups read texts"))
        index = {t: i for i, t in enumerate(self.names_)}
        labels = [records.prompt_benchmark.get(p) for p in prompts]
        out = np.array([NO_GROUP if t is None else index.get(t, NO_GROUP) for t in labels],
                       dtype=np.int64)
        unlabeled = [i for i, t in enumerate(labels) if t is None]
        if unlabeled:
            out[unlabeled] = self.assign_texts(records.texts_for(
                [prompts[i] for i in unlabeled], "prompt groups read texts"))
        return out

    def summary(self) -> dict:
        """What a report says: how prompts are grouped, the groups, the classifier's
        held-out accuracy (tasks) or the held-out score of each k tried (clusters)."""
        self._check_fitted()
        return {"by": self.by_, "groups": self.names, "classifier_accuracy": self.classifier_accuracy,
                "k_scores": self.k_scores_}

    # -- saving (no pickle: a dict for the manifest, arrays for arrays.npz)
    def params(self) -> dict:
        return dict(by=self.by, encoder=encoder_name(self.encoder), encoder_params=self.encoder_params,
                    k=self.k, seed=self.seed, min_prompts=self.min_prompts)

    def state(self) -> tuple[dict, dict]:
        self._check_fitted()
        params, arrays = self.encoder_.state()
        extra = {"params": self.params(), "by": self.by_, "names": self.names_,
                 "classifier_accuracy": self.classifier_accuracy,
                 "k_scores": self.k_scores_,
                 "encoder": {"name": self.encoder_.name, "params": params}}
        return extra, {**{f"enc.{k}": v for k, v in arrays.items()},
                       "coef": self.coef_, "intercept": self.intercept_}

    @staticmethod
    def saved_shapes(extra: dict) -> dict:
        """The shapes ``state`` saves, from its dict (checked before any array is read)."""
        enc = extra["encoder"]
        g = len(extra["names"])
        return {**{f"enc.{k}": v for k, v in ENCODERS[enc["name"]].saved_shapes(enc["params"]).items()},
                "coef": (g, "features"), "intercept": (g,)}

    @classmethod
    def from_state(cls, extra: dict, arrays: dict, *, function=None) -> "PromptGroups":
        """``function``: the encoder function the groups were fitted with (code is not saved)."""
        params = extra["params"]
        groups = cls(**(params if function is None else {**params, "encoder": function}))
        if extra["by"] not in ("task", "cluster"):
            raise ValueError(f"unknown grouping {extra['by']!r}")
        groups.by_, groups.names_ = extra["by"], [str(n) for n in extra["names"]]
        groups.classifier_accuracy = extra["classifier_accuracy"]
        ks = extra["k_scores"]
        groups.k_scores_ = None if ks is None else {str(k): float(v) for k, v in ks.items()}
        enc = extra["encoder"]
        groups.encoder_ = encoder_from_state(enc["name"], enc["params"], {
            k[4:]: v for k, v in arrays.items() if k.startswith("enc.")}, function=function)
        groups.coef_, groups.intercept_ = arrays["coef"], arrays["intercept"]
        if groups.coef_.shape[1] != groups.encoder_.width:
            raise ValueError(f"the groups' rule reads {groups.coef_.shape[1]} features, its "
                             f"encoder gives {groups.encoder_.width}")
        return groups
