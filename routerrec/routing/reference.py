"""Reference routers: they read the truth of the prompts they route (``oracle``,
``oracle-p`` = RouterEval's r_o(p)) or only training means (``best-single``, ``random``, and
per task or cluster ``task-best``, ``cluster-best``), and are the yardsticks every
evaluation reports next to the learned routers.

They route records like every router, and they also answer on a truth matrix, the
evaluators' view (``truth``: true scores, prompts x candidates; ``costs``: true costs, None
for equal costs; ``train_means``: the candidates' mean training scores).
``pick_probabilities`` is the exact distribution of the router's pick on every prompt:
one-hot for the deterministic routers (``truth_picks``, through ``choose`` like every pick),
uniform for ``random``, ``p·one-hot(oracle) + (1 - p)·uniform`` for ``oracle-p``. The
evaluators report exact expectations under it, never averages of random draws:
``expected_score`` (mean true score of the picks) and ``pick_entropy`` (bits), each in
closed form so that no rounding drift separates them from the distribution they summarise.
"""
from __future__ import annotations

import numpy as np

from .base import Router, dense_observed, register_router, true_matrices
from .cost import check_wtp
from .encoders import encoder_name
from .groups import MIN_GROUP_PROMPTS, PromptGroups, group_means
from ..util.validate import real

__all__ = ["ReferenceRouter", "OracleRouter", "RandomRouter", "BestSingleRouter", "OraclePRouter",
           "GroupBestRouter", "TaskBestRouter", "ClusterBestRouter", "entropy_bits"]


