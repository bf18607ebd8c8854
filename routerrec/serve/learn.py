"""``routerrec serve --learn``: the server routes with an ``OnlineRouter`` (docs/serve.md,
*Learning while serving*).

``OnlineServing`` puts the online router behind the surface the endpoints already use for a
``Router`` (``name``, ``models_``, ``candidates``, ``decide``), so ``/v1/route`` and the chat
endpoint go through the same micro-batching ``Decider``; ``decide`` returns one
``online.Decision`` per prompt. The server's own request ids (unique across processes and
restarts) are what clients see; a bounded map takes each to the online decision it names, so
``/v1/feedback`` by request id updates that decision's posterior. When the gateway fell back to
another model than the online pick, the request id maps to (prompt, answering model) instead:
feedback on an answer always updates the model that gave it.

Models join and leave at run time (``add`` / ``retire``, behind ``/admin/models``), with their
upstream registered with (or removed from) the gateway in the same step of the event loop, so
no request sees one without the other.
"""
from __future__ import annotations

import collections
import json
import logging
import threading
from pathlib import Path

from ..util import validate
from .feedback import feedback_fields
from .middleware import json_number
from .state import ReloadRefused
from .upstreams import load_upstreams, upstream_from_entry

__all__ = ["OnlineServing", "ModelConflict", "load_online", "learn_source", "check_learn",
           "serving_loader", "gateway_upstreams"]

_log = logging.getLogger("uvicorn.error")
ONLINE_FORMAT = "routerrec-online"
MODEL_FIELDS = ("model", "upstream", "cost_per_call")
KEPT_REQUESTS = 100_000  # request ids feedback may name (the online router keeps as many)
LIVE_UPSTREAMS = "upstreams.json"  # saved with the online state: the live models' upstreams


RETIRE_RETRIES = 3  # a chat pick is made again when a model of its pool was retired meanwhile


class ModelConflict(ValueError):
    """A model added that is already live (answered 409)."""


