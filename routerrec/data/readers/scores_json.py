"""The scores-JSON layout router papers publish: one object per prompt with a ``scores`` object.

A JSON array of objects, or JSON Lines (one object per line)::

    [{"question": "What is 2+2?", "scores": {"gpt-4": 1, "llama-7b": 0}, "task": "math"}, ...]

Fields, each chosen from the first object (the first of each list that it has):

* text: ``text=``, else ``question``, ``prompt``, ``query``, ``instruction``;
* id: ``prompt=`` when it is not the default ``"prompt"``, else ``id``, ``sample_id``,
  ``question_id``; without one, the id is :func:`text_id` of the text (the first 16 hex
  digits of the SHA-1 of its UTF-8 bytes), so a text repeated in the file is one prompt and its
  repeated scores are duplicates, resolved by ``on_duplicate``;
* scores: ``score=`` when it is not ``"score"``, else ``scores``: ``{model: score}``; a null
  score means "not evaluated" and is dropped;
* costs (optional): ``cost=``, else ``costs``: ``{model: USD}``;
* benchmark (optional): ``benchmark=``, else ``task``, ``task_name``, ``benchmark``,
  ``eval_name``, ``category``.

Recognised (``claims``) when the first object has a ``scores`` object. Row numbers are the
object's position in the array, or its line among the non-empty lines; an error about a score
or a cost names the column ``scores.<model>`` / ``costs.<model>``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import polars as pl

from ..records import RecordsError
from .columns import COST_FROM, ROW, SCORE_FROM, cell_column, cell_value, validate
from .jsondoc import first_record, iter_lines, read_document
from .tables import check_file
from .layout import Layout, Part, ReadOptions

__all__ = ["LAYOUTS", "TEXT_FIELDS", "ID_FIELDS", "TASK_FIELDS", "text_id"]

TEXT_FIELDS = ("question", "prompt", "query", "instruction")
ID_FIELDS = ("id", "sample_id", "question_id")
TASK_FIELDS = ("task", "task_name", "benchmark", "eval_name", "category")
_SUFFIXES = (".json", ".jsonl", ".ndjson")


def text_id(text: str) -> str:
    """The id of a prompt known only by its text: the first 16 hex digits of SHA-1 of its UTF-8."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _records(path: Path):
    """``(row, object)`` pairs of an array document or of JSON Lines."""
    check_file(path)
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        doc = read_document(path, advice="write it as JSON Lines (one object per line), which is "
                                          "read one line at a time")
        return enumerate(doc, start=1)
    return iter_lines(path)


def _pick(first: dict, named: Optional[str], default: Optional[str], candidates: tuple) -> Optional[str]:
    """The field to read: the one the caller named (when not the default), else the first
    candidate the first object has."""
    if named is not None and named != default:
        return named
    return next((f for f in candidates if f in first), None)


class _Fields:
    """The field names of one file, chosen from its first object."""

    def __init__(self, first: dict, options: ReadOptions, path: Path):
        self.text = _pick(first, options.text, None, TEXT_FIELDS)
        self.id = _pick(first, options.prompt, "prompt", ID_FIELDS)
        self.scores = options.score if options.score != "score" else "scores"
        self.costs = _pick(first, options.cost, None, ("costs",))
        self.task = _pick(first, options.benchmark, None, TASK_FIELDS)
        given = {"text": options.text, "cost": options.cost, "benchmark": options.benchmark,
                 "prompt": None if options.prompt == "prompt" else options.prompt}
        absent = [f"{opt}={name!r}" for opt, name in given.items() if name is not None and name not in first]
        if absent:
            raise RecordsError(f"the first object has no field {', '.join(absent)}; fields present: {sorted(first)}",
                               path=path, row=1)
        if self.id is None and self.text is None:
            raise RecordsError(
                f"the first object has no id field ({', '.join(ID_FIELDS)}) and no text field "
                f"({', '.join(TEXT_FIELDS)}); name one with prompt= or text=; fields present: "
                f"{sorted(first)}", path=path, row=1)

    def mapping(self) -> dict:
        """Canonical name -> field, for errors."""
        m = {"prompt": self.id or self.text, "model": self.scores, "score": self.scores}
        if self.costs:
            m["cost"] = self.costs
        if self.task:
            m["benchmark"] = self.task
        return m


