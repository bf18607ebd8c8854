"""One limit on how much memory a file or an option may make routerrec allocate.

Sizes come from data the user does not control (a downloaded model, a header in a
file), so every large allocation is estimated first and refused above a limit the
user can raise with the ``ROUTERREC_MAX_ARRAY_BYTES`` environment variable.
"""
from __future__ import annotations

import os

__all__ = ["MAX_BYTES_ENV", "DEFAULT_MAX_BYTES", "max_array_bytes", "format_bytes",
           "check_bytes"]

MAX_BYTES_ENV = "ROUTERREC_MAX_ARRAY_BYTES"
DEFAULT_MAX_BYTES = 2 * 1024**3


def max_array_bytes() -> int:
    """The limit in bytes: ``$ROUTERREC_MAX_ARRAY_BYTES`` (an integer; ``4e9`` is accepted)
    or 2 GiB."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (1 <= value < 2**63):
        raise ValueError(f"{MAX_BYTES_ENV}={raw!r}: expected a number of bytes, e.g. 8e9")
    return int(value)


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``"3.5 GiB"``)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size /= 1024
    else:
        unit = "PiB"
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"


def check_bytes(nbytes: int, what: str, *, advice: str = "",
                error: type[Exception] = ValueError) -> None:
    """Raise ``error`` when ``what`` would need more than the limit; ``advice`` says what to
    do instead (``"use --top"``)."""
    limit = max_array_bytes()
    if nbytes > limit:
        tail = f"; {advice}" if advice else ""
        raise error(f"{what} would need {format_bytes(nbytes)}, above the limit of "
                    f"{format_bytes(limit)} (raise it with {MAX_BYTES_ENV}){tail}")
