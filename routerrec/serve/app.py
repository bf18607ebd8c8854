"""The ``routerrec serve`` application: Starlette routes on uvicorn (docs/serve.md).

``build_app(config)`` returns the ASGI app; ``app_from_env()`` is the factory uvicorn's worker
processes call (``--workers N``). Endpoints: ``GET /health``, ``POST /v1/route``,
``POST /v1/chat/completions`` (with ``--upstreams``), ``POST /v1/feedback`` (with
``--feedback``), ``GET /metrics``, ``POST /admin/reload``; with ``--learn`` (serve/learn.py)
``GET|POST /admin/models``, ``DELETE /admin/models/{id}``, ``POST /admin/save``. Every error is a JSON object
``{"error": {"message", "type", "request_id"}}``; a request the server cannot read is a 400
naming the field, never a 500.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route

from ..util import validate
from .config import ServeConfig
from .metrics import ServeMetrics
from .middleware import BodyTooLarge, Guard, error_body, json_number
from .state import InFlight, ReloadRefused, RouterState, router_models

__all__ = ["build_app", "app_from_env"]

_log = logging.getLogger("uvicorn.error")
ROUTE_FIELDS = ("prompt", "prompts", "wtp", "max_cost", "models")


class BadRequest(Exception):
    """A request this server cannot read: answered 400 with the message."""


class Unavailable(Exception):
    """No router is loaded yet: answered 503 with Retry-After."""


def _json(payload, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer, encoded by orjson, several times faster than the standard encoder
    (numbers as shortest round-trip decimals, like ``repr``; numpy scalars as numbers)."""
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status, headers,
                    media_type="application/json")


def _error(request, status: int, message: str, kind: str, headers: dict | None = None):
    return Response(error_body(message, kind, request.scope.get("state", {}).get("request_id")),
                    status, headers, media_type="application/json")


def _message(exc: Exception) -> str:
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


def endpoint(fn):
    """An endpoint whose failures are JSON errors: 400 for what it cannot read, 503 while no
    router is loaded, 413 for a body over the limit, 500 (logged) only for a bug."""
    async def run(self, request):
        try:
            return await fn(self, request)
        except BodyTooLarge:
            raise  # the middleware answers 413
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is listening: nothing to say
        except BadRequest as exc:
            return _error(request, 400, _message(exc), "invalid_request_error")
        except Unavailable:
            return _error(request, 503, "the router is still loading; retry shortly",
                          "server_loading", {"retry-after": "1"})
        except Exception:  # noqa: BLE001 - a bug: logged with its traceback, answered as JSON
            _log.exception("internal error in %s", request.url.path)
            return _error(request, 500, "internal error (a bug); the server log has the "
                          "traceback under this request id", "internal_error")
    return run


async def _read(request) -> bytes:
    """The raw body, read from ``receive`` directly (Starlette's ``Request.body`` goes through
    an async generator, a task switch per call)."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_json(raw: bytes):
    """What ``json.loads`` reads from ``raw`` (BadRequest where it fails), read by orjson,
    several times faster; Python's reader decides what orjson refuses (lone surrogates, NaN,
    UTF-16, integers over 64 bits)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"the request body is not valid JSON ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None


