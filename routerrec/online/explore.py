"""Exploration: which model a policy would try per prompt, and the budget that decides whether
the router lets it.

A policy turns the candidates' column posteriors into one *proposal* score per (prompt,
candidate): ``ThompsonPolicy`` a draw of the column from its posterior, ``UCBPolicy`` an
upper confidence bound of the linear predictor, both through the link; ``DirectedPolicy``
a draw of one new model at a time (the *focus*), only while it could still change the
decision on recent prompts and only on prompts where what the call teaches is worth more over
the horizon than the score it gives up (knowledge gradient); ``GreedyPolicy`` none (never
explores). Candidates the router may not explore propose their posterior mean
(``Policy.propose``). The router applies its one pick rule (``routing.cost.choose``) to the
proposals; a pick other than the greedy pick (posterior means) is an *exploring* pick, and
``ExplorationBudget.allows`` accepts it only while

* the running share of explored decisions stays <= ``max_explore_share`` (counted over every
  decision the router made, so the cap holds at every moment, not on average), and
* its expected regret against the greedy pick, in score units, is <= ``max_regret``:
  ``s_greedy - s_pick`` with posterior-mean scores, plus ``(c_pick - c_greedy) / wtp`` when
  a willingness to pay prices score in USD, and its cost difference is <= ``max_regret_usd``
  when that is set.

Policies are pluggable: a ``Policy`` subclass with ``name`` and ``proposals(columns, z,
offset, rng, apply_link)`` works (see ``Policy``); one that needs to know which candidates are
explorable, the recent prompts or how many decisions were made overrides ``propose`` (as
``DirectedPolicy`` does).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from scipy.special import ndtr

from ..util import validate
from .posterior import ColumnPosterior, link_slope

__all__ = ["Policy", "GreedyPolicy", "ThompsonPolicy", "UCBPolicy", "DirectedPolicy",
           "POLICIES", "make_policy", "ExplorationBudget", "record_value", "KG_RECORDS"]


class Policy:
    """A proposal score per (prompt, candidate), or None when the policy never explores.

    ``columns`` are the candidates' ``ColumnPosterior``; ``z`` (n x k1) the prompts' rows
    ``[p, 1]`` and ``offset`` (n) their ``mu + b_prompt``; ``apply_link`` maps linear
    predictors to scores (link and clip of the completion model).
    """

    name = ""
    explores = True  # False: the router skips the explorable test (greedy)

    def proposals(self, columns: Sequence[ColumnPosterior], z: np.ndarray, offset: np.ndarray,
                  rng: np.random.Generator,
                  apply_link: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
        raise NotImplementedError  # pragma: no cover - abstract

    def propose(self, columns, z, offset, rng, apply_link, *, means: np.ndarray,
                explorable: np.ndarray, reference: tuple, routed: int = 0) -> np.ndarray | None:
        """``proposals`` with every candidate the router may not explore (``explorable``
        False) at its posterior mean ``means``; ``reference`` ``(z, offset)`` are the recent
        prompts and ``routed`` the decisions made so far (used by policies that look beyond
        the prompts being routed)."""
        proposal = self.proposals(columns, z, offset, rng, apply_link)
        if proposal is not None:
            proposal[:, ~explorable] = means[:, ~explorable]
        return proposal

    def params(self) -> dict:
        """The constructor's keywords (saved with the router)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.params().items())})"


class GreedyPolicy(Policy):
    """Always the posterior-mean pick: no exploration."""

    name = "greedy"
    explores = False

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
        sds = np.column_stack([_eta_sd(c, z) for c in columns])
        return apply_link(means + self.beta * sds + offset[:, None])

    def params(self) -> dict:
        return {"beta": self.beta}


def _eta_var(column: ColumnPosterior, z: np.ndarray) -> np.ndarray:
    """Posterior variance of ``z . x`` per prompt row (``z' C z``; rounding may leave it
    slightly negative)."""
    return np.einsum("nk,kl,nl->n", z, column.cov, z)


