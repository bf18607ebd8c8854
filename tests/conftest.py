"""Shared test fixtures (keep small).

``shared_data`` is the folder of real records beside the project (``../shared/data``, or
``$ROUTERREC_SHARED_DATA``); tests that use it are skipped, not failed, when it is absent.
"""
from pathlib import Path

import pytest

from routerrec.data.shared import shared_data_dir


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