async def _body(request, *, empty: dict | None = None) -> dict:
    """The request's JSON object (``empty`` for an empty body, when given), or BadRequest
    saying what is wrong with it."""
    raw = await _read(request)
    if not raw.strip():
        if empty is not None:
            return empty
        raise BadRequest("the request body is empty; send a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def route_request(body: dict, router) -> tuple[list[str], dict]:
    """(texts, options for ``Router.decide``) of a ``/v1/route`` body; BadRequest names the
    field that is wrong."""
    try:
        validate.fields("the /v1/route body", body, ROUTE_FIELDS)
        if ("prompt" in body) == ("prompts" in body):
            raise ValueError("give 'prompt' (one text) or 'prompts' (a list of texts), one of them")
        if "prompt" in body:
            texts = [validate.string("prompt", body["prompt"])]
        else:
            texts = validate.texts("prompts", _json_list("prompts", body["prompts"]))
            if not texts:
                raise ValueError("prompts must hold at least one text, got an empty list")
        return texts, decide_options(body, router)
    except (TypeError, ValueError, KeyError) as exc:
        raise BadRequest(_message(exc)) from None


def _json_list(what: str, value) -> list:
    """A JSON array (``validate.texts`` would read an object's keys as the list)."""
    if not isinstance(value, list):
        raise TypeError(f"{what} must be a list of strings, got {type(value).__name__} "
                        f"{json.dumps(value)[:60]}")
    return value


def decide_options(body: dict, router) -> dict:
    """``wtp`` | ``max_cost`` (not both) and the ``models`` pool, checked against ``router``."""
    wtp, max_cost, models = body.get("wtp"), body.get("max_cost"), body.get("models")
    if wtp is not None and max_cost is not None:
        raise ValueError("give 'wtp' or 'max_cost', not both")
    options = {}
    if wtp is not None:
        options["wtp"] = validate.real("wtp", wtp, low=0)
    if max_cost is not None:
        options["max_cost"] = validate.real("max_cost", max_cost, low=0)
    if models is not None:
        pool = validate.texts("models", _json_list("models", models))
        if len(set(pool)) != len(pool):
            raise ValueError("models must not repeat a model id")
        router.candidates(pool)  # KeyError naming the unknown ids; ValueError when empty
        options["models"] = pool
    return options


class Server:
    """The endpoints and what they share (a class so that two apps in one process, as in the
    tests, never share state)."""

    def __init__(self, config: ServeConfig, state: RouterState, metrics: ServeMetrics):
        self.config, self.state, self.metrics = config, state, metrics
        self.gateway = self.feedback = None
        self.upstreams = None
        self.source = config.router  # the directory loaded (--learn: maybe --learn-state)
        self._picks: dict = {}

    def loaded(self):
        current = self.state.current
        if current is None:
            raise Unavailable()
        return current

    def count_picks(self, models) -> None:
        for model in models:
            counter = self._picks.get(model)
            if counter is None:
                counter = self._picks[model] = self.metrics.picks.labels(model)
            counter.inc()

    @endpoint
    async def health(self, request):
        current = self.state.current
        if current is None:
            status = "failed" if self.state.load_error else "loading"
            return _json({"status": status, "error": self.state.load_error}, 503,
                         {"retry-after": "1"})
        return _json({"status": "ok", "router": current.name, "models": current.models,
                      "directory": current.directory, "reloads": self.state.reloads,
                      "workers": self.config.workers})

    @endpoint
    async def route(self, request):
        body = await _body(request)
        current = self.loaded()
        texts, options = route_request(body, current.router)
        try:
            decisions = await current.decider.decide(texts, **options)
        except ValueError as exc:  # the options were checked: this is the memory limit
            return _error(request, 413, _message(exc), "request_too_large")
        if self.config.learn:
            self.count_picks(d.model for d in decisions)
            return _json({"decisions": current.router.decided(
                request.scope["state"]["request_id"], texts, decisions, self.feedback),
                "router": current.name})
        self.count_picks(d[0][0] for d in decisions)
        return _json({"decisions": [{"model": m, "score": json_number(s), "cost": json_number(c)}
                                    for (m, s, c), *_ in decisions],
                      "router": current.name})

    @endpoint
    async def chat(self, request):
        from .proxy import chat_policy, chat_prompt

        if self.gateway is None:
            return _error(request, 404, "this server is decision-only (no --upstreams): use "
                          "POST /v1/route, or start it with --upstreams FILE to proxy chat "
                          "completions", "not_found")
        body = await _body(request)
        try:
            policy, prompt = chat_policy(body.get("model")), chat_prompt(body)
        except (TypeError, ValueError) as exc:
            raise BadRequest(_message(exc)) from None
        current = self.loaded()
        if self.config.learn:
            return await self.chat_online(request, body, prompt, policy, current)
        options = {"models": current.chat_pool, **policy}
        pick = (await current.decider.decide([prompt], **options))[0][0][0]

        async def fallbacks() -> list[str]:  # ranked only if the pick fails (same rule)
            ranked = await current.decider.decide([prompt], ranks=self.config.max_attempts,
                                                  **options)
            return [m for m, _, _ in ranked[0]]

        request_id = request.scope["state"]["request_id"]
        response = await self.gateway.forward(body, [pick], request_id, fallbacks)
        model = response.headers.get("x-routerrec-model")
        if self.feedback is not None and model and response.status_code < 400:
            self.feedback.remember(request_id, prompt, model)
        return response

    async def chat_online(self, request, body, prompt, policy, current):
        """The chat under --learn: the online pick among the live models with an upstream,
        then the posterior-mean ranking as the fallback order (serve/learn.py)."""
        learner, request_id = current.router, request.scope["state"]["request_id"]
        first, fallbacks, decision = await learner.pick(current.decider, prompt, policy,
                                                        self.gateway.upstreams)
        if not first:
            return _error(request, 503, "no live model has an upstream", "no_upstream",
                          {"retry-after": "1"})
        response = await self.gateway.forward(body, first, request_id, fallbacks)
        if response.status_code < 400:
            learner.answered(request_id, prompt, response.headers["x-routerrec-model"],
                             decision, self.feedback)
        return response

    @endpoint
    async def feedback_post(self, request):
        if self.config.learn:
            return await self.feedback_online(request)
        if self.feedback is None:
            return _error(request, 404, "this server keeps no feedback (no --feedback DIR): "
                          "start it with --feedback DIR to record scores", "not_found")
        body = await _body(request)
        try:
            record = await asyncio.to_thread(self.feedback.append, body)
        except LookupError as exc:
            return _error(request, 404, _message(exc), "not_found")
        except (TypeError, ValueError) as exc:
            raise BadRequest(_message(exc)) from None
        return _json({"status": "stored", "record": record})

    async def feedback_online(self, request):
        """Feedback under --learn: the posterior is updated, then the record appended to
        --feedback's store when there is one (durable before the 200)."""
        body = await _body(request)
        learner = self.loaded().router
        try:
            record = await asyncio.to_thread(learner.feedback, body, self.feedback)
        except (TypeError, ValueError) as exc:
            raise BadRequest(_message(exc)) from None
        except LookupError as exc:
            return _error(request, 404, _message(exc), "not_found")
        return _json({"status": "learned" if self.feedback is None else "stored",
                      "record": record})

    def learner(self, request):
        """(the OnlineServing, None), or (None, the 409 answer) without --learn."""
        if not self.config.learn:
            return None, _error(request, 409, "this server does not learn: start it with "
                                "--learn to add, list and retire models and save the online "
                                "state", "conflict")
        return self.loaded().router, None

    @endpoint
    async def models(self, request):
        """GET lists the live models, POST adds one, DELETE /admin/models/ID retires one."""
        from .learn import ModelConflict

        learner, refused = self.learner(request)
        if refused:
            return refused
        if request.method == "GET":
            return _json(learner.listing(self.gateway))
        if request.method == "DELETE":
            model = request.path_params["model"]
            try:
                learner.retire(model, self.gateway)
            except KeyError as exc:
                return _error(request, 404, _message(exc), "not_found")
            return _json({"status": "retired", "model": model, "models": learner.models_})
        try:
            added = learner.add(await _body(request), self.gateway)
        except ModelConflict as exc:
            return _error(request, 409, _message(exc), "conflict")
        except (TypeError, ValueError) as exc:
            raise BadRequest(_message(exc)) from None
        return _json({"status": "added", **added})

    @endpoint
    async def save(self, request):
        learner, refused = self.learner(request)
        if refused:
            return refused
        try:
            directory = await asyncio.to_thread(learner.save, self.gateway)
        except ValueError as exc:
            return _error(request, 409, _message(exc), "conflict")
        return _json({"status": "saved", "directory": directory})

    @endpoint
    async def metrics_get(self, request):
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @endpoint
    async def reload(self, request):
        if self.config.learn:
            return _error(request, 409, "a learning server (--learn) refits itself and keeps "
                          "its state: POST /admin/save, then restart it on the new router",
                          "conflict")
        if self.config.workers > 1:
            return _error(request, 409, f"this server runs {self.config.workers} worker "
                          "processes and a request reaches one of them: send SIGHUP to the "
                          f"supervisor (pid {os.getppid()}), which replaces the workers one at a "
                          "time, each loading --router anew", "conflict")
        body = await _body(request, empty={})
        try:
            validate.fields("the /admin/reload body", body, ("router",))
        except ValueError as exc:
            raise BadRequest(_message(exc)) from None
        directory = body.get("router")
        if directory is not None:
            try:
                directory = str(validate.path("router", directory))
            except (TypeError, ValueError) as exc:
                raise BadRequest(_message(exc)) from None
        try:
            new, old = await self.state.reload(directory)
        except ReloadRefused as exc:
            return _error(request, 409, f"{_message(exc)}; still serving the previous router",
                          "reload_refused")
        return _json({"status": "reloaded", "router": new.name, "directory": new.directory,
                      "models": new.models,
                      "previous": None if old is None else {"router": old.name,
                                                            "directory": old.directory}})

    async def on_sighup(self) -> None:
        if self.config.learn:
            _log.error("SIGHUP: a learning server (--learn) does not reload; restart it")
            return
        try:
            new, _ = await self.state.reload()
            _log.info("SIGHUP: reloaded the %s router of %s", new.name, new.directory)
        except ReloadRefused as exc:
            _log.error("SIGHUP: %s; still serving the previous router", _message(exc))

    async def load_first(self, stop) -> None:
        """The first router, off the event loop; a failure is fatal (``stop``)."""
        try:
            await asyncio.to_thread(self.state.load_now, self.source)
            _log.info("serving the %s router of %s", self.state.current.name, self.source)
        except Exception as exc:  # noqa: BLE001 - reported and the server stops
            self.state.load_error = _message(exc)
            _log.error("%s", self.state.load_error)
            if stop is not None:
                stop()

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        from .feedback import FeedbackStore
        from .proxy import Gateway

        if self.upstreams:
            self.gateway = Gateway(self.upstreams, self.metrics,
                                   timeout=self.config.upstream_timeout,
                                   max_attempts=self.config.max_attempts)
        if self.config.feedback:
            self.feedback = FeedbackStore(
                self.config.feedback,
                models=lambda: self.state.current.models if self.state.current else None)
        loading = None
        if self.state.current is None:
            if self.config.workers > 1:  # ready means loaded: uvicorn's rolling restart waits
                await asyncio.to_thread(self.state.load_now, self.source)
            else:
                loading = asyncio.create_task(self.load_first(app.state.stop))
        loop = asyncio.get_running_loop()
        if self.config.workers == 1:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.on_sighup()))
        try:
            yield
        finally:
            if self.config.workers == 1:
                loop.remove_signal_handler(signal.SIGHUP)
            if loading is not None and not loading.done():
                loading.cancel()
            if self.gateway is not None:
                await self.gateway.aclose()
            if self.feedback is not None:
                self.feedback.close()
            if self.config.learn_state and self.state.current is not None:  # --learn's state
                await asyncio.to_thread(self.state.current.router.save_on_exit, self.gateway)
            self.state.close()


