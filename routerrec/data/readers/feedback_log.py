"""A ``routerrec serve --feedback DIR`` store: the folder holding its ``feedback.jsonl``.

The store's records are the long layout as JSON Lines (``prompt``, ``model``, ``score``,
``cost``, ``text``, plus ``request_id`` and ``time``, which readers ignore), so the file alone is
read by the plain ``jsonl`` layout; this layout lets the folder itself be given
(``load_records(DIR)``, ``routerrec fit --data DIR``). The prompt id is
:func:`~.scores_json.text_id` of the text, so feedback on one prompt text is one prompt, also
next to a scores-json file holding that text. The server writes the folder
(:mod:`routerrec.serve.feedback`); its ``requests.jsonl`` (request id -> prompt) is not read.
"""
from __future__ import annotations

from pathlib import Path

from ..records import RecordsError
from .layout import Layout, Part, ReadOptions
from .registry import layouts

__all__ = ["LAYOUTS", "FEEDBACK_FILE"]

FEEDBACK_FILE = "feedback.jsonl"


def _read(path: Path, options: ReadOptions) -> Part:
    if not (path / FEEDBACK_FILE).is_file():
        raise RecordsError(f"is not a feedback store: it holds no {FEEDBACK_FILE} "
                           "(the folder given to routerrec serve --feedback)", path=path)
    return layouts()["jsonl"].read(path / FEEDBACK_FILE, ReadOptions(trust_pickle=options.trust_pickle))


def _claims(path: Path) -> bool:
    try:
        return path.is_dir() and (path / FEEDBACK_FILE).is_file()
    except OSError:
        return False


LAYOUTS = (Layout("feedback", _read, claims=_claims),)
