"""Where the repository keeps data, relative to this package: the one place that knows the checkout's layout.

``<repo>/data/sample`` holds the committed synthetic sample; ``<repo>/../shared/data`` the real
record sets shared beside the project (not part of an installed package).
"""
from pathlib import Path

__all__ = ["REPO_ROOT", "SAMPLE_DIR", "SHARED_DATA_DIR"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
