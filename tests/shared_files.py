"""``require_shared``: a file of the shared real records, or the calling test skipped (a module
of its own: ``from conftest import`` finds whichever conftest pytest imported first)."""
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
