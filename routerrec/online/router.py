"""``OnlineRouter``: an ``mf`` router that learns from feedback without a refit per record.

``route`` returns one ``Decision`` per text (with a request id); ``feedback`` takes the score
the chosen model got, by request id (the decision is remembered, bounded) or by text and model,
at any time and in any order: it updates the model's column posterior (a rank-one update,
``online.posterior``) and the prompt's folded-in row. ``add_model`` starts a model at the
population prior and the policy explores it within the user's budget (``online.explore``);
``retire_model`` removes one at once. Every ``refit_every`` feedback records the ``mf`` router
is refitted on the training records plus the feedback in a background thread and swapped in
whole; feedback that arrived meanwhile is replayed onto the new state. Routing holds the lock
only to read the state, never during a refit. docs/online.md gives the equations. Per-call
linear algebra is rank x rank, so BLAS runs on one thread (benchmarks/bench_online_core.py).
"""
from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from ..data.load import records_from_frame
from ..kernels.linalg import blas_one_thread
from ..routing.cost import choose
from ..routing.learned.mf import MFRouter
from ..routing.registry import load_router
from ..util import validate
from ..util.artifacts import ArtifactError, read_artifact, write_artifact
from ..util.files import open_regular
from .explore import POLICIES, ExplorationBudget, make_policy
from .posterior import column_widths
from .state import OnlineState, REFERENCE_PROMPTS, refit_records

__all__ = ["OnlineRouter", "Decision", "OnlineFileError"]

_RECORDS = "records.parquet"  # the training records a saved online router refits on


