"""The gateway half of ``routerrec serve``: what ``/v1/chat/completions`` routes on, and the
forwarding of the request to the picked model's upstream with fallback to the next-best.

The requested ``model`` names the policy (``router``, ``router:wtp=0.5``,
``router:max_cost=0.01``); the prompt routed on is the last user message. The body goes to the
upstream as it came, only ``model`` rewritten to the upstream's name; the answer comes back as
it is (status, body, the upstream's end-to-end headers), a stream chunk by chunk as it arrives.
A connect error, a timeout or a 5xx / 429 before the first byte of the answer reaches the
client moves on to the next-best model (at most ``max_attempts`` tries); any other 4xx is
returned unchanged, since another model would refuse the same request.
"""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable

import aiohttp
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..util import validate
from .metrics import ServeMetrics
from .upstreams import Upstream

__all__ = ["chat_policy", "chat_prompt", "Gateway"]

POLICY_PREFIX = "router"
POLICY_KEYS = ("wtp", "max_cost")
# Not forwarded from the upstream's answer: meaningful for one connection only (RFC 9110
# 7.6.1), or set again by this server (length, date, server).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                        "content-length", "date", "server"})
RETRY_STATUSES = frozenset({429})  # with every 5xx: another model may well answer
MAX_CONNECTIONS = 1000
KEEPALIVE_SECONDS = 30
# what a failed try raises: aiohttp's errors (refused, reset, broken, cut short) and timeouts
TRY_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def chat_policy(model_field) -> dict:
    """The pick rule a chat request asks for through its ``model`` field, as keyword arguments
    of ``Router.decide``: ``router`` (or no model) is the router's default."""
    if model_field is None or model_field == POLICY_PREFIX:
        return {}
    usage = (f"model must be '{POLICY_PREFIX}', '{POLICY_PREFIX}:wtp=X' or "
             f"'{POLICY_PREFIX}:max_cost=X' (X >= 0)")
    if not isinstance(model_field, str) or not model_field.startswith(POLICY_PREFIX + ":"):
        raise ValueError(f"{usage}, got {model_field!r}")
    key, equals, value = model_field[len(POLICY_PREFIX) + 1:].partition("=")
    if not equals or key not in POLICY_KEYS:
        raise ValueError(f"{usage}, got {model_field!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{usage}: {key} must be a number, got {value!r}") from None
    return {key: validate.real(f"model's {key}", number, low=0)}


def _text(where: str, content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content
                 if isinstance(part, dict) and part.get("type") == "text"]
        if parts and all(isinstance(part, str) for part in parts):
            return "\n".join(parts)
    raise ValueError(f"{where} content must be a string or a list holding text parts "
                     f"({{'type': 'text', 'text': ...}}), got {json.dumps(content)[:80]}")


def chat_prompt(body: dict) -> str:
    """The text routed on: the last user message's content (its text parts joined by line
    breaks when it is a list of parts). ValueError names what is malformed."""
    if not isinstance(body, dict):
        raise ValueError(f"the request body must be a JSON object, got {type(body).__name__}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f"messages[{i}] must be an object with a string 'role', got "
                             f"{json.dumps(message)[:80]}")
    users = [i for i, message in enumerate(messages) if message["role"] == "user"]
    if not users:
        raise ValueError("messages hold no message with role 'user' (the prompt routed on)")
    return _text(f"messages[{users[-1]}]", messages[users[-1]].get("content"))


def _error_kind(error: Exception) -> str:
    """The metrics' kind of a failed try: timeout, else connect (refused, reset, broken)."""
    return "timeout" if isinstance(error, asyncio.TimeoutError) else "connect"


