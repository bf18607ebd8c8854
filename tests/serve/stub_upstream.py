"""A local stand-in for an OpenAI-compatible LLM provider (the real ones cannot run here).

It answers ``POST /v1/chat/completions`` deterministically ("NAME says: <last user message>"),
streams server-sent events (one chunk per word, ``data: [DONE]`` last) when ``"stream": true``,
answers a request carrying ``tools`` with a call of the first tool and echoes ``tools`` back
(top-level ``"tools"``) so pass-through is checkable, and behaves on command:
``POST /control {"mode": "ok" | "fail" | "busy" | "hang", "chunk_delay": seconds}`` (fail = 500
before any byte, busy = 429 with Retry-After, hang = no answer until the client gives up). ``GET /requests`` lists the chat
requests it received (path, headers, body), newest last; ``GET /health`` says it is up and
counts the streams it sent whole and those abandoned by the client midway.

Run it alone: ``python tests/serve/stub_upstream.py --port 9001 --name small``, or from a
test: ``with start_stub(name="small") as stub: stub.base_url`` (loopback, a free port).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

MODES = ("ok", "fail", "busy", "hang")
KEPT_REQUESTS = 200  # the /requests log is bounded: a load test must not grow it without end
STARTUP_SECONDS = 20.0


def build_app(name: str, chunk_delay: float = 0.0):
    """The stub's Starlette app; ``chunk_delay`` seconds pass between two streamed chunks."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    state = {"mode": "ok", "chunk_delay": chunk_delay, "requests": [], "streams": {
        "finished": 0, "abandoned": 0}}

    async def health(request):
        return JSONResponse({"status": "ok", "name": name, "mode": state["mode"],
                             "streams": state["streams"]})

    async def control(request):
        body = await request.json()
        if body.get("mode", state["mode"]) not in MODES:
            return JSONResponse({"error": {"message": f"mode must be one of {MODES}"}}, 400)
        state["mode"] = body.get("mode", state["mode"])
        state["chunk_delay"] = float(body.get("chunk_delay", state["chunk_delay"]))
        return JSONResponse({"mode": state["mode"], "chunk_delay": state["chunk_delay"]})

    async def requests_seen(request):
        return JSONResponse(state["requests"])

    async def chat(request):
        raw = await request.body()
        try:
            body = json.loads(raw)
            messages = body["messages"]
            last = next(m for m in reversed(messages) if m.get("role") == "user")
        except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
            return JSONResponse({"error": {"message": "messages must hold a user message",
                                           "type": "invalid_request_error"}}, 400)
        state["requests"] = (state["requests"] + [{
            "path": request.url.path, "headers": dict(request.headers), "body": body}])[-KEPT_REQUESTS:]
        if state["mode"] == "fail":
            return JSONResponse({"error": {"message": f"{name} failed on command",
                                           "type": "server_error"}}, 500)
        if state["mode"] == "busy":
            return JSONResponse({"error": {"message": f"{name} is rate limited on command",
                                           "type": "rate_limit_error"}}, 429, {"retry-after": "1"})
        if state["mode"] == "hang":  # until the client gives up (bounded: an hour)
            for _ in range(36000):
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.1)
            return JSONResponse({"error": {"message": f"{name} hung on command"}}, 504)
        content = last.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
        answer = f"{name} says: {content}"
        if body.get("stream"):
            return StreamingResponse(_counted(_events(body, answer, state["chunk_delay"]),
                                              state["streams"]),
                                     media_type="text/event-stream")
        return JSONResponse(_completion(body, answer))

    return Starlette(routes=[Route("/health", health), Route("/control", control, methods=["POST"]),
                             Route("/requests", requests_seen),
                             Route("/v1/chat/completions", chat, methods=["POST"])])


def _tool_calls(body: dict) -> list[dict]:
    tools = body.get("tools") or []
    if not tools:
        return []
    return [{"id": "call_0", "type": "function",
             "function": {"name": tools[0]["function"]["name"], "arguments": "{}"}}]


def _completion(body: dict, answer: str) -> dict:
    calls = _tool_calls(body)
    message = {"role": "assistant", "content": answer}
    if calls:
        message["tool_calls"] = calls
    result = {"id": "chatcmpl-stub", "object": "chat.completion", "created": 0,
              "model": body.get("model"),
              "choices": [{"index": 0, "message": message,
                           "finish_reason": "tool_calls" if calls else "stop"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": len(answer.split()),
                        "total_tokens": 1 + len(answer.split())}}
    if "tools" in body:
        result["tools"] = body["tools"]
    return result


def _chunk(body: dict, delta: dict, finish: str | None = None) -> bytes:
    data = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n".encode()


async def _counted(events, streams: dict):
    """Count streams sent to the end and those the client abandoned (closed midway)."""
    finished = False
    try:
        async for event in events:
            yield event
        finished = True
    finally:
        streams["finished" if finished else "abandoned"] += 1


async def _events(body: dict, answer: str, delay: float):
    """Role first, one chunk per word, the tool call if any, the finish reason, then [DONE]."""
    yield _chunk(body, {"role": "assistant", "content": ""})
    words = answer.split(" ")
    for i, word in enumerate(words):
        await asyncio.sleep(delay)
        yield _chunk(body, {"content": word if i == 0 else " " + word})
    calls = _tool_calls(body)
    if calls:
        yield _chunk(body, {"tool_calls": [dict(call, index=0) for call in calls]})
    yield _chunk(body, {}, "tool_calls" if calls else "stop")
    yield b"data: [DONE]\n\n"


@dataclass
class Stub:
    """A running stub process: ``url`` its root, ``base_url`` what an upstreams file names."""
    name: str
    url: str
    proc: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def control(self, mode: str, **settings) -> dict:
        reply = httpx.post(self.url + "/control", json={"mode": mode, **settings}, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def requests(self) -> list[dict]:
        return httpx.get(self.url + "/requests", timeout=5).json()

    def streams(self) -> dict:
        """{"finished": n, "abandoned": m}: streams sent whole, streams the client closed."""
        return httpx.get(self.url + "/health", timeout=5).json()["streams"]

    def kill(self) -> None:
        """SIGKILL, as a crashed provider: its port refuses connections afterwards."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def start_stub(port: int | None = None, name: str = "stub", chunk_delay: float = 0.0):
    """Start the stub in a subprocess on 127.0.0.1 (a free port unless ``port``), wait until
    /health answers, yield its ``Stub``, stop it on exit."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--port", str(port or 0),
                             "--name", name, "--chunk-delay", str(chunk_delay)],
                            stdout=subprocess.PIPE, text=True)
    try:
        stub = Stub(name, _announced_url(proc), proc)
        _wait_healthy(stub)
        yield stub
    finally:
        _stop(proc)
        proc.stdout.close()


def _announced_url(proc: subprocess.Popen) -> str:
    """The stub prints its URL once its socket is bound (race-free free port)."""
    ready, _, _ = select.select([proc.stdout], [], [], STARTUP_SECONDS)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"stub upstream did not start (said {line!r}, exit {proc.poll()})")
    return line.split()[-1]


def _wait_healthy(stub: Stub) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(stub.url + "/health", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"stub upstream at {stub.url} did not answer /health within "
                       f"{STARTUP_SECONDS} s")


def main(argv=None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--name", default="stub", help="said in every answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0,
                        help="seconds between two streamed chunks")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(build_app(args.name, args.chunk_delay), log_level="warning",
                            access_log=False, timeout_graceful_shutdown=1)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
