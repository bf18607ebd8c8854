"""The hypothesis profile every property suite runs under: ``bounded`` (200 cases per
property, 5 s per case) in the normal test run, ``HYPOTHESIS_PROFILE=long`` (20,000, or
``ROUTERREC_PROPERTY_EXAMPLES``) for benchmarks/bench_properties.py. Suites count their cases with the ``generated_cases`` fixture (tests/conftest.py).
"""
import os
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "bounded", max_examples=200, deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", settings.get_profile("bounded"),
                          max_examples=int(os.environ.get("ROUTERREC_PROPERTY_EXAMPLES", 20_000)))
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))


def json_values(*, text=st.text(max_size=8), keys=st.text(max_size=5), scalars=None,
                max_size=3, max_leaves=8):
    """Nested lists and objects of None, bools, integers, floats (NaN and inf included) and
    ``text`` (or ``scalars``), objects keyed by ``keys``."""
    leaves = scalars if scalars is not None else (st.none() | st.booleans() | st.integers()
                                                  | st.floats() | text)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=max_size)
                        | st.dictionaries(keys, inner, max_size=max_size), max_leaves=max_leaves)
