"""Shared test fixtures (keep small).

``shared_data`` is the folder of real records beside the project (``../shared/data``, or
``$ROUTERREC_SHARED_DATA``); tests that use it are skipped, not failed, when it is absent.
``generated_cases`` counts the cases the hypothesis suites generate (their profile is
``properties.PROFILE``); the count is printed after the run. ``small_routers`` is every
learned router fitted once per session by the installed command (the CLI tests of fit,
route and calibrate share it: each fit costs seconds).
"""
import collections
from pathlib import Path

import pytest

from commands import run_many
from routerrec.routing.registry import learned_routers
from shared_files import require_shared
from small_sample import write_small_sample

_CASES = pytest.StashKey[collections.Counter]()


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; skips the test when absent."""
    return require_shared()


@pytest.fixture(scope="session")
def small_routers(tmp_path_factory) -> dict:
    """Router name -> (its folder, its ``routerrec fit --router NAME --json --quiet`` run) for
    every learned router of the registry on the small sample (``write_small_sample``), the fits
    run at once (start-up is much of each one's time). Tests read these folders, never write
    them."""
    folder = tmp_path_factory.mktemp("small-routers")
    data, names = write_small_sample(folder), learned_routers()
    fits = run_many(*[("fit", "--router", name, "--data", data, "--out", folder / name,
                       "--json", "--quiet") for name in names])
    return {name: (folder / name, done) for name, done in zip(names, fits)}


@pytest.fixture(scope="session")
def generated_cases(request) -> collections.Counter:
    """Test name -> examples hypothesis ran it on (shown in the terminal summary)."""
    return request.config.stash.setdefault(_CASES, collections.Counter())


def pytest_terminal_summary(terminalreporter, config):
    cases = config.stash.get(_CASES, None)
    if cases:
        terminalreporter.write_line(f"hypothesis generated {sum(cases.values())} cases: "
                                    + ", ".join(f"{name} {n}" for name, n in sorted(cases.items())))
