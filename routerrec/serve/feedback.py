"""The durable feedback log behind ``POST /v1/feedback`` (``routerrec serve --feedback DIR``).

``DIR/feedback.jsonl`` is append-only JSON Lines in the long records layout (``prompt`` =
:func:`~routerrec.data.readers.scores_json.text_id` of the text, ``model``, ``score``, ``cost``,
``text``, plus ``request_id`` and ``time``), so ``load_records(DIR)`` and ``routerrec fit --data
DIR`` read it as it is (:mod:`routerrec.data.readers.feedback_log`). Each record is one
``os.write`` on an ``O_APPEND`` descriptor followed by ``os.fsync`` before :meth:`append` returns,
so an acknowledged record survives a SIGKILL or a power cut, and several worker processes may
append to one folder. An exclusive ``flock`` around each append lets a writer cut a torn last
line (a process killed inside a large write) before writing, so a later record never lands glued
to a fragment; opening the store does the same.

``DIR/requests.jsonl`` maps the gateway's request ids to (prompt, model) so feedback may name a
request id only. It is appended without fsync (a lost line costs a 404, never a wrong record),
read back on start, and re-read from where it was left when an id is unknown (another worker
routed it). The latest ``max_requests`` ids are kept in memory.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Optional, Union


from ..data.readers.columns import FLOAT32_MAX
from ..data.readers.feedback_log import FEEDBACK_FILE
from ..data.readers.scores_json import text_id
from ..util import validate
from ..util.files import fsync_path

__all__ = ["FeedbackStore", "REQUESTS_FILE", "FIELDS", "feedback_fields"]

REQUESTS_FILE = "requests.jsonl"
FIELDS = ("request_id", "prompt", "model", "score", "cost")
_TAIL_CHUNK = 1 << 16
_log = logging.getLogger(__name__)


def _open_log(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _cut_torn_tail(fd: int) -> int:
    """Truncate a last line left without its newline (its writer died mid-write); the bytes cut."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    os.ftruncate(fd, end)
    os.fsync(fd)
    return size - end


def _number(what: str, value, low=None) -> float:
    """A finite number the records reader can hold (float32's range: a larger one would make
    the log unreadable)."""
    number = validate.real(what, value, low=low)
    if abs(number) > FLOAT32_MAX:
        raise ValueError(f"{what} must be within float32's range (3.4e38), where the records reader "
                         f"keeps it, got {value!r}")
    return number


def _write_all(fd: int, data: bytes) -> None:
    """One write for a line in practice; a short write (a signal, a full disk) is continued."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def feedback_fields(body, lookup, known_models=None) -> dict:
    """The checked fields of a ``/v1/feedback`` body: ``text``, ``model``, ``score``, ``cost``,
    ``request_id``. ``body``: ``request_id`` or ``prompt``, ``model`` (optional with a request
    id: the model that answered), ``score``, optional ``cost``. ``lookup(request_id)`` gives
    ``(prompt, model)`` of a routed request or raises LookupError; ``known_models``: the
    router's (None: any name). A bad body is a ValueError naming the field."""
    if not isinstance(body, dict):
        raise ValueError(f"the feedback must be a JSON object with {', '.join(FIELDS)}; "
                         f"got {type(body).__name__}")
    validate.fields("the feedback", body, FIELDS)
    if "score" not in body:
        raise ValueError("score is required: the answer's quality (e.g. 1 correct, 0 wrong, or a grade)")
    if ("request_id" in body) == ("prompt" in body):
        raise ValueError("give request_id (a response's x-routerrec-request-id) or prompt, "
                         "exactly one of them")
    try:
        model = validate.name("model", body["model"]) if "model" in body else None
        request_id = None
        if "request_id" in body:
            request_id = validate.string("request_id", body["request_id"])
            prompt, answered = lookup(request_id)
            if model is not None and model != answered:
                raise ValueError(f"model {model!r} is not {answered!r}, the model that answered "
                                 f"request {request_id!r}; feedback on a request is about its answer")
            model = answered
        else:
            prompt = validate.string("prompt", body["prompt"])
            if model is None:
                raise ValueError("model is required with prompt: the model whose answer is scored")
        score = _number("score", body["score"])
        cost = None if body.get("cost") is None else _number("cost", body["cost"], low=0)
    except TypeError as e:  # a wrong type is a bad request like a wrong value
        raise ValueError(str(e)) from None
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("prompt must be UTF-8 text; it holds a lone surrogate escape") from None
    if known_models is not None and model not in known_models:
        known = sorted(known_models)
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        raise ValueError(f"model {model!r} is not one of the router's {len(known)} models ({shown})")
    return {"text": prompt, "model": model, "score": score, "cost": cost,
            "request_id": request_id}


