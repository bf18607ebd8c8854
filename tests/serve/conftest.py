"""Fixtures of the serve tests: the default router fitted once on the embedded sample."""
from __future__ import annotations

import pytest

from routerrec.data.sample import load_sample
from routerrec.routing.registry import make_router


@pytest.fixture(scope="session")
def router_dir(tmp_path_factory):
    """The default router (``auto``, as `routerrec fit --router` fits it) on the embedded
    sample (2,000 prompts x 20 models), saved once per test session."""
    out = tmp_path_factory.mktemp("serve-router") / "auto"
    make_router().fit(load_sample()).save(out)
    return out