def _eta_sd(column: ColumnPosterior, z: np.ndarray) -> np.ndarray:
    """Posterior standard deviation of ``z . x`` per prompt row."""
    return np.sqrt(np.maximum(_eta_var(column, z), 0.0))


def _expected_gain(sd: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """``E[max(a + sd Z, b)] - max(a, b)`` for ``Z ~ N(0, 1)`` and ``gap = -|a - b|``: what
    a mean moved by ``sd Z`` gains at a decision between ``a`` and ``b``."""
    sd = np.maximum(sd, 1e-12)
    u = gap / sd
    return sd * (u * ndtr(u) + np.exp(-u * u / 2) / np.sqrt(2 * np.pi))


KG_RECORDS = (1, 2, 4, 8, 16, 32, 64, 128)  # KG*: records at a prompt, best gain per record


def record_value(column: ColumnPosterior, z, offset, reference: tuple, rival: np.ndarray,
                 records: Sequence[int] = KG_RECORDS) -> np.ndarray:
    """Per number of records ``m`` in ``records`` (rows) and prompt row of ``z`` (offsets
    ``offset``; columns): the expected gain per record in mean score over the recent prompts
    ``reference`` ``(z_r, offset_r)`` from ``m`` records of ``column`` at that prompt, where
    ``rival`` is the best other candidate's ``z_r . x`` (the knowledge gradient). The records
    move the column's mean at ``r`` by ``N(0, s_r^2)``, ``s_r = |z_r' C z| / sqrt(z' C z + 1
    / (m w))`` (``C`` its covariance, ``w`` a record's weight); each recent decision gains
    ``_expected_gain``, in score units by the link's slope at the rival."""
    z_ref, offset_ref = reference
    moved = np.abs(z @ column.cov @ z_ref.T)                              # prompts x recent
    var = _eta_var(column, z)
    weight = column.record_weights(z, offset)
    gap = -np.abs(z_ref @ column.mean - rival)
    slope = link_slope(column.link, rival + offset_ref)
    return np.array([_expected_gain(moved / np.sqrt(var + 1.0 / (m * weight))[:, None], gap)
                     @ slope / (len(z_ref) * m) for m in records])


class DirectedPolicy(Policy):
    """Explore one new model at a time, where it could beat the greedy pick, and stop once it
    is unlikely to change the decision on recent prompts.

    Per explorable candidate, its *potential* is the mean over the recent prompts of the
    probability (under its posterior) that its linear predictor beats the best posterior
    mean of the other candidates there, counted only on prompts where it is not the greedy
    pick already: the share of recent decisions exploring it could still change. A candidate
    whose potential is below ``stop`` is not explored: the stopping rule, tied to the
    decision (its feedback from greedy picks still moves it, and it is explored again if its
    potential comes back). The *focus* is the unstopped explorable candidate with the most
    feedback records (ties: the higher potential, then candidate order), so one new model is
    learned at a time instead of a few calls to each of many. The focus proposes one draw
    from its posterior (Thompson sampling on the focus alone: tried on a prompt with the
    probability that it beats the greedy pick there, which is where the prompt's row, i.e.
    its task, says it might win) or, with ``beta``, ``link(eta_mean + beta * sd)``; every
    other candidate its posterior mean.

    ``horizon`` (requests over which what is learned is used; ``"past"``: as many as the
    router has routed, the prompts being routed included; None: no such test) keeps the
    focus at its posterior mean on a prompt where trying it is not worth it: ``horizon *
    KG*`` below the score the try gives up against the best other candidate. ``KG*`` is the
    knowledge gradient in the form for information whose value needs several measurements
    (Frazier and Powell, 2010): the largest, over ``m`` records of the focus on that prompt,
    of the expected gain per record in mean score over the recent prompts (``worth``,
    ``record_value``). Many new models on a short stream each get little horizon; one that
    could win a large share of it gets tries.
    """

    name = "directed"

    def __init__(self, stop: float = 0.02, beta: float | None = None,
                 horizon: float | str | None = "past"):
        self.stop = validate.real("directed stop", stop, low=0, high=1)
        self.beta = None if beta is None else validate.real("directed beta", beta, low=0)
        self.horizon = (horizon if horizon is None or horizon == "past" else
                        validate.real("directed horizon ('past', None or requests)", horizon,
                                      low=0))

    def params(self) -> dict:
        return {"stop": self.stop, "beta": self.beta, "horizon": self.horizon}

    def potentials(self, columns, explorable, reference) -> np.ndarray:
        """Per candidate the share of recent prompts on which it could change the decision
        (0 for candidates the router may not explore)."""
        z, _ = reference
        eta = z @ np.array([c.mean for c in columns]).T                  # prompts x candidates
        out = np.zeros(len(columns))
        if len(columns) < 2:
            return out
        top = np.sort(eta, axis=1)
        for j in np.flatnonzero(explorable):
            best = np.where(eta[:, j] >= top[:, -1], top[:, -2], top[:, -1])
            chance = ndtr((eta[:, j] - best) / np.maximum(_eta_sd(columns[j], z), 1e-12))
            out[j] = np.mean(np.where(eta[:, j] < best, chance, 0.0))
        return out

    def focus(self, columns, explorable, reference) -> int | None:
        """The candidate to explore now, or None when every explorable one has stopped."""
        potential = self.potentials(columns, explorable, reference)
        open_ = [j for j in np.flatnonzero(explorable) if potential[j] >= self.stop]
        if not open_:
            return None
        return min(open_, key=lambda j: (-columns[j].n, -potential[j], j))

    def worth(self, columns, j, z, offset, means, reference, routed: int) -> np.ndarray:
        """Per prompt (rows ``z``, offsets ``offset``, posterior-mean scores ``means``),
        whether records of candidate ``j`` there are worth the score a try gives up against
        the best other candidate: ``horizon * KG* >= regret``, ``KG*`` the largest
        ``record_value`` over ``KG_RECORDS``."""
        if self.horizon is None or len(columns) < 2:
            return np.ones(len(z), dtype=bool)
        horizon = routed + len(z) if self.horizon == "past" else self.horizon
        rival = np.delete(reference[0] @ np.array([c.mean for c in columns]).T, j, axis=1)
        kg = record_value(columns[j], z, offset, reference, rival.max(axis=1)).max(axis=0)
        return horizon * kg >= np.delete(means, j, axis=1).max(axis=1) - means[:, j]

    def propose(self, columns, z, offset, rng, apply_link, *, means, explorable, reference,
                routed=0):
        j = self.focus(columns, explorable, reference) if explorable.any() else None
        if j is None:
            return None
        proposal = means.copy()
        if self.beta is None:
            eta = np.einsum("nk,nk->n", z, columns[j].draw(rng, len(z)))
        else:
            eta = z @ columns[j].mean + self.beta * _eta_sd(columns[j], z)
        proposal[:, j] = apply_link((eta + offset)[:, None])[:, 0]
        idle = ~self.worth(columns, j, z, offset, means, reference, routed)
        proposal[idle, j] = means[idle, j]
        return proposal


POLICIES = {p.name: p for p in (ThompsonPolicy, UCBPolicy, DirectedPolicy, GreedyPolicy)}


def make_policy(policy, params: dict | None = None) -> Policy:
    """A policy from its name (``thompson``, ``ucb``, ``directed``, ``greedy``) and its
    keywords ``params`` (``Policy.params``), or a ``Policy`` as it is."""
    if isinstance(policy, Policy):
        return policy
    return POLICIES[validate.choice("policy", policy, sorted(POLICIES))](**(params or {}))


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