def _id_of(value, path: Path, field: str, row: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordsError(f"id must be a string or an integer, got {json.dumps(value)[:60]}",
                       path=path, column=field, row=row)


def _read(path: Path, options: ReadOptions) -> Part:
    fields = None
    rows, ids, texts, tasks = [], [], [], []
    cell_rec, cell_model, cell_score, cell_cost = [], [], [], []
    for row, obj in _records(path):
        if not isinstance(obj, dict):
            raise RecordsError(f"expected a JSON object, got {type(obj).__name__}", path=path, row=row)
        if fields is None:
            fields = _Fields(obj, options, path)
        text = obj.get(fields.text) if fields.text else None
        if text is not None and not isinstance(text, str):
            raise RecordsError(f"text must be a string, got {json.dumps(text)[:60]}", path=path,
                               column=fields.text, row=row)
        if fields.id is not None:
            if obj.get(fields.id) is None:
                raise RecordsError("id is missing", path=path, column=fields.id, row=row)
            pid = _id_of(obj[fields.id], path, fields.id, row)
        elif text is None or not text.strip():
            raise RecordsError("text is missing or empty (it makes the id: the file has no id field)",
                               path=path, column=fields.text, row=row)
        else:
            pid = text_id(text)
        scores = obj.get(fields.scores)
        if not isinstance(scores, dict):
            raise RecordsError(f"expected an object {{model: score}}, got {json.dumps(scores)[:60]}",
                               path=path, column=fields.scores, row=row)
        costs = obj.get(fields.costs) if fields.costs else None
        if costs is not None and not isinstance(costs, dict):
            raise RecordsError(f"expected an object {{model: cost}}, got {json.dumps(costs)[:60]}",
                               path=path, column=fields.costs, row=row)
        task = obj.get(fields.task) if fields.task else None
        rec = len(rows)
        rows.append(row)
        ids.append(pid)
        texts.append(text)
        tasks.append(None if task is None else str(task))
        for model, score in scores.items():
            if score is None:  # not evaluated
                continue
            cell_rec.append(rec)
            cell_model.append(model)
            cell_score.append(cell_value(score))
            cost = None if costs is None else costs.get(model)
            cell_cost.append(None if cost is None else cell_value(cost))
    if fields is None:
        raise RecordsError("has no data rows", path=path)
    if not cell_rec:
        raise RecordsError(f"no scores: every '{fields.scores}' object is empty or null", path=path)
    return _part(path, fields, rows, ids, texts, tasks, (cell_rec, cell_model, cell_score, cell_cost))


def _part(path: Path, fields: _Fields, rows, ids, texts, tasks, cells) -> Part:
    """The cells as raw long rows, validated (errors name ``scores.<model>`` and the row)."""
    cell_rec, cell_model, cell_score, cell_cost = cells
    per = pl.DataFrame({ROW: rows, "prompt": ids, "benchmark": tasks},
                       schema={ROW: pl.UInt64, "prompt": pl.String, "benchmark": pl.String})
    long = per.select(pl.all().gather(pl.Series(cell_rec, dtype=pl.UInt64))).with_columns(
        pl.Series("model", cell_model, dtype=pl.String),
        cell_column("score", cell_score),
        pl.concat_str(pl.lit(fields.scores + "."), pl.Series(cell_model, dtype=pl.String)).alias(SCORE_FROM),
        pl.concat_str(pl.lit(f"{fields.costs or 'costs'}."), pl.Series(cell_model, dtype=pl.String)).alias(COST_FROM),
    )
    if fields.costs:
        long = long.with_columns(cell_column("cost", cell_cost))
    rows_part = validate(long, str(path), fields.mapping()).rows
    text_frame = None
    if fields.text:
        text_frame = pl.DataFrame({"prompt": ids, "text": texts}, schema={"prompt": pl.String, "text": pl.String})
    return Part(rows_part, text_frame)


def _claims(path: Path) -> bool:
    first = first_record(path)
    return isinstance(first, dict) and isinstance(first.get("scores"), dict)


LAYOUTS = (Layout("scores-json", _read, _SUFFIXES, claims=_claims),)
