"""Exploration: which model a policy would try per prompt, and the budget that decides whether
the router lets it.

A policy turns the candidates' column posteriors into one *proposal* score per (prompt,
candidate): ``ThompsonPolicy`` a draw of the column from its posterior, ``UCBPolicy`` an
upper confidence bound of the linear predictor, both through the link; ``GreedyPolicy`` none
(never explores). The router applies its one pick rule (``routing.cost.choose``) to the
proposals; a pick other than the greedy pick (posterior means) is an *exploring* pick, and
``ExplorationBudget.allows`` accepts it only while

* the running share of explored decisions stays <= ``max_explore_share`` (counted over every
  decision the router made, so the cap holds at every moment, not on average), and
* its expected regret against the greedy pick, in score units, is <= ``max_regret``:
  ``s_greedy - s_pick`` with posterior-mean scores, plus ``(c_pick - c_greedy) / wtp`` when
  a willingness to pay prices score in USD, and its cost difference is <= ``max_regret_usd``
  when that is set.

Policies are pluggable: any object with ``name`` and ``proposals(columns, z, offset, rng,
apply_link)`` works (see ``Policy``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..util import validate
from .posterior import ColumnPosterior

__all__ = ["Policy", "GreedyPolicy", "ThompsonPolicy", "UCBPolicy", "POLICIES", "make_policy",
           "ExplorationBudget"]


class Policy:
    """A proposal score per (prompt, candidate), or None when the policy never explores.

    ``columns`` are the candidates' ``ColumnPosterior``; ``z`` (n x k1) the prompts' rows
    ``[p, 1]`` and ``offset`` (n) their ``mu + b_prompt``; ``apply_link`` maps linear
    predictors to scores (link and clip of the completion model).
    """

    name = ""

    def proposals(self, columns: Sequence[ColumnPosterior], z: np.ndarray, offset: np.ndarray,
                  rng: np.random.Generator,
                  apply_link: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GreedyPolicy(Policy):
    """Always the posterior-mean pick: no exploration."""

    name = "greedy"

    def proposals(self, columns, z, offset, rng, apply_link):
        return None


class ThompsonPolicy(Policy):
    """Thompson sampling: per prompt, one draw of every candidate's column from its posterior;
    the pick is the best drawn score, so a model is tried in proportion to the probability
    that it is the best one there."""

    name = "thompson"

    def proposals(self, columns, z, offset, rng, apply_link):
        eta = np.column_stack([np.einsum("nk,nk->n", z, c.draw(rng, len(z))) for c in columns])
        return apply_link(eta + offset[:, None])


class UCBPolicy(Policy):
    """Upper confidence bound: ``eta_mean + beta * sd(eta)`` per candidate through the link;
    deterministic, so its exploration goes where the bound is highest."""

    name = "ucb"

    def __init__(self, beta: float = 1.96):
        self.beta = validate.real("UCB beta", beta, low=0)

    def proposals(self, columns, z, offset, rng, apply_link):
        means = np.column_stack([z @ c.mean for c in columns])
        sds = np.column_stack([np.sqrt(np.maximum(np.einsum("nk,kl,nl->n", z, c.cov, z), 0))
                               for c in columns])
        return apply_link(means + self.beta * sds + offset[:, None])

    def __repr__(self) -> str:
        return f"UCBPolicy(beta={self.beta})"


POLICIES = {p.name: p for p in (ThompsonPolicy, UCBPolicy, GreedyPolicy)}


def make_policy(policy) -> Policy:
    """A policy from its name (``thompson``, ``ucb``, ``greedy``) or a ``Policy`` as it is."""
    if isinstance(policy, Policy):
        return policy
    return POLICIES[validate.choice("policy", policy, sorted(POLICIES))]()


class ExplorationBudget:
    """The user's bounds on exploration and the running counts they are checked against."""

    def __init__(self, *, max_explore_share: float = 0.1, max_regret: float = 0.3,
                 max_regret_usd: float | None = None):
        self.max_explore_share = validate.real("max_explore_share", max_explore_share,
                                               low=0, high=1)
        self.max_regret = validate.real("max_regret", max_regret, low=0)
        self.max_regret_usd = (None if max_regret_usd is None else
                               validate.real("max_regret_usd", max_regret_usd, low=0))
        self.decisions = 0
        self.explored = 0

    def regret(self, greedy: tuple[float, float], pick: tuple[float, float],
               wtp: float | None) -> float:
        """Expected regret of ``pick`` vs ``greedy`` (each ``(mean score, cost)``) in score
        units: the score given up, plus the extra cost priced by ``wtp`` when one is set."""
        lost = greedy[0] - pick[0]
        if wtp is not None and wtp > 0:
            lost += (pick[1] - greedy[1]) / wtp
        return float(lost)

    def allows(self, greedy: tuple[float, float], pick: tuple[float, float],
               wtp: float | None) -> bool:
        """Whether an exploring pick fits every bound, counting it as the next decision."""
        if self.explored + 1 > self.max_explore_share * (self.decisions + 1) + 1e-9:
            return False
        if self.regret(greedy, pick, wtp) > self.max_regret:
            return False
        return self.max_regret_usd is None or pick[1] - greedy[1] <= self.max_regret_usd

    def count(self, explored: bool) -> None:
        self.decisions += 1
        self.explored += bool(explored)

    def state(self) -> dict:
        return {"decisions": self.decisions, "explored": self.explored}