class OnlineFileError(ArtifactError):
    """A saved online router that is missing, corrupt or of another version."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """One routed prompt: its request id (for ``feedback``), the model, its predicted (posterior
    mean) score and cost, and whether the pick was exploration."""

    request_id: str
    model: str
    score: float
    cost: float
    explored: bool


class OnlineRouter:
    """An ``mf`` router plus column posteriors that feedback updates (see the module doc).

    ``policy``: ``"directed"``, ``"thompson"``, ``"ucb"``, ``"greedy"`` or a ``Policy``
    (``online.explore``; directed was chosen on the replay's development seeds). Bounds:
    ``max_explore_share`` (share of all decisions), ``max_regret`` (expected score given up per
    exploring pick), ``max_regret_usd`` (extra cost per exploring pick). A model whose 95%
    interval of its mean score over recent prompts is at most ``converged_width`` wide is
    converged and not explored unless ``explore_converged``; only models added live are explored
    unless ``explore_trained`` (trained columns start from many training cells: exploring them
    spent the budget new models need). ``row_noise``: the prompt row's uncertainty counts as
    noise (False: text rows are exact). ``factor_confidence`` multiplies trained columns'
    factor precision, ``new_prior_scale`` a live-added model's prior covariance (OnlineState).
    ``refit_every``: feedback records between background refits (None: never). ``remember``:
    decisions kept for feedback by request id; ``prompt_cache``: prompt texts kept for fold-in.
    """

    def __init__(self, router: MFRouter, *, records=None, policy="directed",
                 max_explore_share: float = 0.1, max_regret: float = 0.3,
                 max_regret_usd: float | None = None, converged_width: float = 0.05,
                 refit_every: int | None = None, seed: int = 0, explore_converged: bool = False,
                 remember: int = 100_000, prompt_cache: int = 10_000,
                 explore_trained: bool = False, row_noise: bool = True,
                 factor_confidence: float = 32.0, new_prior_scale: float = 2.0):
        self.records, self.policy = records, make_policy(policy)
        self.budget = ExplorationBudget(max_explore_share=max_explore_share,
                                        max_regret=max_regret, max_regret_usd=max_regret_usd)
        self.converged_width = validate.real("converged_width", converged_width, low=0)
        self.refit_every = (None if refit_every is None else
                            validate.integer("refit_every", refit_every, low=1))
        if self.refit_every is not None and records is None:
            raise ValueError("refit_every needs the training records to refit on: pass records=")
        self.seed = validate.integer("seed", seed, low=0)
        self.explore_converged = validate.flag("explore_converged", explore_converged)
        self.explore_trained = validate.flag("explore_trained", explore_trained)
        self.row_noise = validate.flag("row_noise", row_noise)
        self.factor_confidence = validate.real("factor_confidence", factor_confidence, low=1)
        self.new_prior_scale = validate.real("new_prior_scale", new_prior_scale, low=1)
        self.remember = validate.integer("remember", remember, low=1)
        self.prompt_cache = validate.integer("prompt_cache", prompt_cache, low=0)
        self._state = self._new_state(router, records)
        self._live = list(self._state.columns)
        self._costs: dict[str, list] = {}  # model added live -> [cost per call or None, sum, n]
        # request id -> (text, model, the text's map row, the state it was computed on)
        self._pending: collections.OrderedDict = collections.OrderedDict()
        self._prompts: collections.OrderedDict = collections.OrderedDict()  # text -> {model: y}
        self._recent: collections.deque = collections.deque(maxlen=REFERENCE_PROMPTS)
        self._feedback: list[tuple] = []   # (text, model, score, cost): the refit's extra records
        self._since_snapshot: list[tuple] | None = None  # feedback during a running refit
        self._since_refit = 0
        self._rng = np.random.default_rng(self.seed)
        self._count = 0
        self._lock = threading.RLock()
        self._refit_lock = threading.Lock()
        self._refit_thread: threading.Thread | None = None
        self.refit_error: Exception | None = None
        self.refits = 0

    @classmethod
    def fit(cls, records, *, router_params: dict | None = None, **kw) -> "OnlineRouter":
        """Fit an ``mf`` router on ``records`` (``router_params`` to ``MFRouter``) and wrap it."""
        router = MFRouter(**(router_params or {})).fit(records)
        return cls(router, records=records, **kw)

    # ------------------------------------------------------------------ models
    @property
    def models(self) -> list[str]:
        """The live models, in the order they joined."""
        with self._lock:
            return list(self._live)

    def add_model(self, name: str, *, cost_per_call: float | None = None) -> None:
        """Start ``name`` at the population prior; it is explored until it converges."""
        name = validate.name("the new model's name", name)
        cost = None if cost_per_call is None else validate.real("cost_per_call", cost_per_call,
                                                                low=0)
        with self._lock:
            if name in self._live:
                raise ValueError(f"model {name!r} is already live")
            self._state.columns[name] = self._state.new_column()
            self._costs[name] = [cost, 0.0, 0]
            self._live.append(name)

    def retire_model(self, name: str) -> None:
        """Remove ``name`` from routing at once; its later feedback is ignored."""
        with self._lock:
            if name not in self._live:
                raise KeyError(f"unknown model {name!r}; live models: {self._live[:10]!r}")
            self._live.remove(name)

    def posterior(self, name: str) -> dict:
        """``n_feedback``, ``mean_score`` and ``width`` (its 95% interval) over recent prompts,
        and ``converged`` (width <= converged_width)."""
        with self._lock, blas_one_thread():
            if name not in self._live:
                raise KeyError(f"unknown model {name!r}; live models: {self._live[:10]!r}")
            column = self._state.columns[name]
            score, width = column.width(*self._reference())
            return {"n_feedback": column.n, "mean_score": score, "width": width,
                    "converged": width <= self.converged_width}

    def _reference(self):
        """The prompts widths are measured over: the latest routed, or training prompts."""
        if len(self._recent) < 16:
            return self._state.reference
        z, offset = zip(*self._recent)
        return np.array(z), np.array(offset)

    # ------------------------------------------------------------------ routing
    def predict(self, texts: Sequence[str], *, models: Sequence[str] | None = None) -> np.ndarray:
        """Posterior-mean scores, shape (len(texts), len(models)): what greedy routing reads
        (prompts with feedback folded in). Changes nothing."""
        texts = validate.texts("texts", texts)
        with self._lock, blas_one_thread():
            return self._posterior_means(texts, self._candidates(models))[-1]

    def _posterior_means(self, texts, names):
        """Text rows, refined features, columns and posterior-mean scores of ``names``."""
        state = self._state
        text_rows = state.text_rows(texts)
        rows = text_rows.copy()
        for i, text in enumerate(texts):
            if text in self._prompts:
                rows[i] = state.refine(rows[i], self._prompts[text])
        z, offset = state.features(rows)
        columns = [state.columns[m] for m in names]
        means = state.scores(z @ np.array([c.mean for c in columns]).T + offset[:, None])
        return text_rows, z, offset, columns, means

    def route(self, texts: Sequence[str], *, models: Sequence[str] | None = None,
              wtp: float | None = None, max_cost=None) -> list[Decision]:
        """One decision per text: the greedy pick (posterior means, ``routing.cost.choose``) or,
        within the exploration budget, the policy's pick."""
        texts = validate.texts("texts", texts)
        with self._lock, blas_one_thread():
            state = self._state
            names = self._candidates(models)
            text_rows, z, offset, columns, means = self._posterior_means(texts, names)
            costs = self._predict_costs(texts, names)
            greedy = choose(means, costs, wtp=wtp, max_cost=max_cost)
            explorable = self._explorable(names, columns) if self.policy.explores else None
            proposal = None if explorable is None else self.policy.propose(
                columns, z, offset, self._rng, state.scores, means=means,
                explorable=explorable, reference=self._reference(), routed=self.budget.decisions)
            picks = greedy if proposal is None else choose(proposal, costs, wtp=wtp,
                                                           max_cost=max_cost)
            decisions = []
            for i, text in enumerate(texts):
                g, p = int(greedy[i]), int(picks[i])
                # a focus drawn below the runner-up does not make the runner-up explored
                explored = p != g and explorable[p] and self.budget.allows(
                    (means[i, g], costs[i, g]), (means[i, p], costs[i, p]), wtp)
                j = p if explored else g
                self.budget.count(explored)
                request_id = self._next_id()
                self._remember(self._pending, request_id,
                               (text, names[j], text_rows[i], state), self.remember)
                self._recent.append((z[i], offset[i]))
                decisions.append(Decision(request_id, names[j], float(means[i, j]),
                                          float(costs[i, j]), bool(explored)))
            return decisions

    def _explorable(self, names, columns) -> np.ndarray:
        """Per candidate, whether the policy may explore it: added live (or any model with
        ``explore_trained``) and not converged (or any with ``explore_converged``)."""
        ok = np.array([self.explore_trained or m in self._costs for m in names])
        if not self.explore_converged and ok.any():
            ok &= column_widths(columns, *self._reference())[1] > self.converged_width
        return ok

    def _candidates(self, models) -> list[str]:
        if models is None:
            return list(self._live)
        models = validate.texts("models", models)
        unknown = [m for m in models if m not in self._live]
        if unknown:
            raise KeyError(f"unknown model id(s) {unknown[:5]!r}; live models: "
                           f"{self._live[:10]!r}")
        if not models:
            raise ValueError("models= must name at least one model")
        return models

    def _predict_costs(self, texts, names) -> np.ndarray:
        """Predicted cost per (text, model): the router's cost model for trained models; for a
        model added live its ``cost_per_call``, else the mean of its observed costs, else the
        mean predicted cost of the trained candidates."""
        router = self._state.router
        known = [m for m in names if m in router.models_]
        out = np.zeros((len(texts), len(names)))
        if known:
            predicted = router.predict_cost(texts, models=known).astype(np.float64)
            out[:, [names.index(m) for m in known]] = predicted
        fallback = out[:, [names.index(m) for m in known]].mean(axis=1) if known else 0.0
        for j, m in enumerate(names):
            if m not in router.models_:
                fixed, total, n = self._costs.get(m, [None, 0.0, 0])
                out[:, j] = fixed if fixed is not None else (total / n if n else fallback)
        return out

    def _next_id(self) -> str:
        self._count += 1
        return f"{self.seed:x}-{self._count:x}"

    @staticmethod
    def _remember(store: collections.OrderedDict, key, value, limit: int) -> None:
        store[key] = value
        store.move_to_end(key)
        while len(store) > limit:
            store.popitem(last=False)

    # ------------------------------------------------------------------ feedback
    def feedback(self, *, request_id: str | None = None, text: str | None = None,
                 model: str | None = None, score, cost: float | None = None) -> None:
        """The score (and optionally the cost) a model got on a prompt.

        Name the prompt by ``request_id`` (from ``route``; used once, then forgotten) or by
        ``text`` and ``model``. Feedback may come late, for some requests or never; its order
        does not change the posterior. Feedback on a retired model is ignored.
        """
        if cost is not None:
            cost = validate.real("cost", cost, low=0)
        routed_on = None
        with self._lock, blas_one_thread():
            if request_id is not None:
                if request_id not in self._pending:
                    raise LookupError(f"unknown or expired request id {request_id!r} (decisions "
                                      f"are kept for the latest {self.remember} requests, and "
                                      f"each takes one feedback)")
                text, decided, row, routed_on = self._pending[request_id]
                if model is not None and model != decided:
                    raise ValueError(f"request {request_id!r} was routed to {decided!r}, not "
                                     f"{model!r}")
                model = decided
            elif text is None or model is None:
                raise ValueError("feedback needs a request_id, or a text and a model")
            text = validate.string("feedback text", text)
            low, high = self._state.completion.score_range or (None, None)
            score = validate.real("score", score, low=low, high=high)
            if request_id is not None:
                del self._pending[request_id]
            if model not in self._live:
                if request_id is None:
                    raise KeyError(f"unknown model {model!r}; live models: {self._live[:10]!r}")
                return
            self._apply(self._state, text, model, score,
                        row if routed_on is self._state else None)
            if self.prompt_cache:
                observed = self._prompts.pop(text, {})
                observed[model] = score
                self._remember(self._prompts, text, observed, self.prompt_cache)
            if model in self._costs and cost is not None:
                self._costs[model][1:] = [self._costs[model][1] + cost, self._costs[model][2] + 1]
            record = (text, model, score, cost)
            self._feedback.append(record)
            if self._since_snapshot is not None:
                self._since_snapshot.append(record)
            self._since_refit += 1
            due = self.refit_every is not None and self._since_refit >= self.refit_every
        if due:
            self._start_refit()

    @staticmethod
    def _apply(state: OnlineState, text: str, model: str, score: float, row=None) -> None:
        """The rank-one update of ``model``'s column with the prompt's text row (``row`` when
        routing already computed it on this state)."""
        z, offset = state.features(state.text_rows([text]) if row is None else row)
        state.columns[model].update(z[0], offset[0], score)

    # ------------------------------------------------------------------ refit
    def refit_now(self) -> None:
        """Refit synchronously (waits for a background refit that is running)."""
        if self.records is None:
            raise ValueError("refitting needs the training records: pass records=")
        with self._refit_lock:
            self._refit(self._snapshot())
        if self.refit_error is not None:
            raise self.refit_error

    def _start_refit(self) -> None:
        """A background refit on the feedback so far, unless one is running."""
        if not self._refit_lock.acquire(blocking=False):
            return
        try:
            snapshot = self._snapshot()
            self._refit_thread = threading.Thread(target=self._refit_and_release, args=(snapshot,),
                                                  name="routerrec-refit", daemon=True)
            self._refit_thread.start()
        except BaseException:
            self._refit_lock.release()
            raise

    def _refit_and_release(self, snapshot) -> None:
        try:
            self._refit(snapshot)
        finally:
            self._refit_lock.release()

    def wait_refit(self, timeout: float | None = None) -> None:
        """Wait for a background refit to finish (tests, shutdown)."""
        thread = self._refit_thread
        if thread is not None:
            thread.join(timeout)

    def _new_state(self, router, records) -> OnlineState:
        kw = {k: getattr(self, k) for k in ("row_noise", "factor_confidence", "new_prior_scale")}
        return OnlineState(router, records, **kw)

    def _snapshot(self) -> tuple:
        """What a refit fits on, taken in the caller's thread: the feedback so far is the
        refit's; every later record is replayed onto its state."""
        with self._lock:
            self._since_snapshot, self._since_refit = [], 0
            return list(self._feedback), list(self._live), self._state.router

    def _refit(self, snapshot) -> None:
        feedback, live, router = snapshot
        try:
            records = refit_records(self.records, feedback, live)
            state = self._new_state(MFRouter(**router.get_params()).fit(records), records)
        except Exception as exc:  # routing goes on with the old state
            log.exception("online refit failed")
            with self._lock:
                self.refit_error, self._since_snapshot = exc, None
            return
        with self._lock, blas_one_thread():
            for name in self._live:
                if name not in state.columns:
                    state.columns[name] = state.new_column()
            for text, model, score, _ in self._since_snapshot:
                if model in state.columns:
                    self._apply(state, text, model, score)
            self._state, self._since_snapshot, self.refit_error = state, None, None
            self.refits += 1

    # ------------------------------------------------------------------ persistence
    def _settings(self) -> dict:
        policy = self.policy
        if type(policy) is not POLICIES.get(policy.name):
            raise ValueError(f"cannot save the custom policy {policy!r}: only "
                             f"{', '.join(POLICIES)} are saved by name")
        return {"policy": policy.name, "policy_params": policy.params(),
                "max_explore_share": self.budget.max_explore_share,
                "max_regret": self.budget.max_regret, "max_regret_usd": self.budget.max_regret_usd,
                "converged_width": self.converged_width, "refit_every": self.refit_every,
                "seed": self.seed, "explore_converged": self.explore_converged,
                "explore_trained": self.explore_trained, "row_noise": self.row_noise,
                "factor_confidence": self.factor_confidence, "remember": self.remember,
                "new_prior_scale": self.new_prior_scale, "prompt_cache": self.prompt_cache}

    def save(self, directory, *, attachments: Mapping[str, str] | None = None) -> Path:
        """Write atomically (``util.artifacts``, no pickle): ``manifest.json`` (settings, live
        models, counts, remembered decisions, prompts' and all feedback), ``arrays.npz`` (every
        posterior), ``router/``, with training records ``records.parquet``, and ``attachments``
        (file name -> text, a caller's own files: the server's live upstreams). ``load`` resumes."""
        directory = validate.path("save's directory", directory)
        with self._lock:
            names, arrays = self._state.arrays()
            k1 = len(self._state.population[0])
            arrays["recent_z"] = np.array([z for z, _ in self._recent]).reshape(-1, k1)
            arrays["recent_offset"] = np.array([o for _, o in self._recent], dtype=np.float64)
            manifest = {
                "format": "routerrec-online", "settings": self._settings(),
                "models": list(self._live), "columns": names, "costs": dict(self._costs),
                "budget": self.budget.state(), "count": self._count, "refits": self.refits,
                "since_refit": self._since_refit, "rng": self._rng.bit_generator.state,
                "pending": [[k, t, m] for k, (t, m, *_) in self._pending.items()],
                "prompts": [[t, obs] for t, obs in self._prompts.items()],
                "feedback": [list(r) for r in self._feedback]}
            router, records = self._state.router, self.records

        def parts(tmp: Path) -> None:
            for name, text in (attachments or {}).items():
                (tmp / name).write_text(text, encoding="utf-8")
            router.save(tmp / "router")
            if records is not None:
                records.table.join(records.texts, on="prompt", how="left").write_parquet(
                    tmp / _RECORDS)

        return write_artifact(directory, manifest, arrays, error=OnlineFileError,
                              write_parts=parts)

    @classmethod
    def load(cls, directory, *, encoder=None) -> "OnlineRouter":
        """An online router ``save`` wrote, in the same state (``encoder``: the function an mf
        router was fitted with, as for ``load_router``)."""
        d = validate.path("OnlineRouter.load's directory", directory)
        manifest, arrays = read_artifact(d, fmt="routerrec-online", what="online router",
                                         error=OnlineFileError)
        router = load_router(d / "router", encoder=encoder)
        try:
            records = None
            if (d / _RECORDS).exists():
                with open_regular(d / _RECORDS) as fh:
                    frame = pl.read_parquet(fh)
                records = records_from_frame(
                    frame, cost="cost" if "cost" in frame.columns else None,
                    benchmark="benchmark", text="text", source=str(d / _RECORDS))
            settings = dict(manifest["settings"])
            beta = settings.pop("ucb_beta", None)  # saves before policy_params
            params = settings.pop("policy_params", None if beta is None else {"beta": beta})
            policy = make_policy(settings.pop("policy"), params)
            online = cls(router, records=records, policy=policy, **settings)
            online._restore(manifest, arrays)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise OnlineFileError(f"{d}: not a usable online router ({type(exc).__name__}: "
                                  f"{exc})") from None
        return online

    def _restore(self, manifest: dict, arrays: dict) -> None:
        self._state = self._state.restored(manifest["columns"], arrays)
        live = validate.texts("models", manifest["models"])
        unknown = [m for m in live if m not in self._state.columns]
        if unknown:
            raise ValueError(f"live models {unknown[:5]!r} have no saved posterior")
        self._live = live
        self._costs = {validate.string("cost's model", m): [
            None if c[0] is None else validate.real("cost per call", c[0], low=0),
            validate.real("cost sum", c[1], low=0), validate.integer("cost count", c[2], low=0)]
            for m, c in manifest["costs"].items()}
        self.budget.decisions = validate.integer("decisions", manifest["budget"]["decisions"],
                                                 low=0)
        self.budget.explored = validate.integer("explored", manifest["budget"]["explored"],
                                                low=0, high=self.budget.decisions)
        self._count = validate.integer("count", manifest["count"], low=0)
        self.refits = validate.integer("refits", manifest["refits"], low=0)
        self._since_refit = validate.integer("since_refit", manifest["since_refit"], low=0)
        self._rng.bit_generator.state = manifest["rng"]
        for key, text, model in manifest["pending"]:
            self._pending[validate.string("request id", key)] = (
                validate.string("decision text", text), validate.string("decision model", model),
                None, None)
        for text, observed in manifest["prompts"]:
            self._prompts[validate.string("prompt text", text)] = {
                validate.string("model", m): validate.real("score", y) for m, y in observed.items()}
        self._feedback = [(validate.string("feedback text", t), validate.string("model", m),
                           validate.real("score", y),
                           None if c is None else validate.real("cost", c, low=0))
                          for t, m, y, c in manifest["feedback"]]
        for z, offset in zip(arrays["recent_z"], arrays["recent_offset"]):
            self._recent.append((np.asarray(z, dtype=np.float64), float(offset)))
