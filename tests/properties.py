"""The hypothesis profile every property suite runs under: ``bounded`` (200 cases per
property, 5 s per case) in the normal test run, ``HYPOTHESIS_PROFILE=long`` (20,000, or
``ROUTERREC_PROPERTY_EXAMPLES``) for benchmarks/bench_properties.py. Suites count their cases with the ``generated_cases`` fixture (tests/conftest.py).
"""
import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile(
    "bounded", max_examples=200, deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", settings.get_profile("bounded"),
                          max_examples=int(os.environ.get("ROUTERREC_PROPERTY_EXAMPLES", 20_000)))
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))
