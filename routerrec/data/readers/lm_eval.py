"""A folder of lm-evaluation-harness outputs written with ``--log_samples``.

``lm_eval --output_path OUT --log_samples`` writes, per model, ``OUT/<model>/`` with
``results_<date>.json`` and one ``samples_<task>_<date>.jsonl`` per task: one line per doc,
with ``doc_id``, ``doc`` (the dataset row), ``target``, the responses and, at the top level,
the doc's metrics (``acc``, ``acc_norm``, ``exact_match``, ...; newer versions also write
``filter`` and ``metrics``, the list of metric names). Read as:

* model = the subfolder's name (lm-eval's sanitised name, e.g. ``EleutherAI__pythia-160m``);
  a folder that holds ``samples_*.jsonl`` itself is one model, named by the folder;
* prompt id = ``<task>-<doc_id>``, benchmark = ``<task>``;
* score = the doc's value of the task's metric: ``score=`` when it is not ``"score"`` (one
  name, or a comma-separated preference list such as ``"acc_norm,exact_match"``), else the
  first of :data:`METRICS` the task's first line has, else the first numeric name in its
  ``metrics`` list;
* text = the doc's ``text=`` field, else the first of :data:`DOC_TEXT_FIELDS` it has;
* several filters of one task (gsm8k's ``strict-match`` and ``flexible-extract``): the
  file's first filter is read; several runs of one task for one model: the newest file (by the
  date in its name) is read.

Recognised (``claims``) as a folder holding ``samples_*.jsonl`` or whose subfolders do.
Errors name the samples file, the field and the line (counted among non-empty lines).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import polars as pl

from ..records import RecordsError
from .columns import ROW, validate
from .jsondoc import iter_lines
from .layout import Layout, Part, ReadOptions

__all__ = ["LAYOUTS", "METRICS", "DOC_TEXT_FIELDS", "samples_files"]

METRICS = ("acc", "exact_match", "acc_norm", "pass@1", "pass_at_1", "em", "f1", "mc2", "mc1")
DOC_TEXT_FIELDS = ("question", "query", "prompt", "text", "problem", "sentence", "ctx", "input")
_NAME = re.compile(r"^samples_(?P<task>.+?)(?:_(?P<date>\d{4}-\d{2}-\d{2}T[\d.\-]+))?\.jsonl$")


def samples_files(folder: Path) -> dict:
    """``{(model, task): newest samples file}`` of a results folder (see the module's text)."""
    found = {}
    for model_dir in [folder] + sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(model_dir.glob("samples_*.jsonl")):
            match = _NAME.match(file.name)
            if match is None:
                continue
            key = (model_dir.name, match["task"])
            date = match["date"] or ""
            if key not in found or date >= found[key][0]:
                found[key] = (date, file)
    return {key: file for key, (_, file) in sorted(found.items())}


def _metric(line: dict, named: Optional[str], file: Path) -> str:
    """The score field of a task, chosen from its first line (``named``: comma-separated preference)."""
    if named is not None:
        wanted = tuple(n.strip() for n in named.split(","))
        found = next((n for n in wanted if n in line), None)
        if found is None:
            raise RecordsError(f"none of the metric(s) {', '.join(wanted)} (score=) in the first line; "
                               f"fields present: {sorted(line)}", path=file, row=1)
        return found
    for name in METRICS:
        if name in line:
            return name
    listed = line.get("metrics") if isinstance(line.get("metrics"), list) else []
    for name in listed:
        if isinstance(name, str) and isinstance(line.get(name), (int, float)):
            return name
    raise RecordsError(f"no per-doc metric found (looked for {', '.join(METRICS)} and the 'metrics' list); "
                       f"name one with score=; fields present: {sorted(line)}", path=file, row=1)


def _text(doc, field: Optional[str]) -> Optional[str]:
    if not isinstance(doc, dict):
        return doc if isinstance(doc, str) else None
    names = (field,) if field else DOC_TEXT_FIELDS
    value = next((doc[f] for f in names if f in doc), None)
    return value if isinstance(value, str) else None


def _score(value, file: Path, metric: str, row: int):
    if isinstance(value, (int, float)):
        return float(value) if abs(value) < 1e308 else str(value)  # a huge integer: refused as not finite
    if isinstance(value, str):
        return value  # the validator parses it or names it
    raise RecordsError(f"metric {metric!r} is not a number per doc (got {type(value).__name__}); "
                       f"name a numeric one with score=", path=file, column=metric, row=row)


def _read_file(file: Path, model: str, task: str, options: ReadOptions) -> Part:
    named = options.score if options.score != "score" else None
    metric, first_filter = None, None
    rows, ids, scores, texts, seen = [], [], [], [], {}
    for row, line in iter_lines(file):
        if not isinstance(line, dict):
            raise RecordsError(f"expected a JSON object, got {type(line).__name__}", path=file, row=row)
        if metric is None:
            metric, first_filter = _metric(line, named, file), line.get("filter")
        if line.get("filter") != first_filter:
            continue
        doc_id = line.get("doc_id")
        if isinstance(doc_id, bool) or not isinstance(doc_id, (int, str)) or doc_id == "":
            raise RecordsError(f"doc_id must be an integer or a string, got {doc_id!r}", path=file,
                               column="doc_id", row=row)
        if doc_id in seen:
            raise RecordsError(f"doc_id {doc_id!r} repeats row {seen[doc_id]}", path=file, column="doc_id",
                               row=row)
        seen[doc_id] = row
        if metric not in line:
            raise RecordsError("metric is missing", path=file, column=metric, row=row)
        rows.append(row)
        ids.append(f"{task}-{doc_id}")
        scores.append(_score(line[metric], file, metric, row))
        texts.append(_text(line.get("doc"), options.text))
    if not rows:
        raise RecordsError("has no data rows", path=file)
    numeric = all(isinstance(s, float) for s in scores)
    raw = pl.DataFrame({
        ROW: pl.Series(rows, dtype=pl.UInt64),
        "prompt": pl.Series(ids, dtype=pl.String),
        "model": pl.Series([model] * len(rows), dtype=pl.String),
        "score": pl.Series(scores if numeric else [str(s) for s in scores],
                           dtype=pl.Float64 if numeric else pl.String),
        "benchmark": pl.Series([task] * len(rows), dtype=pl.String),
    })
    mapping = {"prompt": "doc_id", "model": "<folder>", "score": metric, "benchmark": "<task>"}
    validated = validate(raw, str(file), mapping).rows
    text_frame = pl.DataFrame({"prompt": ids, "text": texts}, schema={"prompt": pl.String, "text": pl.String})
    return Part(validated, text_frame)


def _read(path: Path, options: ReadOptions) -> Part:
    if not path.exists():
        raise RecordsError("folder does not exist", path=path)
    if not path.is_dir():
        raise RecordsError("is a file; the lm-eval layout reads the folder given to lm_eval --output_path "
                           "(one subfolder per model holding samples_<task>_<date>.jsonl)", path=path)
    files = samples_files(path)
    for (model, task), file in files.items():
        try:
            (model + task).encode("utf-8")
        except UnicodeEncodeError:
            raise RecordsError("the folder or file name is not UTF-8 text", path=file) from None
    if not files:
        raise RecordsError("no samples_<task>_<date>.jsonl in the folder or its subfolders: run lm_eval with "
                           "--log_samples", path=path)
    parts = [_read_file(file, model, task, options) for (model, task), file in files.items()]
    return Part(pl.concat([p.rows for p in parts], how="vertical"),
                pl.concat([p.texts for p in parts], how="vertical"))


def _claims(path: Path) -> bool:
    try:
        if not path.is_dir():
            return False
        if next(path.glob("samples_*.jsonl"), None) is not None:
            return True
        return next(path.glob("*/samples_*.jsonl"), None) is not None
    except OSError:
        return False


LAYOUTS = (Layout("lm-eval", _read, claims=_claims),)
