"""Progress bars for long work (tqdm on stderr), silent when disabled."""
from __future__ import annotations

import contextlib

from tqdm.auto import tqdm


@contextlib.contextmanager
def progress_bar(total: int, desc: str, *, enabled: bool = True, unit: str = "it"):
    """A tqdm bar that writes to stderr only when enabled, so --json output stays clean."""
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
    try:
        yield bar
    finally:
        bar.close()
