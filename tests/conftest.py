"""Shared test fixtures (keep small).

``shared_data`` is the folder of real records beside the project (``../shared/data``, or
``$ROUTERREC_SHARED_DATA``); tests that use it are skipped, not failed, when it is absent.
``generated_cases`` counts the cases the hypothesis suites generate (their profile is
``properties.PROFILE``); the count is printed after the run.
"""
import collections
from pathlib import Path

import pytest

from routerrec.data.shared import shared_data_dir

_CASES = pytest.StashKey[collections.Counter]()


def require_shared(*parts: str) -> Path:
    """Path under the shared data folder, or skip the calling test when it is absent."""
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared data (../shared/data or $ROUTERREC_SHARED_DATA) not available")
    p = root.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data file {p} not available")
    return p


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; skips the test when absent."""
    return require_shared()


@pytest.fixture(scope="session")
def generated_cases(request) -> collections.Counter:
    """Test name -> examples hypothesis ran it on (shown in the terminal summary)."""
    return request.config.stash.setdefault(_CASES, collections.Counter())


def pytest_terminal_summary(terminalreporter, config):
    cases = config.stash.get(_CASES, None)
    if cases:
        terminalreporter.write_line(f"hypothesis generated {sum(cases.values())} cases: "
                                    + ", ".join(f"{name} {n}" for name, n in sorted(cases.items())))