def entropy_bits(prob: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of a probability matrix."""
    p = np.clip(prob, 1e-30, 1.0)
    return -(prob * np.log2(p)).sum(axis=1)


def _uniform(truth: np.ndarray) -> np.ndarray:
    return np.full(truth.shape, 1.0 / truth.shape[1])


def _equal_if_none(costs, truth: np.ndarray) -> np.ndarray:
    """No costs: every candidate costs the same, so ties go to the first one."""
    return np.zeros(truth.shape) if costs is None else costs


class ReferenceRouter(Router):
    """Reference routers ignore ``wtp``: each is one point on a cost-quality plot."""

    reference = True
    dense_training = True
    # True when the picks are random draws: evaluators then read the pick distribution
    # (``pick_probabilities``), as there are no scores the router ranks candidates by
    randomised = False

    def _fit(self, records, m):
        dense, mask = dense_observed(m)
        self.train_means_ = dense.mean(axis=0)

    def choose(self, scores, costs, *, wtp=None, max_cost=None):
        check_wtp(wtp)  # ignored, but a wtp no router could use is refused all the same
        return super().choose(scores, costs, wtp=None, max_cost=max_cost)

    def _score_keys(self, records):
        return records.prompts

    def _cost_keys(self, records):
        return records.text_of(records.prompts)

    def _state(self):
        return {}, {"train_means": self.train_means_}

    @classmethod
    def saved_shapes(cls, params, state, n_models):
        return {"train_means": (n_models,)}

    def _set_state(self, extra, arrays, directory):
        self.train_means_ = arrays["train_means"]

    # -- on a truth matrix (see the module docstring)
    def truth_scores(self, truth, train_means=None) -> np.ndarray:
        """What a deterministic reference router ranks the candidates by, given the truth."""
        raise NotImplementedError(f"{self.name} picks at random: use pick_probabilities")

    def truth_picks(self, truth, costs=None, train_means=None) -> np.ndarray:
        """Column picked for each prompt (row) of ``truth`` by a deterministic reference router."""
        return self.choose(self.truth_scores(truth, train_means), _equal_if_none(costs, truth))

    def pick_probabilities(self, truth, costs=None, train_means=None) -> np.ndarray:
        """Probability that the router picks each candidate (column) for each prompt (row)."""
        prob = np.zeros(truth.shape)
        prob[np.arange(len(truth)), self.truth_picks(truth, costs, train_means)] = 1.0
        return prob

    def expected_score(self, truth, costs=None, train_means=None) -> float:
        """Mean over the prompts of the expected true score of the pick."""
        picks = self.truth_picks(truth, costs, train_means)
        return float(truth[np.arange(len(truth)), picks].mean())

    def pick_entropy(self, truth, costs=None, train_means=None) -> float:
        """Mean over the prompts of the entropy in bits of the pick distribution."""
        return float(entropy_bits(self.pick_probabilities(truth, costs, train_means)).mean())


@register_router
class OracleRouter(ReferenceRouter):
    """Best true score, cheapest (true cost) on ties; unobserved cells are never chosen."""

    name = "oracle"

    def _scores(self, texts):
        raise NotImplementedError("the oracle needs the true scores: use predict_records(records)")

    def predict_records(self, records, *, models=None):
        return true_matrices(records, self.candidates(models))[0]

    def predict_cost_records(self, records, *, models=None):
        cost = true_matrices(records, self.candidates(models))[1]
        guess = super().predict_cost_records(records, models=models)
        return np.where(np.isnan(cost), guess, cost)

    def truth_scores(self, truth, train_means=None):
        return truth

    def truth_picks(self, truth, costs=None, train_means=None, *, wtp=None):
        """Best true score, cheapest on ties; with ``wtp`` RouterBench's oracle curve instead:
        argmax wtp·s − c on the true scores and costs (the base rule: ``choose`` drops wtp,
        as the oracle router is one point)."""
        if wtp is None:
            return super().truth_picks(truth, costs)
        return Router.choose(self, truth, _equal_if_none(costs, truth), wtp=wtp)


@register_router
class RandomRouter(ReferenceRouter):
    """A uniformly random candidate per prompt (seeded, the same draw on every call)."""

    name = "random"
    randomised = True

    def _scores(self, texts):
        return np.random.default_rng(self.seed).random((len(texts), len(self.models_)))

    def pick_probabilities(self, truth, costs=None, train_means=None):
        return _uniform(truth)

    def expected_score(self, truth, costs=None, train_means=None):
        return float(truth.mean())

    def pick_entropy(self, truth, costs=None, train_means=None):
        return float(np.log2(truth.shape[1]))


@register_router
class BestSingleRouter(ReferenceRouter):
    """The candidate with the best mean score on the training records, for every prompt."""

    name = "best-single"

    def _scores(self, texts):
        return np.broadcast_to(self.train_means_, (len(texts), len(self.models_)))

    def truth_scores(self, truth, train_means=None):
        """The training means (one row for every prompt, or one row per prompt)."""
        if train_means is None:
            raise ValueError(f"{self.name} needs the candidates' training means (train_means=)")
        return np.broadcast_to(train_means, truth.shape)


@register_router
class OraclePRouter(OracleRouter):
    """RouterEval's r_o(p): the oracle's pick with probability ``p``, else a random candidate
    (with ``max_cost``, drawn among the candidates within the budget, like the oracle's)."""

    name = "oracle-p"
    randomised = True

    def __init__(self, *, p: float = 0.5, cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        self.p = real("p", p, low=0, high=1)

    def route_records(self, records, *, models=None, wtp=None, max_cost=None):
        oracle = super().route_records(records, models=models, wtp=wtp, max_cost=max_cost)
        names = self.candidates(models)
        rng = np.random.default_rng(self.seed)
        use_oracle = rng.random(len(oracle)) < self.p
        if max_cost is None:
            pick = rng.integers(len(names), size=len(oracle))
        else:  # uniform among those that fit: the best of random scores under the budget
            pick = self.choose(rng.random((len(oracle), len(names))),
                               self.predict_cost_records(records, models=models),
                               max_cost=max_cost)
        return [o if u else names[r] for o, u, r in zip(oracle, use_oracle, pick)]

    def pick_probabilities(self, truth, costs=None, train_means=None):
        return self.p * super().pick_probabilities(truth, costs) + (1 - self.p) * _uniform(truth)

    def expected_score(self, truth, costs=None, train_means=None):
        return self.p * super().expected_score(truth, costs) + (1 - self.p) * float(truth.mean())


class GroupBestRouter(BestSingleRouter):
    """Best-single per group of prompts (``routing.groups.PromptGroups``): each group's model
    with the best mean training score on its prompts; a group with fewer than ``min_prompts``
    training prompts, and a prompt in no group (a task training never saw), get best-single.

    Unlike the other reference routers it honours ``wtp``: its scores are the group's
    training means and its costs the cost model's, so ``choose`` trades them like a learned
    router's (with no wtp: the group's best). On a truth matrix, pass the rows' training
    means (``predict_records``) as ``train_means``. It routes texts too (the group then
    comes from the text alone).
    """

    by = ""

    def __init__(self, *, min_prompts: int = MIN_GROUP_PROMPTS, encoder: str = "tfidf",
                 encoder_params: dict | None = None, cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        self.min_prompts, self.encoder, self.encoder_params = min_prompts, encoder, encoder_params

    def get_params(self) -> dict:
        """The parameters; an encoder function appears as ``"function"`` (as for learned
        routers: ``load_router(dir, encoder=function)`` gives it back)."""
        return {**super().get_params(), "encoder": encoder_name(self.encoder)}

    def _groups(self) -> PromptGroups:
        return PromptGroups(by=self.by, encoder=self.encoder, encoder_params=self.encoder_params,
                            seed=self.seed, min_prompts=self.min_prompts)

    def _fit(self, records, m):
        scores, mask = dense_observed(m)
        self.train_means_ = scores.mean(axis=0)
        self.groups_ = self._groups().fit(records)
        groups = self.groups_.training_groups_
        self.group_means_ = group_means(scores, mask, groups, len(self.groups_.names),
                                        overall=self.train_means_, min_prompts=self.min_prompts)
        self.group_prompts_ = np.bincount(groups, minlength=len(self.groups_.names))

    choose = Router.choose  # trades score for cost at ``wtp`` (see the class docstring)

    def _rows(self, groups: np.ndarray) -> np.ndarray:
        """Each prompt's training means: its group's, best-single's for no group (-1)."""
        return np.vstack([self.group_means_, self.train_means_])[groups]

    def _scores(self, texts):
        return self._rows(self.groups_.assign_texts(texts))

    def predict_records(self, records, *, models=None):
        cols = self._cols(models)
        self._check_output(records.n_prompts, cols)
        return self._rows(self.groups_.assign(records))[:, cols]

    def explain(self, texts) -> list[str]:
        """One sentence per prompt text (``routerrec route`` prints it as ``why``): its group,
        and that group's best model at maximum quality, or why it gets best-single's."""
        self._check_fitted()
        best = self.models_[int(np.argmax(self.train_means_))]
        source = " (classified from the text)" if self.by == "task" else ""
        reasons = []
        for name, n, means in zip(self.groups_.names, self.group_prompts_, self.group_means_):
            label = f"task {name!r}{source}" if self.by == "task" else name
            reasons.append(
                f"{label}: {self.models_[int(np.argmax(means))]}, its best model on {n} "
                "training prompts" if n >= self.min_prompts else
                f"{label}: only {n} training prompts (< {self.min_prompts}), so best-single "
                f"{best}")
        return [reasons[g] for g in self.groups_.assign_texts(list(texts))]

    def summary(self):
        picks = self.group_means_.argmax(axis=1)
        return {**super().summary(), **self.groups_.summary(),
                "best_single": self.models_[int(np.argmax(self.train_means_))],
                "group_best": {g: self.models_[j] for g, j in zip(self.groups_.names, picks)}}

    def _state(self):
        extra, arrays = self.groups_.state()
        return {"groups": extra}, {"train_means": self.train_means_,
                                   "group_means": self.group_means_,
                                   "group_prompts": self.group_prompts_,
                                   **{f"groups.{k}": v for k, v in arrays.items()}}

    @classmethod
    def saved_shapes(cls, params, state, n_models):
        groups = PromptGroups.saved_shapes(state["groups"])
        g = len(state["groups"]["names"])
        return {"train_means": (n_models,), "group_means": (g, n_models), "group_prompts": (g,),
                **{f"groups.{k}": v for k, v in groups.items()}}

    def _set_state(self, extra, arrays, directory):
        self.train_means_, self.group_means_ = arrays["train_means"], arrays["group_means"]
        self.group_prompts_ = arrays["group_prompts"].astype(np.int64)
        self.groups_ = PromptGroups.from_state(
            extra["groups"], {k[7:]: v for k, v in arrays.items() if k.startswith("groups.")},
            function=self.encoder if callable(self.encoder) else None)
        if self.groups_.by_ != self.by:
            raise ValueError(f"{self.name} groups by {self.by}, its state by {self.groups_.by_}")


@register_router
class TaskBestRouter(GroupBestRouter):
    """Each task's best model on its training prompts (the records' benchmark label; for a
    prompt without one, the task a text classifier trained on the labels predicts)."""

    name = "task-best"
    by = "task"


@register_router
class ClusterBestRouter(GroupBestRouter):
    """Each k-means cluster's best model on its training prompts (k chosen on held-out
    training prompts: ``routing.groups.choose_k``); for records without task labels."""

    name = "cluster-best"
    by = "cluster"
