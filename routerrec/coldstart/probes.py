"""Which prompts to run a new LLM on before folding it in.

A new model's row is solved from its answers on a few probe prompts (``Model.add_model``,
``routerrec.fold_in_model``).
Which probes to ask is a design-of-experiments question over the fitted prompt vectors
``y_i = [p_i, 1]`` and the population prior of model vectors (mean ``m0``, covariance
``S0`` of the trained models' ``[q, b]``):

- ``random``: uniform, the baseline; ``stratified``: per benchmark, ``allocation=
  "proportional"`` or ``"equal"``.
- ``dopt``: greedy Bayesian D-optimal design, maximising ``log det(S0^-1 + sum y y^T / s2)``.
- ``info``: the items of largest Fisher information of the (logistic) IRT model at the
  population's average model, ``p(1-p) y^T S0 y``, as classical test assembly does.
- ``anchors``: k-means of the prompt vectors per benchmark; each cluster's medoid, weighted
  by its cluster's size (tinyBenchmarks' anchor points, ``anchor_points``).
- ``adaptive`` (``ProbeSession``): after each answer, the next probe is the one that most
  reduces the variance of the per-benchmark accuracy estimates at the current estimate of
  the model (computerized adaptive testing aimed at the quantity reported); it stops at a
  budget or when every interval is narrower than a target. As a fixed list (``select_probes``)
  it is the same criterion at the population mean with no answers yet.

Costs (``costs={prompt: USD}``, ``cost_weight`` w) make cheaper prompts preferred: greedy
gains are divided by ``cost^w``, random draws weighted by ``cost^-w``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..methods.registry import LINKS
from ..util import validate
from .design import BatchState, Design, fitted_model
from .foldin import FoldInResult, fold_in_model

__all__ = ["STRATEGIES", "ADAPTIVE_MIN_MODELS", "default_strategy", "select_probes",
           "anchor_points", "ProbeSession"]

STRATEGIES = ("random", "stratified", "dopt", "info", "anchors", "adaptive")
ADAPTIVE_MIN_MODELS = 40


def default_strategy(model) -> str:
    """The strategy a user gets without choosing: ``adaptive`` for a model fitted on at
    least ``ADAPTIVE_MIN_MODELS`` models, else ``stratified``. With fewer, the prompt
    vectors are too rough for a design built on them to beat random probes spread over
    the benchmarks (benchmarks/bench_coldstart_sizes.py; docs/coldstart.md, Defaults)."""
    return "adaptive" if len(fitted_model(model).models) >= ADAPTIVE_MIN_MODELS else "stratified"


def _candidates(model, benchmarks, exclude) -> np.ndarray:
    mask = np.ones(len(fitted_model(model).prompts), dtype=bool)
    if benchmarks is not None:
        wanted = set([benchmarks] if isinstance(benchmarks, str) else benchmarks)
        unknown = wanted - set(model.prompt_benchmark)
        if unknown:
            raise ValueError(f"unknown benchmark(s) {sorted(unknown)!r}; the model has "
                             f"{sorted({b for b in model.prompt_benchmark if b is not None})!r}")
        mask &= np.array([b in wanted for b in model.prompt_benchmark])
    if exclude is not None:
        mask[model.prompt_indices([e for e in exclude if model.has_prompt(e)])] = False
    return mask


def _cost_array(model, costs, cost_weight) -> np.ndarray:
    cost_weight = validate.real("cost_weight", cost_weight, low=0)
    if costs is None:
        return np.ones(len(model.prompts))
    if not isinstance(costs, Mapping):
        raise TypeError(f"costs must be a dict {{prompt id: cost}}, got {type(costs).__name__}")
    c = np.array([float(costs.get(p, np.nan)) for p in model.prompts])
    known = c[np.isfinite(c) & (c > 0)]
    fill = np.median(known) if known.size else 1.0
    c = np.where(np.isfinite(c) & (c > 0), c, fill)
    return (c / fill) ** cost_weight


def _allocate(k: int, sizes: np.ndarray, allocation: str) -> np.ndarray:
    """Split ``k`` probes over groups of ``sizes`` (largest remainders), none above its size."""
    share = sizes / sizes.sum() if allocation == "proportional" else (sizes > 0) / (sizes > 0).sum()
    raw = k * share
    out = np.minimum(np.floor(raw).astype(np.int64), sizes)
    while out.sum() < min(k, sizes.sum()):
        room = out < sizes
        out[np.flatnonzero(room)[np.argmax((raw - out)[room])]] += 1
    return out


def _weighted_draw(rng, pool: np.ndarray, n: int, cost: np.ndarray) -> np.ndarray:
    w = 1.0 / cost[pool]
    return rng.choice(pool, n, replace=False, p=w / w.sum())


def _greedy_dopt(design: Design, cand: np.ndarray, k: int, cost: np.ndarray) -> list[int]:
    """Greedy D-optimal: the next item maximises y^T S y / s2 (log det gain), S the posterior."""
    Y = design.Y
    S = design.prior_cov.copy()
    chosen = []
    avail = cand.copy()
    for _ in range(k):
        d = np.einsum("ij,jk,ik->i", Y, S, Y)
        gain = np.where(avail, np.log1p(d / design.noise_var) / cost, -np.inf)
        j = int(np.argmax(gain))
        chosen.append(j)
        avail[j] = False
        v = S @ Y[j]
        S -= np.outer(v, v) / (design.noise_var + Y[j] @ v)
    return chosen


def _info(design: Design, cand: np.ndarray, k: int, cost: np.ndarray) -> list[int]:
    lin = design.Y @ design.prior_mean + design.offset
    p = LINKS["logistic"].inverse(lin) if design.link == "logistic" else np.clip(lin, 0.0, 1.0)
    p = np.clip(p, 0.01, 0.99) if design.bounded else np.full_like(lin, 0.25)
    info = p * (1 - p) * np.einsum("ij,jk,ik->i", design.Y, design.prior_cov, design.Y)
    score = np.where(cand, info / cost, -np.inf)
    return [int(i) for i in np.argsort(-score, kind="stable")[:k]]


def anchor_points(model, k: int, *, benchmarks=None, exclude=None, seed: int = 0,
                  costs: Mapping[str, float] | None = None, cost_weight: float = 1.0
                  ) -> tuple[list[str], np.ndarray]:
    """``k`` anchor prompts (cluster medoids of the prompt vectors, per benchmark,
    proportional allocation) and their weights (cluster size / benchmark size)."""
    from sklearn.cluster import KMeans

    k = validate.integer("k", k, low=1)
    design = Design(model)
    cand = _candidates(model, benchmarks, exclude)
    cost = _cost_array(model, costs, cost_weight)
    groups = np.where(cand, design.groups, -1)
    names = np.unique(groups[groups >= 0])
    sizes = np.array([(groups == g).sum() for g in names])
    ids, weights = [], []
    for g, n in zip(names, _allocate(k, sizes, "proportional")):
        if n == 0:
            continue
        pool = np.flatnonzero(groups == g)
        X = design.Y[pool, :-1]
        km = KMeans(n_clusters=int(n), n_init=3, random_state=seed).fit(X)
        for c in range(int(n)):
            members = pool[km.labels_ == c]
            if members.size == 0:
                continue
            dist = np.linalg.norm(design.Y[members, :-1] - km.cluster_centers_[c], axis=1)
            ids.append(int(members[np.argmin(dist * cost[members])]))
            weights.append(members.size / pool.size)
    return [model.prompts[i] for i in ids], np.asarray(weights)


def select_probes(model, k: int, *, strategy: str | None = None, benchmarks=None, exclude=None,
                  seed: int = 0, allocation: str = "proportional",
                  costs: Mapping[str, float] | None = None,
                  cost_weight: float = 1.0) -> list[str]:
    """``k`` prompt ids to evaluate a new LLM on (see the module docstring for strategies).

    ``strategy`` None is ``default_strategy(model)``. ``benchmarks`` restricts the
    candidates to those benchmarks, ``exclude`` removes prompt ids (e.g. ones already
    answered); ``seed`` drives ``random``, ``stratified`` and ``anchors``.
    """
    strategy = default_strategy(model) if strategy is None else strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    if allocation not in ("proportional", "equal"):
        raise ValueError(f"allocation must be 'proportional' or 'equal', not {allocation!r}")
    k, seed = validate.integer("k", k, low=1), validate.integer("seed", seed, low=0)
    cand = _candidates(model, benchmarks, exclude)
    if k > cand.sum():
        raise ValueError(f"k={k}: choose between 1 and the {int(cand.sum())} candidate prompts")
    cost = _cost_array(model, costs, cost_weight)
    rng = np.random.default_rng(seed)
    if strategy == "random":
        idx = _weighted_draw(rng, np.flatnonzero(cand), k, cost)
    elif strategy == "stratified":
        groups = np.unique(np.asarray(model.prompt_benchmark, dtype=str), return_inverse=True)[1]
        names = np.unique(groups[cand])
        sizes = np.array([(cand & (groups == g)).sum() for g in names])
        idx = np.concatenate([_weighted_draw(rng, np.flatnonzero(cand & (groups == g)), n, cost)
                              for g, n in zip(names, _allocate(k, sizes, allocation))])
    elif strategy == "anchors":
        return anchor_points(model, k, benchmarks=benchmarks, exclude=exclude, seed=seed,
                             costs=costs, cost_weight=cost_weight)[0]
    elif strategy == "dopt":
        idx = _greedy_dopt(Design(model), cand, k, cost)
    elif strategy == "info":
        idx = _info(Design(model), cand, k, cost)
    else:  # adaptive before any answer: the session's criterion at the population mean
        session = ProbeSession(model, budget=k, benchmarks=benchmarks, exclude=exclude,
                               costs=costs, cost_weight=cost_weight)
        idx = session.state.plan(k)
    return [model.prompts[int(i)] for i in idx]


class ProbeSession:
    """Computerized adaptive probing of one new LLM.

    >>> session = ProbeSession(model, budget=50, target_width=0.05)   # doctest: +SKIP
    >>> while not session.done:                                         # doctest: +SKIP
    ...     prompt = session.propose()
    ...     session.record(prompt, run_my_llm(prompt))
    >>> result = session.result("my-llm")   # a FoldInResult           # doctest: +SKIP

    ``target_width`` stops early once every per-benchmark 95% interval is narrower than
    it (in accuracy units, e.g. 0.05 = 5 points).
    """

    def __init__(self, model, *, budget: int = 50, target_width: float | None = None,
                 benchmarks=None, exclude=None, costs: Mapping[str, float] | None = None,
                 cost_weight: float = 1.0, level: float = 0.95):
        self.model = model
        self.budget = validate.integer("budget", budget, low=1)
        self.target_width = (None if target_width is None else
                             validate.real("target_width", target_width, low=0, low_open=True))
        self.level = validate.fraction("level", level)
        cand = _candidates(model, benchmarks, exclude)
        self.state = BatchState(Design(model), cand[None, :],
                                cost=_cost_array(model, costs, cost_weight))
        self.answers: dict[str, float] = {}

    @property
    def done(self) -> bool:
        if len(self.answers) >= self.budget or not self.state.available.any():
            return True
        if self.target_width is None or not self.answers:
            return False
        est = self.state.estimates(level=self.level)
        return bool(np.all(est["high"] - est["low"] < self.target_width))

    def propose(self) -> str:
        """The prompt whose answer is expected to narrow the benchmark estimates most."""
        return self.model.prompts[int(self.state.next_probe()[0])]

    def record(self, prompt: str, score: float) -> None:
        """Add the new LLM's ``score`` on ``prompt`` and update the estimate."""
        i = int(self.model.prompt_indices([prompt])[0])
        self.state.observe(np.array([i]), np.array([float(score)]))
        self.answers[prompt] = float(score)

    def result(self, name: str) -> FoldInResult:
        """Fold the answers so far into the model (``fold_in_model``)."""
        return fold_in_model(self.model, name, self.answers, level=self.level)
