"""What every request goes through before its endpoint: a request id, the API key, the body
size limit, the concurrency bound, and the per-endpoint metrics.

One plain ASGI middleware (Starlette's ``BaseHTTPMiddleware`` costs a task and a queue per
request, a third of ``/health``'s budget): it wraps ``receive`` to count body bytes and
``send`` to add the request id header and read the status.
"""
from __future__ import annotations

import hmac
import itertools
import json
import math
import secrets
import time

__all__ = ["Guard", "BodyTooLarge", "error_body", "REQUEST_ID_HEADER", "OPEN_PATHS"]

REQUEST_ID_HEADER = "x-routerrec-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()
# answered without a key and outside the concurrency bound: a load balancer's probe carries
# no key, and must see a saturated server as alive
OPEN_PATHS = frozenset({"/health"})
RETRY_AFTER_SECONDS = "1"


class BodyTooLarge(Exception):
    """The request body passed ``--max-body-bytes`` while it was read."""


def json_number(x: float):
    """JSON has no NaN or infinity: an unknown number (a predicted score or cost) is null."""
    return x if math.isfinite(x) else None


def error_body(message: str, kind: str, request_id: str | None = None) -> bytes:
    """An OpenAI-style error object (clients of the gateway already parse this shape)."""
    error = {"message": message, "type": kind}
    if request_id:
        error["request_id"] = request_id
    return json.dumps({"error": error}).encode()


class Guard:
    """The middleware (see the module doc); ``api_key`` None means no auth."""

    def __init__(self, app, *, metrics, api_key: str | None, max_body_bytes: int,
                 max_concurrency: int, in_flight, endpoints):
        self.app, self.metrics = app, metrics
        self.expected = None if api_key is None else f"Bearer {api_key}".encode()
        self.max_body_bytes, self.max_concurrency = max_body_bytes, max_concurrency
        self.in_flight = in_flight  # state.InFlight: bounded requests inside the app now
        # ids unique across processes and restarts (a random prefix per process) without a
        # urandom call per request (uuid4 was the guard's largest cost)
        self.id_prefix, self.id_counter = secrets.token_hex(8), itertools.count()
        self._counters: dict = {}
        # the metrics' endpoint label: the app's route paths ("/admin/models/{model}" for
        # every model's path), "other" for a path no route has
        self.endpoints = frozenset(e for e in endpoints if "{" not in e)
        self.templates = [(e.partition("{")[0], e) for e in endpoints if "{" in e]
        self._timers = {e: metrics.latency.labels(e) for e in (*endpoints, "other")}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        path = scope["path"]
        endpoint = path if path in self.endpoints else self._template(path)
        request_id = f"{self.id_prefix}{next(self.id_counter):016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        status = [None]  # set when the answer starts

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", ()))
                if not any(k.lower() == _REQUEST_ID for k, _ in headers):
                    headers.append((_REQUEST_ID, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            refusal = self._refusal(scope, path)
            if refusal is not None:
                await self._reply(send_with_id, *refusal, request_id)
                return
            bounded = path not in OPEN_PATHS
            if bounded:
                self.in_flight.enter(scope.get("client"))
            try:
                await self.app(scope, self._counting(receive), send_with_id)
            finally:
                if bounded:
                    self.in_flight.leave()
        except BodyTooLarge:
            await self._too_large(send_with_id, status, request_id)
        finally:
            self._count(endpoint, status[0] or 500, time.perf_counter() - start)

    def _template(self, path: str) -> str:
        for prefix, template in self.templates:
            if path.startswith(prefix) and "/" not in path[len(prefix):]:
                return template
        return "other"

    def _refusal(self, scope, path):
        """(status, message, kind, extra headers) when the request is refused before its
        endpoint runs, else None."""
        headers = dict(scope["headers"])
        if self.expected is not None and path not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                return (401, "missing or wrong API key: send the header 'Authorization: Bearer "
                             "<key>'", "authentication_error", [(b"www-authenticate", b"Bearer")])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return (413, f"the request body has {int(length)} bytes; this server takes at most "
                         f"{self.max_body_bytes} (--max-body-bytes)", "request_too_large", [])
        if path not in OPEN_PATHS and self.in_flight.count >= self.max_concurrency:
            return (503, f"the server is busy ({self.in_flight.count} requests in flight, "
                         f"--max-concurrency {self.max_concurrency}); retry after "
                         f"{RETRY_AFTER_SECONDS} s", "server_busy",
                    [(b"retry-after", RETRY_AFTER_SECONDS.encode())])
        return None

    def _counting(self, receive):
        """``receive`` that raises BodyTooLarge once the body passes the limit (a chunked
        body has no length to check up front)."""
        seen = [0]

        async def counted():
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body_bytes:
                    raise BodyTooLarge()
            return message
        return counted

    async def _too_large(self, send, status, request_id):
        if status[0] is None:  # else the endpoint had answered already: nothing more to send
            await self._reply(send, 413, f"the request body passed {self.max_body_bytes} "
                              "bytes (--max-body-bytes)", "request_too_large", [], request_id)

    @staticmethod
    async def _reply(send, status, message, kind, headers, request_id):
        body = error_body(message, kind, request_id)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})

    def _count(self, endpoint: str, status: int, seconds: float) -> None:
        counter = self._counters.get((endpoint, status))
        if counter is None:
            counter = self._counters[endpoint, status] = self.metrics.requests.labels(
                endpoint, str(status))
        counter.inc()
        self._timers[endpoint].observe(seconds)
