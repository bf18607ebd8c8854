"""The ``auto`` router, the default: per task (or cluster), learned routing only where it beat
the group's best model out of fold on the training prompts, else that model.

Learned routers beat a baseline that knows the prompt's task rarely and by little (issue 13:
on three published data sets no learned router beat ``task-best`` at maximum quality), so a
default must not route blindly. ``auto`` generalises the pool sweep's ``NAME+cv`` check
(``evaluation.pools.validation``) from pools to prompt groups and from one router to several:

1. Groups: ``routing.groups.PromptGroups`` (the task label, a text classifier for prompts
   without one; k-means clusters when the records have no task labels).
2. Out of fold: the training prompts are split in ``folds``; each candidate router in
   ``routers`` is refitted on the other folds and predicts the fold's prompts, and each group's
   best model is chosen on the other folds (``groups.group_means``, task-best's rule).
3. Per group, its estimate: the group's mean scores shrunk toward the overall means by
   the weight of ``toward_overall`` whose picks score best out of fold (0: task-best's model,
   1: best-single's; the best model of a small group chosen among many models is a
   maximum of noise, and best-single, chosen on all prompts, can beat it), but only when
   that weight's picks beat task-best's (the smallest weight's) by ``evidence`` standard
   errors, the same paired test as in 4 (``_clears``); a gain within noise keeps task-best's
   model (without that test, shrinking cost 0.2-0.4 points on two MMLU-Pro seeds).
4. Per group, every candidate and shrinkage ``w`` in ``shrinks`` blends the per-prompt
   scores toward the group's estimate, ``(1 - w)·predicted + w·estimate``, and its
   max-quality picks are scored against the group-best picks on the same out-of-fold prompts.
   The best blend is used for the group only when its mean gain clears ``evidence`` standard
   errors (paired, over the group's prompts); otherwise the group falls back to its best model
   (``w = 1``). Ties and thin evidence go to the fallback. ``evidence=2``: the best of the
   ``len(routers) x len(shrinks)`` blends is a maximum, which at 1 standard error passes
   by chance (on 150 prompts where the text says nothing, one prompt's difference did).

The final candidates are refitted on all training prompts (only those some group uses).
``summary()["groups"]`` gives each group's decision with its out-of-fold numbers, and
``explain(texts)`` one line per prompt (``routerrec route --json`` shows it). Costs enter
through the one pick rule (``Router.choose``): a fallback group with a willingness to pay
trades its group-mean scores against cost like the zero router does per group.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..base import dense_observed, register_router
from ..groups import PromptGroups, group_means
from ...util.validate import integer, real, reals
from .base import LearnedRouter
from .ensemble import EnsembleRouter, member_routers

__all__ = ["AutoRouter", "AUTO_CANDIDATES", "AUTO_SHRINKS", "AUTO_TOWARD_OVERALL"]

# candidates by default: the two learned routers cheap enough to refit per fold on ~10k
# prompts (knn 13 s, linear 7 s on MMLU-Pro's training split; lightfm took 203 s, mf 48 s)
AUTO_CANDIDATES = ("knn", "linear")
AUTO_SHRINKS = (0.0, 0.25, 0.5, 0.75)
AUTO_TOWARD_OVERALL = (0.0, 0.5, 1.0)
FALLBACK = -1  # member index of a group that uses its best model


@register_router
class AutoRouter(LearnedRouter):
    """Per group (task or cluster): a learned router's per-prompt scores, shrunk toward the
    group's estimate, where that beat the estimate's best model out of fold by ``evidence``
    standard errors; that model elsewhere. See the module docstring."""

    name = "auto"
    holds_routers = True
    dense_training = True

    def __init__(self, *, routers: Sequence[str] = AUTO_CANDIDATES,
                 router_params: dict | None = None, shrinks: Sequence[float] = AUTO_SHRINKS,
                 toward_overall: Sequence[float] = AUTO_TOWARD_OVERALL, evidence: float = 2.0,
                 folds: int = 5, group_params: dict | None = None,
                 encoder: str = "tfidf", encoder_params: dict | None = None,
                 cost: str = "auto", seed: int = 0):
        super().__init__(encoder=encoder, encoder_params=encoder_params, cost=cost, seed=seed)
        self.routers, self.router_params, self.shrinks = routers, router_params, shrinks
        self.toward_overall = toward_overall
        self.evidence, self.folds, self.group_params = evidence, folds, group_params

    # -- fitting
    def _check_params(self):
        names = list(self.routers)
        allowed = list(member_routers())
        bad = [n for n in names if n not in allowed]
        if bad or not names or len(set(names)) != len(names):
            raise ValueError(f"auto's routers must be distinct learned routers among "
                             f"{', '.join(allowed)}; got {names!r}")
        shrinks = reals("auto's shrinks", self.shrinks, low=0, high=1)
        if not len(shrinks) or shrinks.max() >= 1:
            raise ValueError(f"auto's shrinks must be weights in [0, 1) (1 is the fallback, "
                             f"always tried), got {list(self.shrinks)!r}")
        toward = reals("auto's toward_overall", self.toward_overall, low=0, high=1)
        if not len(toward):
            raise ValueError("auto's toward_overall must hold at least one weight in [0, 1]")
        real("auto's evidence (standard errors)", self.evidence, low=0)
        integer("auto's folds", self.folds, low=2)
        return names, shrinks, toward

    def _ensemble(self, names) -> EnsembleRouter:
        """The fitted candidates live in an ensemble (its members' saving and loading)."""
        ens = EnsembleRouter(routers=tuple(names), router_params=self.router_params,
                             seed=self.seed)
        ens.models_, ens.members_ = self.models_, []
        return ens

    def _fit_features(self, x, m, records):
        names, shrinks, toward = self._check_params()
        self.groups_ = PromptGroups(seed=self.seed, **(self.group_params or {})).fit(records)
        groups = self.groups_.training_groups_  # per prompt of m, as fitted
        n_groups = len(self.groups_.names)
        dense, mask = dense_observed(m)
        t0 = time.perf_counter()
        oof, group_ref, overall_ref = self._out_of_fold(x, m, records, names, groups, n_groups,
                                                        dense, mask)
        truth = np.where(mask, dense, np.nan)
        decisions = [_decide(truth[groups == g], group_ref[groups == g], overall_ref[groups == g],
                             {r: p[groups == g] for r, p in oof.items()}, shrinks, toward,
                             self.evidence)
                     for g in range(n_groups)]
        overall = dense.mean(axis=0)
        means = group_means(dense, mask, groups, n_groups, overall=overall,
                            min_prompts=self.groups_.min_prompts)
        a = np.array([d["toward_overall"] for d in decisions])[:, None]
        self.group_means_ = np.vstack([(1 - a) * means + a * overall, overall]).astype(np.float32)
        used = [n for n in names if any(d["router"] == n for d in decisions)]
        self.members_ = self._ensemble(used)
        if used:
            self.members_._fit_features(x, m, records)
        self.member_of_ = np.array([used.index(d["router"]) if d["router"] else FALLBACK
                                    for d in decisions] + [FALLBACK], dtype=np.int64)
        self.shrink_ = np.array([d["shrink"] for d in decisions] + [1.0], dtype=np.float32)
        for g, d in enumerate(decisions):
            d.update(group=self.groups_.names[g],
                     fallback_model=self.models_[int(np.argmax(self.group_means_[g]))])
        self.decisions_ = decisions
        self.out_of_fold_seconds_ = round(time.perf_counter() - t0, 2)

    def _out_of_fold(self, x, m, records, names, groups, n_groups, dense, mask):
        """Per candidate, its prediction of every training prompt by a fit on the other
        folds; and per prompt, its group's and the overall mean scores on the other folds."""
        n = len(m.prompts)
        fold = np.random.default_rng([self.seed, 13]).permutation(n) % self.folds
        oof = {r: np.zeros((n, len(m.models)), np.float32) for r in names}
        group_ref = np.zeros((n, len(m.models)), np.float32)
        overall_ref = np.zeros((n, len(m.models)), np.float32)
        prompts = np.asarray(m.prompts, dtype=object)
        for f in range(self.folds):
            held, rest = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
            if not len(held):
                continue
            sub = type(m)(scores=m.scores[rest], prompts=list(prompts[rest]), models=m.models,
                          costs=None if m.costs is None else m.costs[rest])
            overall = dense[rest].mean(axis=0)
            means = group_means(dense[rest], mask[rest], groups[rest], n_groups,
                                overall=overall, min_prompts=self.groups_.min_prompts)
            group_ref[held], overall_ref[held] = means[groups[held]], overall
            ens = self._ensemble(names)
            ens._fit_features(x[rest], sub, records.filter(prompts=sub.prompts))
            for r, member in zip(names, ens.members_):
                oof[r][held] = member._predict_features(x[held])
        return oof, group_ref, overall_ref

    # -- predicting
    def _blend(self, features, groups: np.ndarray) -> np.ndarray:
        """Group mean scores, with the learned members' predictions blended in on the
        prompts of the groups that route. ``features(rows)``: those prompts' features,
        computed only for them (a server's prompts in fallback groups skip the encoder)."""
        out = self.group_means_[groups]  # a copy (indexed by an array)
        member = self.member_of_[groups]
        routed = (member != FALLBACK).nonzero()[0]
        if not len(routed):
            return out
        x = features(routed)
        for i, router in enumerate(self.members_.members_):
            rows = np.flatnonzero(member[routed] == i)
            if len(rows):
                at = routed[rows]
                w = self.shrink_[groups[at]][:, None]
                out[at] = (1 - w) * router._predict_features(x[rows]) + w * out[at]
        return out

    def _features_of(self, keys):
        """``features(rows)`` for ``_blend``: the encoder on those of ``keys``."""
        return lambda rows: self.encoder_.transform([keys[i] for i in rows])

    def _scores(self, texts):
        return self._blend(self._features_of(texts), self.groups_.assign_texts(texts))

    def _predict_features(self, x):
        """Features alone name no group: the fallback of prompts in none (best-single)."""
        return self._blend(lambda rows: x[rows], np.full(len(x), FALLBACK))

    def predict_records(self, records, *, models=None):
        """Like every router, but a prompt with a task label is in its task's group (the
        classifier is for prompts without one), as for ``task-best``."""
        cols = self._cols(models)
        keys = self._score_keys(records)
        self._check_output(len(keys), cols)
        return self._blend(self._features_of(keys), self.groups_.assign(records))[:, cols]

    # -- reporting
    def summary(self) -> dict:
        """The base summary plus the grouping and each group's decision with its
        out-of-fold evidence (``groups``)."""
        routed = [d for d in self.decisions_ if d["router"]]
        return {**super().summary(), "grouping": self.groups_.summary(),
                "routed_groups": len(routed),
                "fallback_groups": len(self.decisions_) - len(routed),
                "out_of_fold_seconds": self.out_of_fold_seconds_,
                "groups": [{**d, "reason": _reason(d)} for d in self.decisions_]}

    def explain(self, texts: Sequence[str]) -> list[str]:
        """One sentence per prompt: its group and what ``auto`` does there, and why."""
        self._check_fitted()
        reasons = [_reason(d) for d in self.decisions_]  # assign_texts always finds a group
        return [reasons[g] for g in self.groups_.assign_texts(list(texts))]

    # -- saving (the groups' and the members' state beside the blend)
    def _model_state(self):
        gextra, garrays = self.groups_.state()
        eextra, earrays = self.members_._model_state()
        return ({"groups": gextra, "members": list(self.members_.routers), "ensemble": eextra,
                 "decisions": self.decisions_, "out_of_fold_seconds": self.out_of_fold_seconds_},
                {**{f"g.{k}": v for k, v in garrays.items()},
                 **{f"e.{k}": v for k, v in earrays.items()},
                 "group_means": self.group_means_, "member_of": self.member_of_,
                 "shrink": self.shrink_})

    @classmethod
    def _model_shapes(cls, params, state, n_models):
        g = len(state["groups"]["names"]) + 1
        groups = {f"g.{k}": tuple(f"g.{d}" if isinstance(d, str) else d for d in shape)
                  for k, shape in PromptGroups.saved_shapes(state["groups"]).items()}
        members = EnsembleRouter._model_shapes({"routers": state["members"]}, state["ensemble"],
                                               n_models)
        return {**groups, **{f"e.{k}": v for k, v in members.items()},
                "group_means": (g, n_models), "member_of": (g,), "shrink": (g,)}

    def _save_parts(self, tmp):
        self.members_._save_parts(tmp)

    def _set_model_state(self, extra, arrays, directory):
        self.groups_ = PromptGroups.from_state(
            extra["groups"], {k[2:]: v for k, v in arrays.items() if k.startswith("g.")})
        self.members_ = self._ensemble(extra["members"])
        self.members_._set_model_state(
            extra["ensemble"], {k[2:]: v for k, v in arrays.items() if k.startswith("e.")},
            directory)
        self.group_means_, self.shrink_ = arrays["group_means"], arrays["shrink"]
        self.member_of_ = arrays["member_of"].astype(np.int64)
        if (self.member_of_.min() < FALLBACK or self.member_of_.max() >= len(extra["members"])
                or self.shrink_.min() < 0 or self.shrink_.max() > 1):
            raise ValueError("its member indices or shrink weights are out of range")
        self.decisions_ = list(extra["decisions"])
        if len(self.decisions_) != len(self.groups_.names):
            raise ValueError("it has a decision per group of another grouping")
        self.out_of_fold_seconds_ = extra["out_of_fold_seconds"]
        width = np.zeros((1, self.encoder_.width), np.float32)
        for router in self.members_.members_:  # every member must answer on these features
            if np.shape(router._predict_features(width)) != (1, len(self.models_)):
                raise ValueError("a member's arrays do not fit the router's features and models")


def _max_quality(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """True score of the best-scored model among those with a true score, per prompt."""
    value = np.where(np.isnan(truth), -np.inf, scores)
    return truth[np.arange(len(truth)), value.argmax(axis=1)]


def _clears(gain: np.ndarray, evidence: float) -> tuple[float, float, bool]:
    """Paired mean gain, its standard error, and whether it is positive and above
    ``evidence`` standard errors: the one test for leaving task-best's pick (both for the
    group estimate and for routing). One prompt or none is no evidence."""
    n = len(gain)
    mean = float(gain.mean()) if n else 0.0
    se = float(gain.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return mean, se, bool(n > 1 and mean > 0 and mean > evidence * se)


def _decide(truth, group_ref, overall_ref, predictions: dict, shrinks, toward,
            evidence) -> dict:
    """One group's decision on its out-of-fold prompts: its estimate (the weight toward the
    overall means whose picks score best, used only if it beats the smallest weight's picks,
    task-best's at 0, by ``evidence`` standard errors), then the best (router, shrink) blend
    if it beats the estimate's picks the same way."""
    keep = ~np.isnan(truth).all(axis=1)
    truth, group_ref, overall_ref = truth[keep], group_ref[keep], overall_ref[keep]
    n = len(truth)
    estimates = {float(a): _max_quality(truth, (1 - a) * group_ref + a * overall_ref)
                 for a in sorted(toward)}
    a0 = min(estimates)
    a = max(estimates, key=lambda k: (estimates[k].mean() if n else 0.0, -k))
    toward_mean, toward_se, moved = _clears(estimates[a] - estimates[a0], evidence)
    a = a if moved else a0
    base, reference = estimates[a], (1 - a) * group_ref + a * overall_ref
    out = {"router": None, "shrink": 1.0, "toward_overall": a, "prompts": int(n),
           "fallback_score": float(base.mean()) if n else None,
           "estimates": {f"{k:g}": float(v.mean()) if n else None for k, v in estimates.items()},
           "toward_gain": {"gain": toward_mean,
                           "se": toward_se if np.isfinite(toward_se) else None},
           "tried": {}}
    best = None
    for name, pred in predictions.items():
        pred = pred[keep]
        for w in shrinks:
            mean, se, passed = _clears(
                _max_quality(truth, (1 - w) * pred + w * reference) - base, evidence)
            out["tried"][f"{name}@{w:g}"] = round(mean, 5)
            if best is None or mean > best[0] + 1e-12:
                best = (mean, se, passed, name, float(w))
    mean, se, passed, name, w = best
    out.update(best={"router": name, "shrink": w, "gain": mean,
                     "se": se if np.isfinite(se) else None})
    if passed:
        out.update(router=name, shrink=w)
    return out


def _reason(d: dict) -> str:
    """``group X: learned knn (shrink 0.25), +1.2 points out of fold`` or the fallback."""
    b = d["best"]
    gain = f"{100 * b['gain']:+.1f} points out of fold" + (
        f", se {100 * b['se']:.1f}, {d['prompts']} prompts" if b["se"] is not None else "")
    if d["router"]:
        return f"group {d['group']}: learned {d['router']} (shrink {d['shrink']:g}), {gain}"
    toward = (f", group means {d['toward_overall']:g} of the way to the overall means"
              if d["toward_overall"] else "")
    return (f"group {d['group']}: fallback to model {d['fallback_model']}{toward} "
            f"(best learned {b['router']} {gain})")
