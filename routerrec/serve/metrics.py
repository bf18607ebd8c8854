"""What ``GET /metrics`` exports, in Prometheus' text format: one registry per server so two
apps in one process (the tests) never share counters."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["ServeMetrics"]

# seconds; /v1/route answers in well under a millisecond, a proxied chat in seconds
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0)


class ServeMetrics:
    """Requests and their latencies per endpoint and status, picks per model, upstream errors
    per model and kind (connect, status, timeout), fallbacks to the next-best model."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("routerrec_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("routerrec_request_seconds", "request latency by endpoint",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.picks = Counter("routerrec_picks", "models picked by the router",
                             ["model"], registry=self.registry)
        self.upstream_errors = Counter("routerrec_upstream_errors",
                                       "failed upstream calls by model and kind",
                                       ["model", "kind"], registry=self.registry)
        self.fallbacks = Counter("routerrec_fallbacks",
                                 "chat requests served by a next-best model after a failure",
                                 registry=self.registry)

    def text(self) -> bytes:
        return generate_latest(self.registry)
