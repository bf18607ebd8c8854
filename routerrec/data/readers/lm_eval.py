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

The way back, to add a new LLM from a few of its answers: :func:`lm_eval_samples` turns probe
ids into lm-eval's ``--samples`` value ``{task: [doc indices]}`` (``lm_eval/_cli/run.py``:
"JSON mapping task names to sample indices", a JSON string or a file, incompatible with
``--limit``), :func:`write_samples` / :func:`lm_eval_command` write it and say how to run it,
and :func:`lm_eval_scores` reads that run's ``--log_samples`` output back as
``{prompt id: score}``, parsed by the same code as the reader. lm-eval releases whose
``Task.doc_iterator`` enumerated only the chosen docs logged them as ``doc_id`` 0..k-1 in
index order; given the ``samples`` that were run, :func:`lm_eval_scores` maps such ids back.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Mapping, Optional, Sequence

import polars as pl

from ...util import validate as check
from ...util.files import atomic_write
from ..records import RecordsError
from .columns import ROW, cell_column, cell_value, validate
from .jsondoc import iter_lines, read_document
from .layout import Layout, Part, ReadOptions

__all__ = ["LAYOUTS", "METRICS", "DOC_TEXT_FIELDS", "samples_files", "lm_eval_samples", "write_samples",
           "read_samples", "lm_eval_command", "lm_eval_scores"]

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
    if isinstance(value, (int, float, str)):
        return cell_value(value)  # the validator parses text or names it
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
    raw = pl.DataFrame({
        ROW: pl.Series(rows, dtype=pl.UInt64),
        "prompt": pl.Series(ids, dtype=pl.String),
        "model": pl.Series([model] * len(rows), dtype=pl.String),
        "score": cell_column("score", scores),
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


def _doc_index(prompt: str, task) -> Optional[int]:
    """The doc index of an lm-eval prompt id ``<task>-<index>`` whose task is ``task``, else None."""
    if not isinstance(task, str) or not task or not prompt.startswith(task + "-"):
        return None
    rest = prompt[len(task) + 1:]
    return int(rest) if rest.isascii() and rest.isdecimal() and str(int(rest)) == rest else None


def lm_eval_samples(prompts: Sequence[str], benchmarks: Sequence) -> dict:
    """lm-eval's ``--samples`` value, ``{task: [sorted doc indices]}``, for prompt ids read by
    this reader (``<task>-<doc_id>``, ``benchmarks`` their tasks); any other id is refused,
    since lm-eval chooses docs only by task and index."""
    prompts, benchmarks = check.texts("prompts", prompts), list(benchmarks)
    if len(prompts) != len(benchmarks):
        raise ValueError(f"prompts and benchmarks must have one entry each, got {len(prompts)} and "
                         f"{len(benchmarks)}")
    spec: dict = {}
    for prompt, task in zip(prompts, benchmarks):
        index = _doc_index(prompt, task)
        if index is None:
            raise ValueError(f"prompt id {prompt!r} (benchmark {task!r}) is not an lm-eval id "
                             "'<task>-<doc index>': lm-eval's --samples chooses docs by task and index, so "
                             "probes for lm-eval need a model fitted on records read from an lm-eval "
                             "--log_samples folder (write them as CSV instead: format csv)")
        spec.setdefault(task, set()).add(index)
    return {task: sorted(spec[task]) for task in sorted(spec)}


def write_samples(path, samples: Mapping) -> Path:
    """Write ``samples`` (:func:`lm_eval_samples`) as the JSON file lm-eval's ``--samples`` reads."""
    path = check.path("path", path)
    text = json.dumps({task: list(map(int, docs)) for task, docs in samples.items()}, indent=1)
    atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return path


def read_samples(path) -> dict:
    """A ``--samples`` JSON file (``{task: [doc indices]}``), checked: errors name the file and task."""
    path = check.path("path", path)
    value = read_document(path, advice="a --samples file lists doc indices only")
    if not isinstance(value, dict) or not value:
        raise RecordsError(f"a --samples file is a JSON object {{task: [doc indices]}}, got "
                           f"{type(value).__name__ if value != {} else 'an empty object'}", path=path)
    for task, docs in value.items():
        if not (isinstance(docs, list) and docs and all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in docs)):
            raise RecordsError(f"task {task!r}: expected a non-empty list of doc indices (integers >= 0), "
                               f"got {json.dumps(docs)[:80]}", path=path)
    return {task: sorted(set(docs)) for task, docs in value.items()}


def lm_eval_command(samples: str, output_path: str, tasks: Sequence[str], *, model: str = "hf",
                    model_args: str = "pretrained=YOUR_MODEL") -> str:
    """The ``lm_eval`` command line that runs exactly ``samples`` (a file name or the JSON text)
    and writes per-doc outputs to ``output_path`` for :func:`lm_eval_scores`."""
    return shlex.join(["lm_eval", "--model", model, "--model_args", model_args, "--tasks", ",".join(tasks),
                       "--samples", samples, "--log_samples", "--output_path", output_path])


def _one_model_files(path: Path) -> dict:
    """``{(model, task): samples file}`` of one model's output: a samples file, the model's folder,
    or a folder holding exactly one model's folder."""
    if path.is_file():
        match = _NAME.match(path.name)
        if match is None:
            raise RecordsError("is not an lm-eval samples file (samples_<task>_<date>.jsonl); give it, "
                               "the model's folder, or the --output_path folder", path=path)
        return {(path.parent.name, match["task"]): path}
    if not path.is_dir():
        raise RecordsError("does not exist", path=path)
    files = samples_files(path)
    if not files:
        raise RecordsError("no samples_<task>_<date>.jsonl in the folder or its subfolders: run lm_eval "
                           "with --log_samples", path=path)
    models = sorted({model for model, _ in files})
    if len(models) > 1:
        raise RecordsError(f"holds the outputs of {len(models)} models ({', '.join(models[:4])}"
                           f"{', ...' if len(models) > 4 else ''}): give one model's folder", path=path)
    return files


def _probe_ids(rows: pl.DataFrame, task: str, chosen: Optional[list], file: Path) -> list:
    """The prompt ids of one samples file, matched to the docs that were ``chosen`` for its task
    (lm-eval's renumbering of them as 0..k-1 undone)."""
    ids = rows.get_column("prompt").to_list()
    if chosen is None:
        raise RecordsError(f"task {task!r} is not in the --samples that were run", path=file)
    docs = []
    for prompt, row in zip(ids, rows.get_column(ROW).to_list()):
        index = _doc_index(prompt, task)
        if index is None:
            raise RecordsError(f"doc_id {prompt[len(task) + 1:]!r} is not a doc index", path=file,
                               column="doc_id", row=row)
        docs.append((index, row))
    wanted = set(chosen)
    if all(index in wanted for index, _ in docs):
        return ids
    if sorted(index for index, _ in docs) == list(range(len(chosen))):
        return [f"{task}-{chosen[index]}" for index, _ in docs]
    index, row = next((i, r) for i, r in docs if i not in wanted)
    raise RecordsError(f"doc_id {index} is not one of the {len(chosen)} doc indices run for task {task!r}, "
                       f"nor lm-eval's numbering 0..{len(chosen) - 1} of them", path=file, column="doc_id",
                       row=row)


def lm_eval_scores(path, *, score: str = "score", samples: Optional[Mapping] = None) -> dict:
    """``{prompt id: score}`` of one model's lm-eval ``--log_samples`` output (a samples file, the
    model's folder, or the ``--output_path`` folder holding only it), read as the reader reads it
    (``score``: the metric, as ``score=``). ``samples``: the ``--samples`` that were run
    (:func:`read_samples`); with it, every doc must be one of them, and the ids of lm-eval
    releases that numbered the chosen docs 0..k-1 are mapped back to the docs' indices."""
    path = check.path("path", path)
    options = ReadOptions(score=check.string("score", score))
    scores = {}
    for (model, task), file in _one_model_files(path).items():
        rows = _read_file(file, model, task, options).rows
        ids = (rows.get_column("prompt").to_list() if samples is None
               else _probe_ids(rows, task, samples.get(task), file))
        scores.update(zip(ids, rows.get_column("score").to_list()))
    return scores
