"""Fixtures of the serve tests: routers fitted once per session on the embedded sample.

``router_dir`` is the default router (what the route and gateway tests compare against the
CLI and the Python API); ``mf_dir`` is an mf router, what ``--learn`` wraps, and also the
router of tests about the server's process life (reload, workers, SIGKILL, SIGTERM): the
router's kind is not what they check, and it loads in a fraction of the default's time, which
every server start pays.
"""
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


@pytest.fixture(scope="session")
def mf_dir(tmp_path_factory):
    """An mf router fitted once on the embedded sample."""
    out = tmp_path_factory.mktemp("serve-mf") / "mf"
    make_router("mf").fit(load_sample()).save(out)
    return out
