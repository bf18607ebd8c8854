"""What the online router costs per call on the embedded sample (issue 15, docs/online.md).

    .venv/bin/python benchmarks/bench_online_core.py

Fits the ``mf`` router (ALS and the default logistic) on 30% of the sample's prompts, then
times ``route`` for one prompt and for 100, ``feedback`` by request id and by text, and
``add_model`` + ``posterior``; medians of repeated calls, written to
``benchmarks/results/core_online_latency.json``. The tfidf encoder is timed alone beside
them (one new text per call, as routing sees them).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

import routerrec
from routerrec.online import OnlineRouter

RESULT = Path(__file__).resolve().parent / "results" / "core_online_latency.json"


def _median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 3)


def measure(method: str | None) -> dict:
    records = routerrec.load_sample()
    train, test = records.split_prompts(0.7, seed=0)
    online = OnlineRouter.fit(train, router_params={"method": method} if method else None,
                              seed=0)
    online.add_model("new-model", cost_per_call=0.001)
    texts = test.text_of(test.prompts)
    online.route(texts[:5])  # warm the encoder's compiled code
    it = iter(range(10**9))
    one = _median_ms(lambda: online.route([texts[next(it) % len(texts)]]), 200)
    hundred = _median_ms(lambda: online.route(texts[:100]), 20)
    ids = [d.request_id for d in online.route(texts[:300])]
    by_id = iter(ids)
    feedback_id = _median_ms(lambda: online.feedback(request_id=next(by_id), score=1.0), 300)
    by_text = iter(range(10**9))
    feedback_text = _median_ms(lambda: online.feedback(
        text=texts[next(by_text) % len(texts)], model="new-model", score=0.0), 200)
    encoder = online._state.router.encoder_
    distinct = iter(range(10**9))
    encode_one = _median_ms(lambda: encoder.transform([texts[next(distinct) % len(texts)]]),
                            200)
    state = online._state
    return {"method": state.router.method_, "rank": state.completion.rank,
            "models": len(online.models), "route_1_ms": one, "route_100_ms": hundred,
            "feedback_by_request_id_ms": feedback_id, "feedback_by_text_ms": feedback_text,
            "encode_1_text_ms": encode_one,
            "posterior_ms": _median_ms(lambda: online.posterior("new-model"), 50)}


def main() -> None:
    results = {"machine": platform.processor() or platform.machine(),
               "runs": [measure("als"), measure(None)]}
    RESULT.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