async def _http_error(request, exc: HTTPException):
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: f"no endpoint {request.url.path} (see docs/serve.md)",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(
        exc.status_code, str(exc.detail))
    return _error(request, exc.status_code, message, kind, exc.headers)


def build_app(config: ServeConfig, *, upstreams: dict | None = None) -> Starlette:
    """The ASGI app of one server. ``upstreams``: the checked ``--upstreams`` file (None: read
    it here). ``app.state.stop``, when set (the command sets it), stops the server if the
    router cannot be loaded."""
    from .learn import gateway_upstreams, learn_source, serving_loader

    source = learn_source(config) if config.learn else config.router
    if upstreams is None:
        upstreams = gateway_upstreams(config, router_models(source))
    metrics = ServeMetrics()
    in_flight = InFlight()
    state = RouterState(None if not upstreams else set(upstreams),
                        serving_loader(config) if config.learn else None, in_flight)
    server = Server(config, state, metrics)
    server.source = source
    server.upstreams = upstreams
    routes = [
        Route("/health", server.health, methods=["GET"]),
        Route("/v1/route", server.route, methods=["POST"]),
        Route("/v1/chat/completions", server.chat, methods=["POST"]),
        Route("/v1/feedback", server.feedback_post, methods=["POST"]),
        Route("/metrics", server.metrics_get, methods=["GET"]),
        Route("/admin/reload", server.reload, methods=["POST"]),
        Route("/admin/models", server.models, methods=["GET", "POST"]),
        Route("/admin/models/{model}", server.models, methods=["DELETE"]),
        Route("/admin/save", server.save, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error},
                    lifespan=server.lifespan)
    app.state.stop = None
    app.state.server = server
    app.add_middleware(Guard, metrics=metrics, api_key=config.api_key(),
                       max_body_bytes=config.max_body_bytes,
                       max_concurrency=config.max_concurrency, in_flight=in_flight,
                       endpoints=[route.path for route in routes])
    return app


def app_from_env() -> Starlette:
    """The app of a worker process (``routerrec serve --workers N``), from the settings the
    command checked and put in the environment."""
    return build_app(ServeConfig.from_env())
