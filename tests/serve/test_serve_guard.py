"""What every request goes through, on a real server with every option on: the API key, the
body limit, the concurrency bound, request ids, per-endpoint metrics, and every bad request
answered as a JSON 4xx naming the problem (never a 500)."""
from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import pytest

from server import start_server
from stub_upstream import start_stub

KEY = "test-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
ROUTED = ["corvid-pro", "acme-8b", "gale-math-7b"]  # the models given an upstream


@pytest.fixture(scope="module")
def guarded(router_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    with start_stub(name="up") as stub:
        upstreams = folder / "upstreams.json"
        upstreams.write_text(json.dumps({"models": {m: {"base_url": stub.base_url}
                                                    for m in ROUTED}}))
        with start_server(router_dir, "--upstreams", upstreams, "--feedback", folder / "fb",
                          "--api-key-env", "ROUTERREC_TEST_KEY", "--max-body-bytes", 4096,
                          "--max-concurrency", 2, "--upstream-timeout", 3,
                          env={"ROUTERREC_TEST_KEY": KEY}) as server:
            yield server, stub


def test_the_api_key_is_required_everywhere_but_health(guarded):
    server, _ = guarded
    assert server.get("/health").status_code == 200
    for method, path in (("POST", "/v1/route"), ("GET", "/metrics"), ("POST", "/admin/reload"),
                         ("POST", "/v1/chat/completions"), ("POST", "/v1/feedback")):
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": KEY}):
            reply = httpx.request(method, server.url + path, headers=headers, timeout=10,
                                  json={"prompt": "hi"})
            assert reply.status_code == 401, (path, headers)
            assert reply.headers["www-authenticate"] == "Bearer"
            assert "API key" in reply.json()["error"]["message"]
    ok = server.post("/v1/route", json={"prompt": "hi"}, headers=AUTH)
    assert ok.status_code == 200 and ok.json()["decisions"][0]["model"]


BAD_ROUTES = [
    b"", b"   ", b"not json", b"{\"prompt\": ", b"\xff\xfe\x00", b"[1, 2]", b"\"text\"", b"3",
    b"null", b"[" * 2000 + b"]" * 2000, b"{}", b'{"prompt": 1}', b'{"prompt": null}',
    b'{"prompt": ""}', b'{"prompts": "one text"}', b'{"prompts": []}', b'{"prompts": [1]}',
    b'{"prompts": null}', b'{"prompts": {"a": 1}}', b'{"prompt": "a", "prompts": ["b"]}',
    b'{"prompt": "a", "wtp": -1}', b'{"prompt": "a", "wtp": "high"}', b'{"prompt": "a", "wtp": NaN}',
    b'{"prompt": "a", "wtp": Infinity}', b'{"prompt": "a", "wtp": true}',
    b'{"prompt": "a", "max_cost": -0.5}', b'{"prompt": "a", "wtp": 1, "max_cost": 1}',
    b'{"prompt": "a", "models": ["nope"]}', b'{"prompt": "a", "models": []}',
    b'{"prompt": "a", "models": "acme-8b"}', b'{"prompt": "a", "models": ["acme-8b", "acme-8b"]}',
    b'{"prompt": "a", "models": [1]}', b'{"prompt": "a", "wpt": 1}',
]
BAD_CHATS = [
    b"nope", b"[]", b"{}", b'{"messages": []}', b'{"messages": "hi"}', b'{"messages": [1]}',
    b'{"messages": [{"role": "system", "content": "only"}]}',
    b'{"messages": [{"role": "user", "content": 5}]}',
    b'{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "router:wtp=abc", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "router:wtp=-1", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "router:speed=1", "messages": [{"role": "user", "content": "hi"}]}',
]
BAD_FEEDBACK = [
    b"nope", b"{}", b'{"prompt": "x", "model": "nope", "score": 1}',
    b'{"prompt": "x", "model": "acme-8b", "score": "high"}', b'{"prompt": "x", "score": 1}',
    b'{"prompt": "x", "model": "acme-8b", "score": 1, "cost": -1}',
    b'{"prompt": "x", "model": "acme-8b", "score": 1, "extra": 1}',
]
BAD_RELOADS = [b"nope", b"[]", b'{"router": 5}', b'{"router": ""}', b'{"dir": "x"}']


@pytest.mark.parametrize("path, bodies", [("/v1/route", BAD_ROUTES),
                                          ("/v1/chat/completions", BAD_CHATS),
                                          ("/v1/feedback", BAD_FEEDBACK),
                                          ("/admin/reload", BAD_RELOADS)])
def test_every_bad_request_is_a_400_naming_the_problem(guarded, path, bodies):
    server, _ = guarded
    for body in bodies:
        reply = server.post(path, content=body, headers=AUTH)
        assert reply.status_code == 400, (path, body[:60], reply.status_code, reply.text)
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error" and len(error["message"]) > 10
        assert error["request_id"] == reply.headers["x-routerrec-request-id"]
    assert "Traceback" not in server.log()


def test_missing_things_are_404s_and_wrong_methods_405s(guarded):
    server, _ = guarded
    unknown = server.post("/v1/feedback", headers=AUTH,
                          json={"request_id": "no-such-request", "score": 1})
    assert unknown.status_code == 404 and "no-such-request" in unknown.json()["error"]["message"]
    missing = server.get("/v2/anything", headers=AUTH)
    assert missing.status_code == 404 and "/v2/anything" in missing.json()["error"]["message"]
    wrong = server.get("/v1/route", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json()["error"]["type"] == "method_not_allowed"
    refused = server.post("/admin/reload", headers=AUTH, json={"router": "/no/such/router"})
    assert refused.status_code == 409 and "still serving" in refused.json()["error"]["message"]


def test_bodies_over_the_limit_are_413_with_or_without_a_length(guarded):
    server, _ = guarded
    big = json.dumps({"prompt": "x" * 5000}).encode()
    declared = server.post("/v1/route", content=big, headers=AUTH)
    assert declared.status_code == 413 and "4096" in declared.json()["error"]["message"]

    def chunks():  # no content-length: the limit is found while reading
        for _ in range(10):
            yield b" " * 1000
    chunked = server.post("/v1/route", content=chunks(), headers=AUTH)
    assert chunked.status_code == 413
    assert server.post("/v1/route", json={"prompt": "small"}, headers=AUTH).status_code == 200


def test_a_saturated_server_answers_503_with_retry_after_and_health_stays_up(guarded):
    """Two chat requests held by a hanging upstream fill --max-concurrency 2."""
    server, stub = guarded
    stub.control("hang")
    texts = [f"hold on {time.time_ns()} {i}" for i in range(2)]
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(server.post, "/v1/chat/completions", headers=AUTH, timeout=30,
                                json={"model": "router",
                                      "messages": [{"role": "user", "content": text}]})
                    for text in texts]
            # probe only once the stub holds both: a probe sent earlier would take the second
            # chat's place, and that chat would be the one refused
            for _ in range(200):  # bounded: 10 s
                seen = {m["content"] for r in stub.requests() for m in r["body"]["messages"]}
                if set(texts) <= seen or any(f.done() for f in held):
                    break
                time.sleep(0.05)
            busy = server.post("/v1/route", json={"prompt": "hi"}, headers=AUTH)
            assert busy.status_code == 503, [f.result().text if f.done() else "in flight"
                                             for f in held]
            assert busy.headers["retry-after"] == "1"
            assert "--max-concurrency 2" in busy.json()["error"]["message"]
            assert server.get("/health").status_code == 200
            stub.control("ok")
            assert all(f.result().status_code in (200, 502) for f in held)
    finally:
        stub.control("ok")
    assert server.post("/v1/route", json={"prompt": "hi"}, headers=AUTH).status_code == 200


def test_request_ids_are_unique_and_metrics_count_each_endpoint(guarded):
    server, _ = guarded
    ids = {server.post("/v1/route", json={"prompt": f"q{i}"}, headers=AUTH)
           .headers["x-routerrec-request-id"] for i in range(5)}
    ids.add(server.get("/health").headers["x-routerrec-request-id"])
    assert len(ids) == 6
    for path in ("/wp-admin", "/.env", "/admin/models/a/b"):  # one label for unknown paths
        assert server.get(path, headers=AUTH).status_code == 404
    for model in ("m1", "m2"):  # every model's path is one endpoint (409: no --learn here)
        assert httpx.delete(f"{server.url}/admin/models/{model}", headers=AUTH,
                            timeout=10).status_code == 409
    text = server.get("/metrics", headers=AUTH).text
    assert 'routerrec_requests_total{endpoint="/admin/models/{model}",status="409"} 2.0' in text
    assert 'routerrec_requests_total{endpoint="other",status="404"}' in text
    assert "wp-admin" not in text
    assert 'routerrec_requests_total{endpoint="/v1/route",status="200"}' in text
    assert 'routerrec_request_seconds_bucket{endpoint="/v1/route",le="0.005"}' in text
    assert "routerrec_picks_total{model=" in text
