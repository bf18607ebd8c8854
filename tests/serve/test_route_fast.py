"""``/v1/route``'s lone-client path: a request over the connection of the request before it,
with nothing else in flight, is routed at once (no loop turns, no batch future); requests of
several clients still share one ``Router.decide``. Same decisions either way."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from routerrec.routing.registry import load_router
from routerrec.serve.state import Decider, InFlight
from server import start_server

PROMPTS = ["Prove that 17 is prime.", "Write a function that merges two sorted lists in C.",
           "Who painted the Mona Lisa?", "Integrate x^2 from 0 to 3.",
           "What is the capital of Australia?"]


class CountingRouter:
    """A real router whose ``decide`` calls are counted."""

    def __init__(self, router):
        self.router, self.calls = router, 0

    def decide(self, texts, **options):
        self.calls += 1
        return self.router.decide(texts, **options)


@pytest.fixture(scope="module")
def router(router_dir):
    return load_router(router_dir)


def test_in_flight_tells_a_lone_client_from_several():
    flight = InFlight()
    flight.enter(("127.0.0.1", 5000))
    assert not flight.same_client and flight.count == 1  # a first request: no history
    flight.count -= 1
    flight.enter(("127.0.0.1", 5000))
    assert flight.same_client
    flight.enter(("127.0.0.1", 5001))
    assert not flight.same_client and flight.count == 2
    flight.count -= 2
    flight.enter(None)  # a transport without a client address never counts as alone
    assert not flight.same_client


def test_a_lone_clients_request_is_routed_without_suspending(router):
    counting, flight = CountingRouter(router), InFlight()
    decider = Decider(counting, ThreadPoolExecutor(1), flight)
    flight.enter(("127.0.0.1", 7))
    flight.count -= 1
    flight.enter(("127.0.0.1", 7))
    pending = decider.decide([PROMPTS[0]], wtp=5.0)
    with pytest.raises(StopIteration) as done:  # finished on its first step: no await
        pending.send(None)
    assert done.value.value == router.decide([PROMPTS[0]], wtp=5.0)
    assert counting.calls == 1 and not decider.pending and not decider.busy


@pytest.mark.parametrize("same_client", [False, True])
def test_concurrent_requests_share_one_batch(router, same_client):
    """Several clients (or one client's request while another is in flight) are batched."""
    counting, flight = CountingRouter(router), InFlight()
    decider = Decider(counting, ThreadPoolExecutor(1), flight)
    flight.enter(("127.0.0.1", 7))
    flight.enter(("127.0.0.1", 7 if same_client else 8))  # two in flight
    assert flight.same_client == same_client and flight.count == 2

    async def all_at_once():
        return await asyncio.gather(*(decider.decide([p], max_cost=0.002) for p in PROMPTS))

    answers = asyncio.run(all_at_once())
    assert counting.calls == 1
    assert [a[0] for a in answers] == router.decide(PROMPTS, max_cost=0.002)


def test_one_keep_alive_client_gets_the_routers_decisions(router_dir, router):
    """Over one connection every request after the first takes the lone-client path; the
    answers are Router.decide's, and the metrics count every request."""
    prompts = PROMPTS * 4
    with start_server(router_dir) as server, httpx.Client(base_url=server.url,
                                                          timeout=10) as client:
        got = [client.post("/v1/route", json={"prompt": p, "wtp": 20.0}).json()["decisions"][0]
               for p in prompts]
        metrics = client.get("/metrics").text
    want = [{"model": m, "score": s, "cost": c}
            for (m, s, c), in router.decide(prompts, wtp=20.0)]
    assert got == want
    assert f'routerrec_requests_total{{endpoint="/v1/route",status="200"}} {len(prompts)}.0' \
        in metrics