class FeedbackStore:
    """Feedback records, durable once :meth:`append` returns (see the module's text).

    ``models``: the model ids feedback may name, or a function returning them (the app passes
    one reading the current router, so a reload changes the set); ``None`` (or the function
    returning ``None``: no router loaded yet) checks only that the id is a name.
    """

    def __init__(self, directory, models: Union[Iterable[str], Callable[[], Iterable[str]], None] = None,
                 *, max_requests: int = 100_000):
        self.directory = validate.path("directory", directory)
        self.max_requests = validate.integer("max_requests", max_requests, low=1)
        self._models = models if models is None or callable(models) else frozenset(models)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # appends (with flock across processes)
        self._requests_lock = threading.RLock()  # the request map and the offset read to
        self._feedback_fd = _open_log(self.directory / FEEDBACK_FILE)
        self._requests_fd = _open_log(self.directory / REQUESTS_FILE)
        fsync_path(self.directory)  # the files' names are durable too
        for fd, name in ((self._feedback_fd, FEEDBACK_FILE), (self._requests_fd, REQUESTS_FILE)):
            with self._locked(fd):
                cut = _cut_torn_tail(fd)
            if cut:
                _log.warning("%s: cut a torn last line of %d bytes (a writer was killed mid-write; "
                             "it was never acknowledged)", self.directory / name, cut)
        self._requests: dict = {}
        self._read_to = 0
        self._read_requests()

    @contextmanager
    def _locked(self, fd: int):
        """This process's threads, then the other processes (flock is per open file, not per thread)."""
        with self._lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def remember(self, request_id: str, prompt: str, model: str) -> None:
        """Log which prompt and model a gateway request had (not fsync'd: cheap per request)."""
        line = json.dumps({"request_id": request_id, "prompt": prompt, "model": model}) + "\n"
        _write_all(self._requests_fd, line.encode("ascii"))
        self._keep(request_id, prompt, model)

    def _keep(self, request_id: str, prompt: str, model: str) -> None:
        with self._requests_lock:
            self._requests[request_id] = (prompt, model)
            while len(self._requests) > self.max_requests:
                del self._requests[next(iter(self._requests))]

    def _read_requests(self) -> None:
        """Take in the request log's complete lines past what was read (other workers' too)."""
        with self._requests_lock, open(self.directory / REQUESTS_FILE, "rb") as fh:
            fh.seek(self._read_to)
            data = fh.read()
            end = data.rfind(b"\n") + 1
            self._read_to += end
            for line in data[:end].splitlines():
                try:
                    entry = json.loads(line)
                    self._keep(entry["request_id"], entry["prompt"], entry["model"])
                except (ValueError, KeyError, TypeError):  # a line glued to a lost fragment
                    continue

    def request(self, request_id: str) -> tuple:
        """``(prompt, model)`` of a routed request; LookupError when this store never saw it."""
        found = self._requests.get(request_id)
        if found is None:
            self._read_requests()
            found = self._requests.get(request_id)
        if found is None:
            raise LookupError(f"request_id {request_id!r} is not a request this gateway routed (or not "
                              f"among its last {self.max_requests}); send the prompt instead")
        return found

    def append(self, body: dict) -> dict:
        """Check one feedback body (``feedback_fields``), append it durably and return the
        stored record."""
        return self.write(self.record(body))

    def record(self, body: dict) -> dict:
        """The record ``write`` stores for a feedback body, checked against this store's
        request log and the router's models (``feedback_fields``); nothing is written."""
        checked = feedback_fields(body, self.request, self._known_models())
        return {"prompt": text_id(checked["text"]), **checked,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def write(self, record: dict) -> dict:
        """Append a ``record`` durably (fsync'd before it returns) and return it."""
        line = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        with self._locked(self._feedback_fd):
            _cut_torn_tail(self._feedback_fd)
            _write_all(self._feedback_fd, line)
            os.fsync(self._feedback_fd)
        return record

    def _known_models(self) -> Optional[frozenset]:
        known = self._models() if callable(self._models) else self._models
        return None if known is None else frozenset(known)

    def close(self) -> None:
        """Close the logs (records are already on disk); a second call does nothing."""
        for attr in ("_feedback_fd", "_requests_fd"):
            fd = getattr(self, attr)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)
