"""The gateway against real stub upstream processes (tests/serve/stub_upstream.py), without the
server around it: each answer is played through its ASGI interface as uvicorn would, so what a
client would receive, chunk by chunk, is what is checked."""
from __future__ import annotations

import asyncio
import json
import statistics
import time

import aiohttp
import httpx
import pytest

from routerrec.serve.metrics import ServeMetrics
from routerrec.serve.proxy import Gateway, chat_policy, chat_prompt
from routerrec.serve.upstreams import Upstream
from stub_upstream import start_stub

HELLO = {"model": "router", "messages": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": "hello there"}]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def stubs():
    with start_stub(name="a") as a, start_stub(name="b") as b, start_stub(name="c") as c:
        yield {"a": a, "b": b, "c": c}


@pytest.fixture(autouse=True)
def healthy(request):
    """Every shared stub answers normally again after each test."""
    yield
    if "stubs" in request.fixturenames:
        for stub in request.getfixturevalue("stubs").values():
            stub.control("ok", chunk_delay=0.0)


def upstreams(stubs, **renamed) -> dict:
    return {name: Upstream(name, stub.base_url, upstream_model=renamed.get(name))
            for name, stub in stubs.items()}


async def play(response, after_first=None):
    """Run a Starlette response as the server would: (time, body bytes) per body message;
    ``after_first()`` is called once the first body message has been sent."""
    start, bodies = [], []

    async def receive():
        await asyncio.sleep(3600)  # the client never disconnects

    async def send(message):
        if message["type"] == "http.response.start":
            start.append(message)
        elif message["body"]:
            bodies.append((time.monotonic(), message["body"]))
            if after_first and len(bodies) == 1:
                after_first()

    await response({"type": "http", "asgi": {"spec_version": "2.4"}}, receive, send)
    return bodies


def forward(ups, body, ranked, *, timeout=5.0, max_attempts=3, request_id="req-1",
            metrics=None, after_first=None, more=None):
    """(response, [(time, bytes)], metrics) of one forwarded request."""
    metrics = metrics or ServeMetrics()

    async def run():
        gateway = Gateway(ups, metrics, timeout=timeout, max_attempts=max_attempts)
        try:
            response = await gateway.forward(body, ranked, request_id, more)
            return response, await play(response, after_first)
        finally:
            await gateway.aclose()

    response, bodies = asyncio.run(run())
    return response, bodies, metrics


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def content(bodies) -> bytes:
    return b"".join(chunk for _, chunk in bodies)


def answer_text(bodies) -> str:
    """The assistant's text of a JSON answer or of a stream of server-sent events."""
    raw = content(bodies).decode()
    if not raw.startswith("data: "):
        return json.loads(raw)["choices"][0]["message"]["content"]
    events = [json.loads(event[6:]) for event in raw.split("\n\n") if event.startswith("data: {")]
    return "".join(event["choices"][0]["delta"].get("content") or "" for event in events)


@pytest.mark.parametrize("field, policy", [
    (None, {}), ("router", {}), ("router:wtp=0.5", {"wtp": 0.5}),
    ("router:max_cost=0.01", {"max_cost": 0.01}), ("router:wtp=0", {"wtp": 0.0}),
])
def test_chat_policy(field, policy):
    assert chat_policy(field) == policy


@pytest.mark.parametrize("field, message", [
    ("gpt-4", r"model must be 'router', 'router:wtp=X' or 'router:max_cost=X'.*got 'gpt-4'"),
    ("router:", r"got 'router:'"), ("router:wtp", r"got 'router:wtp'"),
    ("router:temperature=1", r"got 'router:temperature=1'"),
    ("router:wtp=abc", r"wtp must be a number, got 'abc'"),
    ("router:wtp=-1", r"model's wtp must be a finite number >= 0, got -1"),
    ("router:max_cost=nan", r"max_cost must be a finite number >= 0, got nan"),
    (3, r"got 3"), ("routerx", r"got 'routerx'"),
])
def test_chat_policy_refuses(field, message):
    with pytest.raises(ValueError, match=message):
        chat_policy(field)


def test_chat_prompt_is_the_last_user_message():
    assert chat_prompt(HELLO) == "hello there"
    turns = {"messages": [{"role": "user", "content": "first"},
                          {"role": "assistant", "content": "ok"},
                          {"role": "user", "content": [{"type": "text", "text": "second"},
                                                       {"type": "image_url", "image_url": {}},
                                                       {"type": "text", "text": "part"}]},
                          {"role": "tool", "content": "42", "tool_call_id": "x"}]}
    assert chat_prompt(turns) == "second\npart"


@pytest.mark.parametrize("body, message", [
    ([], r"the request body must be a JSON object, got list"),
    ({}, r"messages must be a non-empty list"),
    ({"messages": []}, r"messages must be a non-empty list"),
    ({"messages": "hi"}, r"messages must be a non-empty list"),
    ({"messages": ["hi"]}, r"messages\[0\] must be an object with a string 'role'"),
    ({"messages": [{"content": "hi"}]}, r"messages\[0\] must be an object with a string 'role'"),
    ({"messages": [{"role": "system", "content": "hi"}]}, r"no message with role 'user'"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\] content must be a string or a list"),
    ({"messages": [{"role": "user", "content": 5}]}, r"content must be a string .* got 5"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, r"text parts"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, r"text parts"),
])
def test_chat_prompt_refuses(body, message):
    with pytest.raises(ValueError, match=message):
        chat_prompt(body)


def test_plain_request_forwarded_with_model_rewritten(stubs, monkeypatch):
    monkeypatch.setenv("STUB_A_KEY", "sk-test-a")
    ups = upstreams(stubs, a="a-upstream-name")
    ups["a"] = Upstream("a", stubs["a"].base_url, "STUB_A_KEY", "a-upstream-name")
    body = dict(HELLO, temperature=0.2, max_tokens=7, user="u-1")
    response, bodies, metrics = forward(ups, body, ["a", "b"])
    answer = json.loads(content(bodies))
    assert response.status_code == 200
    assert answer_text(bodies) == "a says: hello there"
    assert answer["model"] == "a-upstream-name"
    assert response.headers["x-routerrec-model"] == "a"
    assert response.headers["x-routerrec-request-id"] == "req-1"
    assert response.headers["x-routerrec-fallback"] == "0"
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(content(bodies))
    seen = stubs["a"].requests()[-1]
    assert seen["body"] == dict(body, model="a-upstream-name")  # only the model field changed
    assert seen["headers"]["authorization"] == "Bearer sk-test-a"
    assert sample(metrics, "routerrec_picks_total", model="a") == 1
    assert sample(metrics, "routerrec_fallbacks_total") == 0


def test_hop_by_hop_headers_are_not_passed_back(stubs):
    response, _, _ = forward(upstreams(stubs), dict(HELLO, stream=True), ["a"])
    names = {name.lower() for name in response.headers}
    assert not names & {"transfer-encoding", "connection", "keep-alive", "date", "server"}
    assert response.headers["content-type"].startswith("text/event-stream")


def test_streaming_passes_chunks_through_as_they_arrive(stubs):
    delay = 0.05
    stubs["a"].control("ok", chunk_delay=delay)
    body = dict(HELLO, stream=True)
    response, bodies, _ = forward(upstreams(stubs), body, ["a"])
    direct = httpx.post(stubs["a"].base_url + "/chat/completions", json=dict(body, model="a"),
                        timeout=10).content
    assert response.status_code == 200
    assert content(bodies) == direct  # byte for byte what the upstream sent
    words = len("a says: hello there".split())
    assert len(bodies) >= words  # one body message per delayed chunk, not one buffered blob
    assert bodies[-1][1].endswith(b"data: [DONE]\n\n")
    gaps = [later - earlier for (earlier, _), (later, _) in zip(bodies, bodies[1:])]
    assert sum(gap >= delay * 0.5 for gap in gaps) >= words - 1
    assert answer_text(bodies) == "a says: hello there"


def test_tools_pass_through(stubs):
    body = dict(HELLO, tools=TOOLS, tool_choice="auto", parallel_tool_calls=False)
    response, bodies, _ = forward(upstreams(stubs), body, ["b"])
    answer = json.loads(content(bodies))
    assert answer["tools"] == TOOLS
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert stubs["b"].requests()[-1]["body"] == dict(body, model="b")


def test_upstream_4xx_is_returned_unchanged_without_fallback(stubs):
    before = len(stubs["b"].requests())
    body = {"model": "router", "messages": [{"role": "system", "content": "no user"}]}
    response, bodies, metrics = forward(upstreams(stubs), body, ["a", "b"])
    assert response.status_code == 400
    assert json.loads(content(bodies))["error"]["type"] == "invalid_request_error"
    assert response.headers["x-routerrec-model"] == "a"
    assert response.headers["x-routerrec-fallback"] == "0"
    assert len(stubs["b"].requests()) == before
    assert sample(metrics, "routerrec_upstream_errors_total", model="a", kind="status") == 0


@pytest.mark.parametrize("stream", [False, True])
def test_fallback_when_the_pick_fails(stubs, stream):
    stubs["a"].control("fail")
    response, bodies, metrics = forward(upstreams(stubs), dict(HELLO, stream=stream), ["a", "b"])
    assert response.status_code == 200
    assert answer_text(bodies) == "b says: hello there"
    assert response.headers["x-routerrec-model"] == "b"
    assert response.headers["x-routerrec-fallback"] == "1"
    assert sample(metrics, "routerrec_upstream_errors_total", model="a", kind="status") == 1
    assert sample(metrics, "routerrec_fallbacks_total") == 1
    assert sample(metrics, "routerrec_picks_total", model="a") == 1
    assert b"routerrec_fallbacks_total 1.0" in metrics.text()


def test_fallback_when_the_pick_is_rate_limited(stubs):
    """429: the request is fine, the provider is saturated; another model may well answer."""
    stubs["a"].control("busy")
    response, bodies, metrics = forward(upstreams(stubs), HELLO, ["a", "b"])
    assert answer_text(bodies) == "b says: hello there"
    assert response.headers["x-routerrec-fallback"] == "1"
    assert sample(metrics, "routerrec_upstream_errors_total", model="a", kind="status") == 1


def test_fallback_when_the_pick_hangs(stubs):
    stubs["a"].control("hang")
    started = time.monotonic()
    response, bodies, metrics = forward(upstreams(stubs), HELLO, ["a", "c"], timeout=0.5)
    assert time.monotonic() - started < 5
    assert answer_text(bodies) == "c says: hello there"
    assert response.headers["x-routerrec-fallback"] == "1"
    assert sample(metrics, "routerrec_upstream_errors_total", model="a", kind="timeout") == 1


def test_fallback_when_the_pick_is_killed(stubs):
    with start_stub(name="doomed") as doomed:
        ups = dict(upstreams(stubs), doomed=Upstream("doomed", doomed.base_url))
        response, _, _ = forward(ups, HELLO, ["doomed", "b"])
        assert response.headers["x-routerrec-model"] == "doomed"
        doomed.kill()
        response, bodies, metrics = forward(ups, HELLO, ["doomed", "b"])
    assert response.headers["x-routerrec-model"] == "b"
    assert response.headers["x-routerrec-fallback"] == "1"
    assert sample(metrics, "routerrec_upstream_errors_total", model="doomed", kind="connect") == 1


def test_an_upstream_dying_mid_stream_cuts_the_stream_short(stubs):
    """Part of the answer has reached the client: no fallback (it would splice two answers);
    the error reaches the server, which aborts the client's connection, and is counted."""
    metrics = ServeMetrics()
    with start_stub(name="dying", chunk_delay=0.2) as dying:
        ups = {"dying": Upstream("dying", dying.base_url), "b": Upstream("b", stubs["b"].base_url)}
        with pytest.raises(aiohttp.ClientPayloadError):
            forward(ups, dict(HELLO, stream=True), ["dying", "b"], metrics=metrics,
                    after_first=dying.kill)
    assert sample(metrics, "routerrec_upstream_errors_total", model="dying", kind="connect") == 1
    assert sample(metrics, "routerrec_fallbacks_total") == 0


class FallbackOrder:
    """The ``more`` of ``Gateway.forward``: the whole order, and how often it was asked for."""

    def __init__(self, order):
        self.order, self.calls = order, 0

    async def __call__(self):
        self.calls += 1
        return self.order


def test_the_fallback_order_is_not_asked_for_when_the_pick_answers(stubs):
    more = FallbackOrder(["a", "b"])
    response, bodies, _ = forward(upstreams(stubs), HELLO, ["a"], more=more)
    assert answer_text(bodies) == "a says: hello there"
    assert more.calls == 0


@pytest.mark.parametrize("stream", [False, True])
def test_the_fallback_order_is_asked_for_once_the_pick_fails(stubs, stream):
    stubs["a"].control("fail")
    more = FallbackOrder(["a", "b", "c"])  # starts with the pick already tried: skipped
    response, bodies, metrics = forward(upstreams(stubs), dict(HELLO, stream=stream), ["a"],
                                        more=more)
    assert more.calls == 1
    assert answer_text(bodies) == "b says: hello there"
    assert response.headers["x-routerrec-model"] == "b"
    assert response.headers["x-routerrec-fallback"] == "1"
    assert sample(metrics, "routerrec_fallbacks_total") == 1


def test_max_attempts_bounds_the_tries_of_the_fallback_order(stubs):
    stubs["a"].control("fail")
    stubs["b"].control("fail")
    before = len(stubs["c"].requests())
    more = FallbackOrder(["a", "b", "c"])
    response, bodies, _ = forward(upstreams(stubs), HELLO, ["a"], max_attempts=2, more=more)
    assert response.status_code == 502
    assert json.loads(content(bodies))["error"]["models"] == ["a", "b"]
    assert len(stubs["c"].requests()) == before


def test_all_failing_is_a_502_naming_the_models_tried(stubs):
    stubs["a"].control("fail")
    stubs["b"].control("hang")
    before = len(stubs["c"].requests())
    response, bodies, metrics = forward(upstreams(stubs), HELLO, ["a", "b", "c"], timeout=0.5,
                                        max_attempts=2)
    error = json.loads(content(bodies))["error"]
    assert response.status_code == 502
    assert error["models"] == ["a", "b"]
    assert error["message"] == ("no upstream answered; tried a (status: 500), "
                                "b (timeout: SocketTimeoutError)")
    assert len(stubs["c"].requests()) == before  # max_attempts bounds the tries
    assert response.headers["x-routerrec-fallback"] == "2"
    assert "x-routerrec-model" not in response.headers
    assert sample(metrics, "routerrec_fallbacks_total") == 0


def test_gateway_refuses_bad_arguments(stubs):
    with pytest.raises(ValueError, match="max_attempts must be an integer >= 1"):
        Gateway(upstreams(stubs), ServeMetrics(), max_attempts=0)
    with pytest.raises(ValueError, match="timeout must be a finite number > 0"):
        Gateway(upstreams(stubs), ServeMetrics(), timeout=0)
    with pytest.raises(ValueError, match="reads its key from NOT_SET_ANYWHERE_2, which is not set"):
        Gateway({"a": Upstream("a", "http://127.0.0.1:1/v1", "NOT_SET_ANYWHERE_2")}, ServeMetrics())
    with pytest.raises(ValueError, match=r"ranked must list at least one model"):
        forward(upstreams(stubs), HELLO, [])


def test_a_model_without_an_upstream_any_more_is_a_failed_try(stubs):
    """A model retired live (its upstream removed) while its request waited: the next one
    answers, and with none left the 502 names it."""
    answer, _, _ = forward(upstreams(stubs), HELLO, ["zzz"], more=FallbackOrder(["zzz", "b"]))
    assert answer.status_code == 200 and answer.headers["x-routerrec-model"] == "b"
    assert answer.headers["x-routerrec-fallback"] == "1"
    alone, bodies, _ = forward(upstreams(stubs), HELLO, ["zzz"])
    assert alone.status_code == 502
    assert "zzz (retired: it has no upstream any more)" in content(bodies).decode()


def test_gateway_adds_little_latency_over_a_direct_call(stubs):
    """The gateway's own work (rewrite, forward, header filtering, the answer played out as
    the server would) over the bare pooled call it makes (aiohttp's, as the gateway's):
    median of 200 alternating calls."""
    url = stubs["a"].base_url + "/chat/completions"
    content = json.dumps(dict(HELLO, model="a")).encode()

    async def run():
        gateway = Gateway(upstreams(stubs), ServeMetrics(), timeout=5)
        direct, through = [], []
        async with aiohttp.ClientSession() as pool:
            for i in range(220):
                started = time.perf_counter()
                async with pool.post(url, data=content,
                                     headers={"content-type": "application/json"}) as reply:
                    await reply.read()
                    assert reply.status == 200
                middle = time.perf_counter()
                await play(await gateway.forward(HELLO, ["a"], f"r{i}"))
                end = time.perf_counter()
                if i >= 20:  # warm-up: connections opened, code paths hot
                    direct.append(middle - started)
                    through.append(end - middle)
        await gateway.aclose()
        return statistics.median(direct), statistics.median(through)

    direct, through = asyncio.run(run())
    overhead_ms = (through - direct) * 1000
    print(f"direct p50 {direct * 1000:.3f} ms, through the gateway {through * 1000:.3f} ms, "
          f"overhead {overhead_ms:.3f} ms")
    assert overhead_ms < 1.0
