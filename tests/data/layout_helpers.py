"""What the layout tests share: the error a file gets when loaded."""
from __future__ import annotations

import pytest

from routerrec import load_records
from routerrec.data.records import RecordsError


def load_error(path, **kw) -> RecordsError:
    """The ``RecordsError`` ``load_records(path, **kw)`` raises (the test fails without one)."""
    with pytest.raises(RecordsError) as info:
        load_records(path, **kw)
    return info.value
