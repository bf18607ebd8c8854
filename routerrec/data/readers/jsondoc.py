"""Bounded JSON reading for the JSON layouts: a whole document after a size check, JSON Lines
one line at a time, and a cheap look at the first record for a layout's ``claims``.

Python's ``json`` builds objects several times the size of their text, so a whole document is
parsed only after :func:`~routerrec.util.limits.check_bytes` accepts :data:`PARSE_FACTOR` times
its size, and a JSON Lines line only when that line alone passes the same check. Invalid JSON,
text that is not UTF-8 and nesting deeper than Python's recursion limit become a
:class:`~routerrec.data.records.RecordsError` naming the file and the line.
"""
from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Iterator, Optional

from ...util.limits import check_bytes, max_array_bytes
from ..records import RecordsError
from .tables import check_file

__all__ = ["PARSE_FACTOR", "read_document", "iter_lines", "first_record"]

# memory of the parsed objects per byte of JSON text (a conservative estimate)
PARSE_FACTOR = 10
_PEEK_BYTES = 1 << 20  # how much of a file claims() looks at
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _loads(raw: bytes, path: Path, row: Optional[int]):
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RecordsError(f"is not UTF-8 text (byte {e.start} of the line)" if row else
                           f"is not UTF-8 text (byte {e.start})", path=path, row=row) from None
    try:
        value = json.loads(text)
        if _SURROGATE.search(text):  # an escaped half of a UTF-16 pair alone is not text
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except RecursionError:
        raise RecordsError("JSON nested too deeply to be records", path=path, row=row) from None
    except json.JSONDecodeError as e:
        where = f" at column {e.colno}" if row else f" at line {e.lineno}, column {e.colno}"
        raise RecordsError(f"invalid JSON{where}: {e.msg}", path=path, row=row) from None
    except UnicodeEncodeError:
        raise RecordsError("holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not text",
                           path=path, row=row) from None


def read_document(path: Path, advice: str = "") -> object:
    """The whole file parsed as one JSON value, after a size check (``advice`` says what to do
    instead when the file is too large)."""
    check_file(path)
    size = path.stat().st_size
    check_bytes(size * PARSE_FACTOR, f"parsing {size} bytes of JSON", advice=advice,
                error=partial(RecordsError, path=path))
    return _loads(path.read_bytes(), path, None)


def iter_lines(path: Path) -> Iterator[tuple]:
    """``(row, value)`` per non-empty line of a JSON Lines file; ``row`` counts non-empty lines
    from 1, as the long layout's JSONL rows do."""
    check_file(path)
    cap = max_array_bytes() // PARSE_FACTOR + 1
    row = 0
    with open(path, "rb") as fh:
        while True:
            raw = fh.readline(cap)
            if not raw:
                return
            if not raw.strip():
                continue
            row += 1
            if len(raw) == cap and not raw.endswith(b"\n"):
                check_bytes(cap * PARSE_FACTOR, f"parsing line {row} (over {cap} bytes of JSON)",
                            advice="split the record or raise the limit",
                            error=partial(RecordsError, path=path, row=row))
            yield row, _loads(raw, path, row)


def first_record(path: Path) -> Optional[object]:
    """The first value of a JSON array, or the first line of JSON Lines, from the file's first
    MiB; ``None`` when it cannot be had cheaply (for ``claims``, which must not raise)."""
    try:
        if not path.is_file():  # a FIFO would block
            return None
        with open(path, "rb") as fh:
            head = fh.read(_PEEK_BYTES).decode("utf-8-sig", errors="ignore").lstrip()
        if head.startswith("["):
            head = head[1:].lstrip()
        value, _ = json.JSONDecoder().raw_decode(head)
        return value
    except (OSError, ValueError, RecursionError):
        return None
