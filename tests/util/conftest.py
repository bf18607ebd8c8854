"""Counts the cases the hypothesis suites generate and prints them after the run."""
import collections

import pytest

_CASES = pytest.StashKey[collections.Counter]()


@pytest.fixture(scope="session")
def generated_cases(request) -> collections.Counter:
    """Test name -> examples hypothesis ran it on (shown in the terminal summary)."""
    return request.config.stash.setdefault(_CASES, collections.Counter())


def pytest_terminal_summary(terminalreporter, config):
    cases = config.stash.get(_CASES, None)
    if cases:
        terminalreporter.write_line(f"hypothesis generated {sum(cases.values())} cases: "
                                    + ", ".join(f"{name} {n}" for name, n in sorted(cases.items())))
