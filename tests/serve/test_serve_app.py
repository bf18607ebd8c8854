"""``routerrec serve`` as users run it: the real command in a subprocess on 127.0.0.1, a router
fitted on the sample, clients over HTTP (bounded counts and timeouts)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from commands import run_many
from routerrec.routing.registry import load_router
from routerrec.serve.app import BadRequest, parse_json
from server import ROUTERREC, start_server

PROMPTS = ["Prove that 17 is prime.", "Write a function that merges two sorted lists in C.",
           "Who painted the Mona Lisa?", "Integrate x^2 from 0 to 3.", "Summarise the French "
           "revolution in two sentences.", "What is the capital of Australia?"]


@pytest.fixture(scope="module")
def server(router_dir):
    with start_server(router_dir) as running:
        yield running


def test_health_names_the_router_and_its_models(server, router_dir):
    reply = server.get("/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok" and body["router"] == "auto"
    assert body["models"] == load_router(router_dir).models_
    assert len(reply.headers["x-routerrec-request-id"]) == 32


POLICIES = [{}, {"wtp": 1000.0}, {"max_cost": 0.001},
            {"models": ["acme-8b", "corvid-pro", "gale-math-7b"]},
            {"wtp": 50.0, "models": ["acme-1b", "echo-141b"]}]


def _route_options(policy: dict) -> list:
    options = [] if "wtp" not in policy else ["--wtp", str(policy["wtp"])]
    options += [] if "max_cost" not in policy else ["--max-cost", str(policy["max_cost"])]
    return options + ([] if "models" not in policy else ["--models", ",".join(policy["models"])])


@pytest.fixture(scope="module")
def cli_routes(router_dir):
    """``routerrec route --json`` of PROMPTS under each of POLICIES, the commands run at once
    (each one's start-up is most of its time)."""
    return run_many(*[("route", "--router", router_dir, "--json", *_route_options(policy),
                       *PROMPTS) for policy in POLICIES])


@pytest.mark.parametrize("policy", POLICIES)
def test_route_makes_the_same_picks_as_the_cli_and_the_python_api(server, router_dir, policy,
                                                                  cli_routes):
    reply = server.post("/v1/route", json={"prompts": PROMPTS, **policy})
    assert reply.status_code == 200, reply.text
    served = reply.json()
    assert served["router"] == "auto" and len(served["decisions"]) == len(PROMPTS)
    router = load_router(router_dir)
    assert [d["model"] for d in served["decisions"]] == router.route(PROMPTS, **policy)
    expected = router.decide(PROMPTS, **policy)
    assert [(d["model"], d["score"], d["cost"]) for d in served["decisions"]] == \
        [ranked[0] for ranked in expected]  # bit for bit: JSON round-trips float64 exactly
    cli = cli_routes[POLICIES.index(policy)]
    assert cli.returncode == 0, cli.stderr
    assert [d["model"] for d in json.loads(cli.stdout)["decisions"]] == \
        [d["model"] for d in served["decisions"]]


def test_one_prompt_per_request_concurrently_matches_the_batch(server):
    """Concurrent single-prompt requests are routed in shared batches: the same answers."""
    batch = server.post("/v1/route", json={"prompts": PROMPTS * 5}).json()["decisions"]

    async def many():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            import asyncio
            replies = await asyncio.gather(*(client.post("/v1/route", json={"prompt": p})
                                             for p in PROMPTS * 5))
        return [r.json()["decisions"][0] for r in replies]

    import asyncio
    assert asyncio.run(many()) == batch


def _serve(*args) -> subprocess.CompletedProcess:
    return subprocess.run([ROUTERREC, "serve", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_bad_options_are_one_line_errors_with_exit_status_2(router_dir, tmp_path, server):
    not_router = tmp_path / "empty"
    not_router.mkdir()
    bad_upstreams = tmp_path / "up.yaml"
    bad_upstreams.write_text("models:\n  nobody-knows-me: {base_url: 'http://127.0.0.1:9/v1'}\n")
    port = server.url.rsplit(":", 1)[1]
    cases = [
        ((), "Missing option '--router'"),
        (("--router", tmp_path / "missing"), "does not exist"),
        (("--router", not_router), "is not a router directory"),
        (("--router", router_dir, "--port", 70000), "--port"),
        (("--router", router_dir, "--workers", 0), "--workers"),
        (("--router", router_dir, "--upstream-timeout", "nan"), "--upstream-timeout"),
        (("--router", router_dir, "--max-body-bytes", 10), "--max-body-bytes"),
        (("--router", router_dir, "--api-key-env", "ROUTERREC_TEST_UNSET_KEY"),
         "ROUTERREC_TEST_UNSET_KEY is not set"),
        (("--router", router_dir, "--upstreams", bad_upstreams), "nobody-knows-me"),
        (("--router", router_dir, "--port", port), f"--port {port}: cannot listen"),
    ]
    for (args, message), result in zip(cases, run_many(*[("serve", *args) for args, _ in cases])):
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


def test_a_router_that_fails_to_load_stops_the_server_with_a_message(router_dir, tmp_path):
    """The manifest reads fine (the server starts listening) but the arrays are damaged: the
    load in the background fails, /health says so, and the command exits 2."""
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(router_dir, broken)
    (broken / "arrays.npz").write_bytes(b"not a zip file")
    result = _serve("--router", broken, "--port", 0)
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("listening on http://127.0.0.1:")
    assert "Error: --router" in result.stderr and "arrays.npz" in result.stderr


def test_before_the_router_is_loaded_health_and_route_answer_503(router_dir):
    """The app itself, before its lifespan has loaded the router (httpx's ASGI transport runs
    no lifespan): the load balancer sees 503 and clients are told to retry."""
    import asyncio

    from routerrec.serve.app import build_app
    from routerrec.serve.config import ServeConfig

    async def ask():
        app = build_app(ServeConfig(router=str(router_dir)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get("/health"), await client.post("/v1/route",
                                                                   json={"prompt": "hi"})
    health, route = asyncio.run(ask())
    assert health.status_code == 503 and health.json()["status"] == "loading"
    assert route.status_code == 503 and route.headers["retry-after"] == "1"
    assert route.json()["error"]["type"] == "server_loading"


def test_sigterm_lets_a_request_in_flight_finish(mf_dir, tmp_path):
    """A streamed answer still arriving when SIGTERM comes is delivered whole, then the
    server shuts down cleanly."""
    import signal
    import threading

    from stub_upstream import start_stub

    with start_stub(name="slow", chunk_delay=0.2) as stub:
        upstreams = tmp_path / "upstreams.json"
        upstreams.write_text(json.dumps({"acme-8b": {"base_url": stub.base_url}}))
        with start_server(mf_dir, "--upstreams", upstreams) as server:
            chunks, started = [], threading.Event()

            def stream():
                body = {"model": "router", "stream": True,
                        "messages": [{"role": "user", "content": "one two three four five"}]}
                with httpx.stream("POST", server.url + "/v1/chat/completions", json=body,
                                  timeout=30) as reply:
                    for line in reply.iter_lines():
                        started.set()
                        if line:
                            chunks.append(line)
            client = threading.Thread(target=stream)
            client.start()
            assert started.wait(20)
            server.signal(signal.SIGTERM)
            client.join(30)
            # after draining, uvicorn raises the signal again: the exit says SIGTERM ended it
            assert server.proc.wait(timeout=30) in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in server.log()
    assert chunks[-1] == "data: [DONE]" and sum(c.startswith("data: ") for c in chunks) >= 8


def test_a_batch_over_the_memory_limit_is_a_413_naming_the_limit(router_dir, monkeypatch):
    """The app in this process (the limit is read per call): the router loads under the
    default limit, then routing 2,000 prompts at once passes a lowered one."""
    import asyncio

    from routerrec.serve.app import build_app
    from routerrec.serve.config import ServeConfig

    app = build_app(ServeConfig(router=str(router_dir)))
    app.state.server.state.load_now(router_dir)

    async def ask(n):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post("/v1/route", json={"prompts": ["a prompt"] * n})
    monkeypatch.setenv("ROUTERREC_MAX_ARRAY_BYTES", "1000000")
    refused = asyncio.run(ask(2000))
    assert refused.status_code == 413, refused.text
    assert "ROUTERREC_MAX_ARRAY_BYTES" in refused.json()["error"]["message"]
    assert asyncio.run(ask(3)).status_code == 200
    app.state.server.state.close()


JSON_BODIES = [
    b'{"prompt": "plain"}', '{"prompt": "é 中文"}'.encode(), b'{"prompt": "\\u00e9\\ud83d\\ude00"}',
    b'{"prompt": "\\ud800 a lone surrogate"}', b'{"wtp": NaN, "x": -Infinity}',
    '{"prompt": "utf-16"}'.encode("utf-16"), b'\xef\xbb\xbf{"prompt": "bom"}',
    b'{"n": 123456789012345678901234567890, "f": 1e400, "g": -0.0, "h": 5e-324}',
    b'{"a": 1, "a": 2}', b'[1.5, 2.25e-3, 1e16, 0.1]', b'null', b'"text"', b"  3 ",
]


@pytest.mark.parametrize("raw", JSON_BODIES + [b"not json", b'{"a": ', b"\xff\xfe\x00",
                                               b"[" * 2000 + b"]" * 2000, b"{'a': 1}"])
def test_request_bodies_read_as_pythons_json_reads_them(raw):
    """orjson reads the bodies; what it refuses, json.loads decides: the values are always
    json.loads' (NaN, lone surrogates, UTF-16 and huge integers included) or a 400."""
    try:
        want = json.loads(raw)
    except (ValueError, RecursionError):
        with pytest.raises(BadRequest, match="not valid JSON"):
            parse_json(raw)
        return
    got = parse_json(raw)
    assert repr(got) == repr(want) and type(got) is type(want)  # repr: NaN equals itself


def test_the_serve_benchmark_starts():
    """benchmarks/bench_serve.py borrows the tests' server helpers: it must import them."""
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_serve.py"
    done = subprocess.run([sys.executable, str(bench), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "--repeats" in done.stdout, done.stderr[-2000:]
