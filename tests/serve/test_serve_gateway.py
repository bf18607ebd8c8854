"""The chat gateway end to end: the real ``routerrec serve --upstreams`` in a subprocess, two
stub upstream processes standing in for the providers, clients over HTTP on 127.0.0.1 (every
call bounded), and the openai client of examples/serve_client.py."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from routerrec.data.sample import load_sample
from server import start_server
from stub_upstream import start_stub

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serve_client.py"
QUESTION = "Integrate x^2 from 0 to 3."
GATEWAY_KEY = "gateway-key-for-tests"
UPSTREAM_KEY = "sk-upstream-for-tests"
ENV = {"ROUTERREC_TEST_GATEWAY_KEY": GATEWAY_KEY, "ROUTERREC_TEST_UPSTREAM_KEY": UPSTREAM_KEY}


def chat_body(**fields) -> dict:
    return {"model": "router", "messages": [{"role": "user", "content": QUESTION}], **fields}


class Gateway:
    """A running gateway and its two upstreams: router model -> its stub."""

    def __init__(self, server, stubs: dict):
        self.server, self.stubs = server, stubs
        self.headers = {"authorization": f"Bearer {GATEWAY_KEY}"}

    def chat(self, **fields) -> httpx.Response:
        return self.server.post("/v1/chat/completions", json=chat_body(**fields),
                                headers=self.headers)

    def metric(self, line_start: str) -> float:
        text = self.server.get("/metrics", headers=self.headers).text
        values = [float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith(line_start)]
        return sum(values)


def gateway_for(tmp_path, router_dir, names, *extra):
    """Start two stubs for two of the router's models, an upstreams file naming them, and the
    server; a context manager yielding ``Gateway``."""
    import contextlib

    @contextlib.contextmanager
    def running():
        with start_stub(name="first") as one, start_stub(name="second") as two:
            upstreams = tmp_path / "upstreams.yaml"
            upstreams.write_text(
                f"models:\n"
                f"  {names[0]}:\n    base_url: {one.base_url}\n"
                f"    api_key_env: ROUTERREC_TEST_UPSTREAM_KEY\n    model: {names[0]}-upstream\n"
                f"  {names[1]}:\n    base_url: {two.base_url}\n")
            with start_server(router_dir, "--upstreams", upstreams, "--upstream-timeout", 2,
                              "--api-key-env", "ROUTERREC_TEST_GATEWAY_KEY", *extra,
                              env=ENV) as server:
                yield Gateway(server, {names[0]: one, names[1]: two})
    return running()


NAMES = tuple(load_sample().models[:2])  # acme-1b, acme-405b: the cheapest and the strongest


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, router_dir):
    with gateway_for(tmp_path_factory.mktemp("gateway"), router_dir, NAMES) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(request):
    yield
    if "gateway" in request.fixturenames:
        for stub in request.getfixturevalue("gateway").stubs.values():
            if stub.proc.poll() is None:
                stub.control("ok", chunk_delay=0.0)


def test_plain_chat_is_routed_forwarded_and_answered(gateway):
    reply = gateway.chat(temperature=0.0, tools=[{"type": "function", "function": {
        "name": "calculator", "parameters": {"type": "object", "properties": {}}}}])
    assert reply.status_code == 200, reply.text
    model = reply.headers["x-routerrec-model"]
    stub = gateway.stubs[model]
    answer = reply.json()
    assert answer["choices"][0]["message"]["content"] == f"{stub.name} says: {QUESTION}"
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "calculator"
    assert reply.headers["x-routerrec-fallback"] == "0"
    assert len(reply.headers.get_list("x-routerrec-request-id")) == 1
    seen = stub.requests()[-1]
    upstream_name = f"{model}-upstream" if model == NAMES[0] else model
    assert seen["body"] == chat_body(model=upstream_name, temperature=0.0,
                                     tools=answer["tools"])
    # the client's key for the gateway never reaches a provider; the provider's key does
    expected_key = f"Bearer {UPSTREAM_KEY}" if model == NAMES[0] else None
    assert seen["headers"].get("authorization") == expected_key
    assert not {"connection", "keep-alive", "transfer-encoding"} & set(
        name.lower() for name in reply.headers)


def test_the_router_picks_among_the_models_with_an_upstream(gateway):
    """The same prompt routed by /v1/route over those two models picks what chat answered."""
    decided = gateway.server.post("/v1/route", json={"prompt": QUESTION, "models": list(NAMES)},
                                  headers=gateway.headers).json()["decisions"][0]["model"]
    assert gateway.chat().headers["x-routerrec-model"] == decided
    cheap = gateway.server.post("/v1/route", json={"prompt": QUESTION, "models": list(NAMES),
                                                   "max_cost": 0.0}, headers=gateway.headers)
    assert gateway.chat(model="router:max_cost=0").headers["x-routerrec-model"] == \
        cheap.json()["decisions"][0]["model"]


@pytest.mark.parametrize("body, message", [
    (chat_body(model="gpt-4"), "model must be 'router'"),
    ({"model": "router", "messages": []}, "messages must be a non-empty list"),
    ({"model": "router", "messages": [{"role": "system", "content": "x"}]}, "role 'user'"),
])
def test_bad_chat_requests_are_400_with_a_message(gateway, body, message):
    reply = gateway.server.post("/v1/chat/completions", json=body, headers=gateway.headers)
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]


def test_chat_needs_the_gateway_key(gateway):
    reply = gateway.server.post("/v1/chat/completions", json=chat_body())
    assert reply.status_code == 401


def test_streaming_arrives_chunk_by_chunk(gateway):
    delay = 0.1
    for stub in gateway.stubs.values():
        stub.control("ok", chunk_delay=delay)
    arrivals = []
    with httpx.stream("POST", gateway.server.url + "/v1/chat/completions", timeout=10,
                      json=chat_body(stream=True), headers=gateway.headers) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        model = reply.headers["x-routerrec-model"]
        for chunk in reply.iter_raw():
            arrivals.append((time.monotonic(), chunk))
    raw = b"".join(chunk for _, chunk in arrivals).decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = [json.loads(event[6:]) for event in raw.split("\n\n") if event.startswith("data: {")]
    text = "".join(event["choices"][0]["delta"].get("content") or "" for event in events)
    assert text == f"{gateway.stubs[model].name} says: {QUESTION}"
    words = len(text.split(" "))
    # the words were sent `delay` apart, and so they arrived: nothing held them back
    spread = arrivals[-1][0] - arrivals[0][0]
    assert len(arrivals) >= words and spread >= delay * (words - 1) * 0.8


def test_a_client_leaving_mid_stream_stops_the_upstream_stream(gateway):
    """An abandoned answer is not left running at the provider (it would go on costing)."""
    for stub in gateway.stubs.values():
        stub.control("ok", chunk_delay=0.3)
    before = {name: stub.streams() for name, stub in gateway.stubs.items()}
    with httpx.stream("POST", gateway.server.url + "/v1/chat/completions", timeout=10,
                      json=chat_body(stream=True), headers=gateway.headers) as reply:
        name = reply.headers["x-routerrec-model"]
        next(reply.iter_raw())
    stub = gateway.stubs[name]
    expected = {"finished": before[name]["finished"], "abandoned": before[name]["abandoned"] + 1}
    deadline = time.monotonic() + 5
    while stub.streams() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stub.streams() == expected


def test_all_upstreams_failing_is_a_502(gateway):
    for stub in gateway.stubs.values():
        stub.control("fail")
    reply = gateway.chat()
    assert reply.status_code == 502
    error = reply.json()["error"]
    assert sorted(error["models"]) == sorted(NAMES)
    assert reply.headers["x-routerrec-fallback"] == "2"


def test_proxy_overhead_over_a_direct_call(gateway):
    """Chat through the gateway (routing included) against the same stub called directly,
    alternating, median of 200 after 20 warm-up; the issue's goal is <= 2 ms at p50."""
    with httpx.Client(timeout=10, headers=gateway.headers) as client:
        model = client.post(gateway.server.url + "/v1/chat/completions",
                            json=chat_body()).headers["x-routerrec-model"]
        direct_url = gateway.stubs[model].base_url + "/chat/completions"
        direct, through = [], []
        for i in range(220):
            started = time.perf_counter()
            assert client.post(direct_url, json=chat_body()).status_code == 200
            middle = time.perf_counter()
            assert client.post(gateway.server.url + "/v1/chat/completions",
                               json=chat_body()).status_code == 200
            if i >= 20:
                direct.append(middle - started)
                through.append(time.perf_counter() - middle)
    overhead = (statistics.median(through) - statistics.median(direct)) * 1000
    print(f"direct p50 {statistics.median(direct) * 1000:.2f} ms, through the gateway "
          f"{statistics.median(through) * 1000:.2f} ms: overhead {overhead:.2f} ms")
    assert overhead < 10  # loose here (a shared, busy test machine); the number is printed