def _manifest(directory) -> dict:
    try:
        return json.loads((Path(directory) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{directory} holds no readable manifest.json ({exc})") from None


def learn_source(config) -> str:
    """The directory the online state is loaded from: ``--learn-state`` once it holds a saved
    state (a restart resumes), else ``--router``."""
    state = config.learn_state
    if state is not None and (Path(state) / "manifest.json").is_file():
        return str(state)
    return config.router


def gateway_upstreams(config, models) -> dict | None:
    """The gateway's upstreams (None: decision-only): the ``--upstreams`` file's, and when
    ``--learn`` resumes from ``--learn-state``, those saved with the state (models added live
    keep their upstream across restarts; the file wins for a model both name)."""
    if not config.upstreams:
        return None
    upstreams = load_upstreams(config.upstreams, models)
    state = config.learn_state
    if config.learn and state is not None and learn_source(config) == str(state) \
            and (Path(state) / LIVE_UPSTREAMS).is_file():
        upstreams = {**load_upstreams(Path(state) / LIVE_UPSTREAMS, models), **upstreams}
    return upstreams


def check_learn(config) -> None:
    """The --learn options against what the source directory holds (cheap: manifests only);
    ValueError says what is missing."""
    source = learn_source(config)
    manifest = _manifest(source)
    if manifest.get("format") == ONLINE_FORMAT:
        if config.refit_every is not None and config.data is None and not (
                Path(source) / "records.parquet").is_file():
            raise ValueError(f"--refit-every needs the training records to refit on: the saved "
                             f"online router in {source} has none; add --data RECORDS")
        return
    if manifest.get("router") != "mf":
        raise ValueError(f"--learn routes with an online mf router; {source} holds "
                         f"{manifest.get('router') or manifest.get('format') or 'no'} router: "
                         "fit one with `routerrec fit --router mf --out DIR`, or give a "
                         "directory OnlineRouter.save wrote")
    if config.refit_every is not None and config.data is None:
        raise ValueError("--refit-every needs --data RECORDS (the records the mf router was "
                         "fitted on) to refit on")


def load_online(config):
    """The ``OnlineRouter`` of ``learn_source(config)`` (a saved one, or a fitted mf router
    wrapped), with the exploration and refit options the command gave."""
    from ..data.load import load_records
    from ..online import OnlineRouter
    from ..online.explore import make_policy
    from ..routing.registry import load_router

    check_learn(config)
    source = learn_source(config)
    records = load_records(config.data) if config.data is not None else None
    bounds = {k: getattr(config, k) for k in ("max_explore_share", "max_regret",
                                              "max_regret_usd") if getattr(config, k) is not None}
    policy = {} if config.learn_policy is None else {"policy": config.learn_policy}
    if _manifest(source).get("format") != ONLINE_FORMAT:
        return OnlineRouter(load_router(source), records=records,
                            refit_every=config.refit_every, **bounds, **policy)
    online = OnlineRouter.load(source)
    if config.learn_policy is not None:
        online.policy = make_policy(config.learn_policy)
    if records is not None:
        online.records = records
    if config.refit_every is not None:
        online.refit_every = config.refit_every
    for name, value in bounds.items():  # checked by ServeConfig
        setattr(online.budget, name, value)
    return online


def serving_loader(config):
    """What ``RouterState`` loads with under --learn: ``(directory, upstream models) ->
    OnlineServing`` (the directory is ``learn_source(config)``, whatever it is given)."""
    def load(_directory, upstream_models=None) -> OnlineServing:
        try:
            online = load_online(config)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReloadRefused(f"cannot start learning from {learn_source(config)}: "
                                f"{exc}") from exc
        if upstream_models is not None and not set(online.models) & set(upstream_models):
            raise ReloadRefused(f"the online router knows none of the models the upstreams "
                                f"file names ({', '.join(sorted(upstream_models))})")
        return OnlineServing(online, learn_source(config), config.learn_state)
    return load


class OnlineServing:
    """An ``OnlineRouter`` as the server routes with it (see the module doc)."""

    name = "online"

    def __init__(self, online, directory: str, learn_state: str | None = None):
        self.online, self.directory, self.learn_state = online, directory, learn_state
        self._ids: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()  # the id map (feedback runs on a thread)

    @property
    def models_(self) -> list[str]:
        return self.online.models

    def candidates(self, pool) -> list[str]:
        live = set(self.online.models)
        unknown = [m for m in pool if m not in live]
        if unknown:
            raise KeyError(f"unknown model id(s) {unknown[:5]!r}; live models: "
                           f"{self.online.models[:10]!r}")
        if not pool:
            raise ValueError("models must name at least one model")
        return list(pool)

    def decide(self, texts, *, models=None, wtp=None, max_cost=None) -> list:
        return self.online.route(texts, models=models, wtp=wtp, max_cost=max_cost)

    def ranking(self, text: str, pool: list[str]) -> list[str]:
        """``pool`` by posterior-mean score on ``text``, best first: the gateway's fallback
        order after an online pick fails (the policy's costs are not weighed: a rescue)."""
        if not pool:
            return []
        means = self.online.predict([text], models=pool)[0]
        return [pool[j] for j in sorted(range(len(pool)), key=lambda j: -means[j])]

    async def pick(self, decider, text: str, policy: dict, upstreams: dict):
        """(models to try first, the fallback order's coroutine, the online decision) for a
        chat request: the online pick among the live models with an upstream. A model retired
        while the pick was made is not tried; the caller forwards at once (no await between,
        so no retirement either)."""
        for _ in range(RETIRE_RETRIES):
            pool = [m for m in self.online.models if m in upstreams]
            if not pool:
                return [], None, None
            try:
                decision = (await decider.decide([text], models=pool, **policy))[0]
                break
            except KeyError:  # a pool model was retired while the request waited for its batch
                continue
        else:
            raise RuntimeError(f"models kept being retired while routing ({RETIRE_RETRIES} tries)")

        async def fallbacks() -> list[str]:
            return self.ranking(text, [m for m in self.online.models if m in upstreams])

        first = [decision.model] if decision.model in upstreams else (await fallbacks())[:1]
        return first, fallbacks, decision

    def answered(self, request_id: str, text: str, model: str, decision, store=None) -> None:
        """A chat request ``model`` answered: feedback on it reaches the online decision when
        that model was the pick, else the (text, model) pair; ``store`` learns the id too."""
        self.remember(request_id, text, model, decision if model == decision.model else None)
        if store is not None:
            store.remember(request_id, text, model)

    # ------------------------------------------------------------------ request ids
    def remember(self, request_id: str, text: str, model: str, decision=None) -> None:
        """Feedback on ``request_id`` will reach ``decision`` (an online ``Decision`` whose
        model answered), or else the (text, model) pair."""
        online_id = decision.request_id if decision is not None else None
        with self._lock:
            self._ids[request_id] = (online_id, text, model)
            while len(self._ids) > KEPT_REQUESTS:
                self._ids.popitem(last=False)

    def decided(self, request_id: str, texts: list[str], decisions: list, store=None) -> list:
        """The ``/v1/route`` answer's decisions, each with the request id feedback names it by
        (the response's own id for one prompt, ``ID.i`` for the i-th of several)."""
        out = []
        for i, (text, d) in enumerate(zip(texts, decisions)):
            rid = request_id if len(texts) == 1 else f"{request_id}.{i}"
            self.remember(rid, text, d.model, d)
            if store is not None:
                store.remember(rid, text, d.model)
            out.append({"model": d.model, "score": json_number(d.score), "cost": json_number(d.cost),
                        "explored": d.explored, "request_id": rid})
        return out

    # ------------------------------------------------------------------ feedback
    def feedback(self, body: dict, store=None) -> dict:
        """Apply one ``/v1/feedback`` body to the posterior, then append it to ``store``
        (durable) when there is one; the body is checked whole (``feedback_fields``) before
        either. ValueError: a bad field (400); LookupError: an unknown, expired or already
        used request id (404)."""
        checked = (store.record(body) if store is not None else
                   feedback_fields(body, self._routed, self.online.models))
        rid = checked["request_id"]
        online_id = None
        if rid is not None:
            with self._lock:
                found = self._ids.get(rid)
            if found is None:
                raise self._unknown(rid)
            online_id = found[0]
        score, cost = checked["score"], checked["cost"]
        try:
            if online_id is not None:
                self.online.feedback(request_id=online_id, score=score, cost=cost)
            else:
                self.online.feedback(text=checked["text"], model=checked["model"], score=score,
                                     cost=cost)
        except KeyError as exc:  # a model the router does not know: a bad field
            raise ValueError(exc.args[0] if exc.args else str(exc)) from None
        if rid is not None:
            with self._lock:
                self._ids.pop(rid, None)
        return store.write(checked) if store is not None else checked

    def _routed(self, rid: str) -> tuple:
        """``(prompt, model)`` of a request this server routed and that awaits feedback."""
        with self._lock:
            found = self._ids.get(rid)
        if found is None:
            raise self._unknown(rid)
        return found[1], found[2]

    @staticmethod
    def _unknown(rid: str) -> LookupError:
        return LookupError(f"request_id {rid!r} is not a request this server routed (or it "
                           f"took its feedback already, or is older than the last "
                           f"{KEPT_REQUESTS}); send the prompt instead")

    # ------------------------------------------------------------------ models
    def add(self, body: dict, gateway) -> dict:
        """Add a model (``/admin/models``): its upstream with the gateway, then the online
        router's population prior. ValueError names the bad field."""
        validate.fields("the /admin/models body", body, MODEL_FIELDS)
        if "model" not in body:
            raise ValueError("model is required: the new model's id")
        model = validate.name("model", body["model"])
        if model in self.online.models:
            raise ModelConflict(f"model {model!r} is already live; retire it first "
                                  f"(DELETE /admin/models/{model})")
        cost = body.get("cost_per_call")
        cost = None if cost is None else validate.real("cost_per_call", cost, low=0)
        upstream = None
        if gateway is not None:
            if "upstream" not in body:
                raise ValueError("upstream is required on a gateway: {\"base_url\": ..., "
                                 "\"api_key_env\"?: ..., \"model\"?: ...}")
            upstream = upstream_from_entry(f"/admin/models: model {model!r} upstream", model,
                                           body["upstream"])
            gateway.check_upstream(upstream)  # its key is set: before anything changes
        elif body.get("upstream") is not None:
            raise ValueError("this server is decision-only (no --upstreams): leave out upstream")
        self.online.add_model(model, cost_per_call=cost)
        if upstream is not None:
            gateway.add_upstream(upstream)
        return self.summary(model, gateway)

    def retire(self, model: str, gateway) -> None:
        """Remove ``model`` from routing and its upstream from the gateway (KeyError: unknown).
        Requests already sent to it finish."""
        self.online.retire_model(model)
        if gateway is not None:
            gateway.remove_upstream(model)

    def summary(self, model: str, gateway) -> dict:
        upstream = None if gateway is None else gateway.upstreams.get(model)
        return {"model": model, **self.online.posterior(model),
                "upstream": None if upstream is None else upstream.base_url}

    def listing(self, gateway) -> dict:
        """``GET /admin/models``: every live model with its posterior summary."""
        budget = self.online.budget
        return {"router": self.name, "models": [self.summary(m, gateway)
                                                for m in self.online.models],
                "decisions": budget.decisions, "explored": budget.explored,
                "refits": self.online.refits,
                "refit_error": None if self.online.refit_error is None
                else str(self.online.refit_error)}

    def save_on_exit(self, gateway=None) -> None:
        """``save`` on shutdown: a failure is logged, the shutdown goes on."""
        try:
            _log.info("saved the online state to %s", self.save(gateway))
        except Exception:  # noqa: BLE001 - logged with its traceback
            _log.exception("could not save the online state to %s", self.learn_state)

    def save(self, gateway=None) -> str:
        """Save the online state to ``--learn-state`` (atomic), with the gateway's upstreams of
        the live models (``LIVE_UPSTREAMS``: ids, URLs and key variable names, never a key);
        ValueError when no --learn-state was given."""
        if self.learn_state is None:
            raise ValueError("this server has no --learn-state DIR to save the online state to")
        attachments = {}
        if gateway is not None:
            attachments[LIVE_UPSTREAMS] = json.dumps({"models": {
                m: gateway.upstreams[m].entry() for m in self.online.models
                if m in gateway.upstreams}}, indent=1)
        return str(self.online.save(self.learn_state, attachments=attachments))
