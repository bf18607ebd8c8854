"""The lm-eval round trip from Python: probe ids -> lm-eval's --samples JSON -> one model's
--log_samples output -> {prompt id: score}, on files written here in lm-eval's layout."""
import json
import shlex
from pathlib import Path

import pytest

from routerrec.data.load import load_records
from routerrec.data.readers.lm_eval import (lm_eval_command, lm_eval_samples, lm_eval_scores,
                                            read_samples, write_samples)
from routerrec.data.records import RecordsError

DATE = "2024-06-25T13-40-43.120421"


def _write(folder: Path, task: str, docs: dict, date=DATE, **extra) -> Path:
    """One samples file: ``docs`` = {doc_id: acc}."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{date}.jsonl"
    path.write_text("".join(json.dumps({"doc_id": d, "doc": {"question": f"{task} {d}?"}, "filter": "none",
                                        "metrics": ["acc"], "acc": a, **extra}) + "\n"
                            for d, a in docs.items()))
    return path


def test_samples_of_probe_ids_round_trip_through_the_file(tmp_path):
    ids = ["wmt14-en-fr-7", "arc_easy-12", "arc_easy-3", "wmt14-en-fr-0"]  # task names may hold '-'
    samples = lm_eval_samples(ids, ["wmt14-en-fr", "arc_easy", "arc_easy", "wmt14-en-fr"])
    assert samples == {"arc_easy": [3, 12], "wmt14-en-fr": [0, 7]}
    path = write_samples(tmp_path / "probes.json", samples)
    assert json.loads(path.read_text()) == samples == read_samples(path)
    words = shlex.split(lm_eval_command(str(path), "out dir", list(samples)))
    assert words[words.index("--samples") + 1] == str(path) and words[-1] == "out dir"
    assert words[words.index("--tasks") + 1] == "arc_easy,wmt14-en-fr" and "--log_samples" in words


@pytest.mark.parametrize("prompt, task", [("arc_easy-x", "arc_easy"), ("arc_easy-007", "arc_easy"),
                                          ("q1", "arc_easy"), ("gsm8k-1", "arc_easy"), ("gsm8k-1", None),
                                          ("arc_easy--1", "arc_easy"), ("arc_easy-١", "arc_easy")])
def test_ids_that_are_not_lm_eval_docs_are_refused_by_name(prompt, task):
    with pytest.raises(ValueError, match=f"prompt id {prompt!r} .* is not an lm-eval id"):
        lm_eval_samples(["arc_easy-1", prompt], ["arc_easy", task])


@pytest.mark.parametrize("content, message", [("[1]", "JSON object"), ("{}", "empty object"),
                                              ('{"t": [1, -2]}', "task 't'"), ('{"t": []}', "task 't'"),
                                              ('{"t": [true]}', "task 't'"), ('{"t": "1"}', "task 't'")])
def test_a_bad_samples_file_is_named(tmp_path, content, message):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(RecordsError, match=message) as info:
        read_samples(path)
    assert info.value.path == str(path)


def test_scores_of_one_model_from_its_file_folder_or_the_output_folder(tmp_path):
    out = tmp_path / "out"
    arc = _write(out / "org__new", "arc_easy", {3: 1, 12: 0})
    _write(out / "org__new", "gsm8k", {5: 1})
    want = {"arc_easy-3": 1.0, "arc_easy-12": 0.0, "gsm8k-5": 1.0}
    assert lm_eval_scores(out) == lm_eval_scores(out / "org__new") == want
    assert lm_eval_scores(arc) == {"arc_easy-3": 1.0, "arc_easy-12": 0.0}
    # the same parsing as the reader: the same ids and scores as load_records gives
    rec = load_records(out)
    assert {r["prompt"]: r["score"] for r in rec.table.iter_rows(named=True)} == want


def test_renumbered_docs_are_mapped_back_only_with_the_samples(tmp_path):
    samples = {"arc_easy": [3, 12, 30]}
    _write(tmp_path / "old" / "m", "arc_easy", {0: 1, 1: 0, 2: 1})  # lm-eval numbering the chosen 0..k-1
    assert lm_eval_scores(tmp_path / "old", samples=samples) == {"arc_easy-3": 1.0, "arc_easy-12": 0.0,
                                                                 "arc_easy-30": 1.0}
    assert lm_eval_scores(tmp_path / "old") == {"arc_easy-0": 1.0, "arc_easy-1": 0.0, "arc_easy-2": 1.0}
    _write(tmp_path / "new" / "m", "arc_easy", {3: 1, 30: 1})  # the docs' own indices, some missing
    assert lm_eval_scores(tmp_path / "new", samples=samples) == {"arc_easy-3": 1.0, "arc_easy-30": 1.0}


def test_errors_name_the_file_the_field_and_the_line(tmp_path):
    stray = _write(tmp_path / "a" / "m", "arc_easy", {3: 1, 4: 1, 5: 0})
    with pytest.raises(RecordsError, match="doc_id 4 is not one of the 2 doc indices") as info:
        lm_eval_scores(stray, samples={"arc_easy": [3, 5]})
    assert (info.value.path, info.value.column, info.value.row) == (str(stray), "doc_id", 2)
    with pytest.raises(RecordsError, match="task 'arc_easy' is not in the --samples"):
        lm_eval_scores(stray, samples={"gsm8k": [1]})
    named = _write(tmp_path / "b" / "m", "arc_easy", {"x1": 1})
    with pytest.raises(RecordsError, match="doc_id 'x1' is not a doc index") as info:
        lm_eval_scores(named, samples={"arc_easy": [1]})
    assert info.value.row == 1
    _write(tmp_path / "two" / "m1", "arc_easy", {1: 1})
    _write(tmp_path / "two" / "m2", "arc_easy", {1: 1})
    with pytest.raises(RecordsError, match=r"holds the outputs of 2 models \(m1, m2\)"):
        lm_eval_scores(tmp_path / "two")
    with pytest.raises(RecordsError, match="no samples_<task>_<date>.jsonl"):
        (tmp_path / "empty").mkdir()
        lm_eval_scores(tmp_path / "empty")
    other = tmp_path / "scores.jsonl"
    other.write_text("{}\n")
    with pytest.raises(RecordsError, match="is not an lm-eval samples file"):
        lm_eval_scores(other)
    with pytest.raises(RecordsError, match="does not exist"):
        lm_eval_scores(tmp_path / "absent")
    with pytest.raises(RecordsError, match="none of the metric.s. bleu") as info:
        lm_eval_scores(stray, score="bleu")
    assert info.value.row == 1