@pytest.mark.slow
def test_fallback_when_an_upstream_process_is_killed(tmp_path, mf_dir):
    """A gateway of its own (its upstream is killed), on the quick-loading mf router."""
    with gateway_for(tmp_path, mf_dir, NAMES) as gateway:
        first = gateway.chat()
        picked = first.headers["x-routerrec-model"]
        other = next(name for name in NAMES if name != picked)
        gateway.stubs[picked].kill()
        replies = [gateway.chat() for _ in range(3)]
        assert [reply.status_code for reply in replies] == [200] * 3
        assert {reply.headers["x-routerrec-model"] for reply in replies} == {other}
        assert {reply.headers["x-routerrec-fallback"] for reply in replies} == {"1"}
        assert replies[0].json()["choices"][0]["message"]["content"].startswith(
            gateway.stubs[other].name + " says:")
        assert gateway.metric("routerrec_fallbacks_total") == 3
        assert gateway.metric(f'routerrec_upstream_errors_total{{kind="connect",model="{picked}"}}') == 3


@pytest.mark.slow
def test_the_openai_client_example_runs_against_the_gateway(tmp_path, mf_dir):
    with gateway_for(tmp_path, mf_dir, NAMES, "--feedback", tmp_path / "feedback") as gateway:
        run = subprocess.run([sys.executable, str(EXAMPLE), gateway.server.url],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "ROUTERREC_API_KEY": GATEWAY_KEY})
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert lines[0].startswith(tuple(f"{name} answered (request " for name in NAMES)), lines
        assert lines[0].endswith(" says: What is the derivative of x**3?")
        assert lines[1].startswith("streamed in ") and lines[1].endswith(
            " says: What is the derivative of x**3?")
        assert lines[2] == "tool calls: ['calculator']"
        assert lines[3].startswith("feedback stored: {") and "'score': 1.0" in lines[3]
        sent = [request["body"] for stub in gateway.stubs.values() for request in stub.requests()]
        assert len(sent) == 3 and sum(bool(body.get("stream")) for body in sent) == 1