class Gateway:
    """Forwards chat requests to the upstreams over one pool of keep-alive connections
    (``aclose`` on shutdown). ``timeout`` bounds getting a connection and each read of one
    try. The client is aiohttp's: a call costs much less CPU than through httpx's pooled
    transport, and the client is most of the gateway's own time.
    Its session belongs to the event loop that first forwards (it cannot be made outside a
    running loop), so the Gateway is built anywhere and opens it on first use."""

    def __init__(self, upstreams: dict[str, Upstream], metrics: ServeMetrics, *,
                 timeout: float = 60.0, max_attempts: int = 3):
        validate.instance("upstreams", upstreams, dict)
        if not upstreams:
            raise ValueError("upstreams must name at least one model's upstream")
        self.upstreams = {model: validate.instance(f"upstreams[{model!r}]", upstream, Upstream)
                          for model, upstream in upstreams.items()}
        self.metrics = validate.instance("metrics", metrics, ServeMetrics)
        self.timeout = validate.real("timeout", timeout, low=0, low_open=True)
        self.max_attempts = validate.integer("max_attempts", max_attempts, low=1)
        # keys are read once: a request never pays for the environment lookup
        self._headers = {model: self._request_headers(upstream)
                         for model, upstream in self.upstreams.items()}
        self._urls = {model: upstream.base_url + "/chat/completions"
                      for model, upstream in self.upstreams.items()}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The pool, on the running loop. No cookies, no decompression: the answer's bytes
        are passed on as they came."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS,
                                           keepalive_timeout=KEEPALIVE_SECONDS),
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout,
                                          sock_read=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    @staticmethod
    def _request_headers(upstream: Upstream) -> dict:
        # identity: the bytes are passed on as they come, never re-encoded here
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if upstream.api_key_env:
            key = os.environ.get(upstream.api_key_env)
            if not key:
                raise ValueError(f"the upstream of {upstream.model!r} reads its key from "
                                 f"{upstream.api_key_env}, which is not set")
            headers["authorization"] = f"Bearer {key}"
        return headers

    def check_upstream(self, upstream: Upstream) -> None:
        """ValueError when ``upstream`` could not be called (its key variable is unset)."""
        self._request_headers(upstream)

    def add_upstream(self, upstream: Upstream) -> None:
        """Register a model's upstream at run time (``serve --learn``'s ``/admin/models``)."""
        headers = self._request_headers(upstream)
        self._headers[upstream.model] = headers
        self._urls[upstream.model] = upstream.base_url + "/chat/completions"
        self.upstreams[upstream.model] = upstream

    def remove_upstream(self, model: str) -> None:
        """Forget a model's upstream (a try already sent to it finishes)."""
        for table in (self.upstreams, self._headers, self._urls):
            table.pop(model, None)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(self, body: dict, ranked: list[str], request_id: str,
                      more: Callable[[], Awaitable[list[str]]] | None = None) -> Response:
        """Try ranked[0], then the next on connect error / 5xx / 429 / timeout (before the first
        byte of the answer only), at most ``max_attempts``; rewrite body["model"]; stream SSE
        chunk by chunk when body.get("stream"); headers x-routerrec-model,
        x-routerrec-request-id, x-routerrec-fallback (count of failed tries); 502 JSON error
        naming the models tried when all fail. ``more``, when given, returns the whole
        fallback order (models already tried are skipped); it is awaited only once ``ranked``
        has failed, so a request whose pick answers never pays for ranking the others. A
        model whose upstream is gone by the time it is tried (retired live while the request
        waited for its decision) counts as a failed try: the next model answers."""
        if not ranked:
            raise ValueError("ranked must list at least one model")
        self.metrics.picks.labels(ranked[0]).inc()
        if self._session is None:
            self._session = self._open()
        order, failures = list(ranked[:self.max_attempts]), []
        tried = 0
        while tried < len(order):
            model, response = order[tried], None
            if model in self.upstreams:
                response = await self._try(model, body, request_id, failures)
            else:
                failures.append((model, "retired: it has no upstream any more"))
            if response is not None:
                if failures:
                    self.metrics.fallbacks.inc()
                return response
            tried += 1
            if tried == len(order) < self.max_attempts and more is not None:
                later = await more()
                more = None
                order += [model for model in later if model not in order]
                del order[self.max_attempts:]
        return self._all_failed(failures, request_id)

    async def _try(self, model: str, body: dict, request_id: str,
                   failures: list) -> Response | None:
        """One upstream's answer as this server's response, or None (the failure recorded in
        ``failures`` and the metrics) when the next model should be tried."""
        content = json.dumps(dict(body, model=self.upstreams[model].name_upstream),
                             ensure_ascii=False).encode()
        try:
            answer = await self._session.post(self._urls[model], data=content,
                                              headers=self._headers[model])
        except TRY_ERRORS as error:
            return self._failed(failures, model, _error_kind(error), type(error).__name__)
        if answer.status >= 500 or answer.status in RETRY_STATUSES:
            answer.release()
            return self._failed(failures, model, "status", str(answer.status))
        headers = self._answer_headers(answer, model, request_id, len(failures))
        if body.get("stream"):
            return StreamingResponse(self._relay(answer, model), answer.status, headers)
        try:  # the whole answer is read before any byte is sent: still time to fall back
            return Response(await answer.read(), answer.status, headers)
        except TRY_ERRORS as error:
            answer.close()
            return self._failed(failures, model, _error_kind(error), type(error).__name__)

    def _failed(self, failures: list, model: str, kind: str, detail: str) -> None:
        failures.append((model, f"{kind}: {detail}"))
        self.metrics.upstream_errors.labels(model, kind).inc()

    @staticmethod
    def _answer_headers(answer: aiohttp.ClientResponse, model: str, request_id: str,
                        failed: int) -> dict:
        headers = {name: value for name, value in answer.headers.items()
                   if name.lower() not in HOP_BY_HOP}
        headers.update({"x-routerrec-model": model, "x-routerrec-request-id": request_id,
                        "x-routerrec-fallback": str(failed)})
        return headers

    async def _relay(self, answer: aiohttp.ClientResponse, model: str):
        """The upstream's bytes as they arrive; a failure mid-stream cuts the client's stream
        short (no fallback: part of an answer has been sent) and is counted. Closing an
        answer not read to its end (the client left) closes its connection, so the upstream
        stops too; one read to its end has already gone back to the pool."""
        try:
            async for chunk in answer.content.iter_any():
                yield chunk
        except TRY_ERRORS as error:
            self.metrics.upstream_errors.labels(model, _error_kind(error)).inc()
            raise
        finally:
            answer.close()

    def _all_failed(self, failures: list, request_id: str) -> JSONResponse:
        tried = ", ".join(f"{model} ({why})" for model, why in failures)
        return JSONResponse(
            {"error": {"message": f"no upstream answered; tried {tried}",
                       "type": "upstream_error", "code": "upstreams_failed",
                       "models": [model for model, _ in failures]}},
            502, {"x-routerrec-request-id": request_id,
                  "x-routerrec-fallback": str(len(failures))})
