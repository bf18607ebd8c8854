"""A folder of lm-evaluation-harness --log_samples outputs, written here as lm-eval writes it
(OUT/<model>/samples_<task>_<date>.jsonl, one line per doc with doc_id, doc, the metrics)."""
import json
from pathlib import Path

import pytest

from routerrec.data.load import load_records
from routerrec.data.readers.registry import layout_for
from layout_helpers import load_error

DATE = "2024-06-25T13-40-43.120421"


def _sample(doc_id, doc, **metrics):
    names = list(metrics)
    line = {"doc_id": doc_id, "doc": doc, "target": "0", "arguments": {"gen_args_0": {"arg_0": "ctx"}},
            "resps": [[["-1.2", "False"]]], "filtered_resps": [["-1.2", "False"]], "filter": "none",
            "metrics": names, "doc_hash": "h", "prompt_hash": "h", "target_hash": "h"}
    line.update(metrics)
    return line


def _write(folder: Path, task: str, lines, date=DATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{date}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _results(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    for model, accs in (("EleutherAI__pythia-160m", [1, 0, 1]), ("org__model-b", [0, 0, 1])):
        _write(out / model, "arc_easy", [_sample(i, {"question": f"Q{i}?", "choices": ["a", "b"]}, acc=a,
                                                 acc_norm=1.0) for i, a in enumerate(accs)])
        gsm = [dict(_sample(i, {"question": f"G{i}?"}, exact_match=1.0), filter="strict-match") for i in range(2)]
        gsm += [dict(_sample(i, {"question": f"G{i}?"}, exact_match=0.0), filter="flexible-extract")
                for i in range(2)]
        _write(out / model, "gsm8k", gsm)
        (out / model / f"results_{DATE}.json").write_text("{}")
    return out


def test_an_output_folder_is_recognised_and_read(tmp_path):
    out = _results(tmp_path)
    assert layout_for(out).name == "lm-eval"
    rec = load_records(out)
    assert rec.models == ["EleutherAI__pythia-160m", "org__model-b"]
    assert rec.prompts == ["arc_easy-0", "arc_easy-1", "arc_easy-2", "gsm8k-0", "gsm8k-1"]
    assert rec.benchmarks == ["arc_easy", "gsm8k"] and rec.score_kind == "binary"
    assert rec.text_of(["arc_easy-1", "gsm8k-0"]) == ["Q1?", "G0?"]
    cells = {(r["prompt"], r["model"]): r["score"] for r in rec.table.iter_rows(named=True)}
    assert cells[("arc_easy-1", "EleutherAI__pythia-160m")] == 0.0  # acc, the first of the preference list
    assert cells[("gsm8k-0", "org__model-b")] == 1.0  # the file's first filter (strict-match)
    assert rec.n_records == 10


def test_score_names_the_metric_as_a_preference_list(tmp_path):
    out = _results(tmp_path)
    rec = load_records(out, score="acc_norm,exact_match")
    assert set(rec.table.filter(rec.table["benchmark"] == "arc_easy")["score"]) == {1.0}
    err = load_error(out, score="bleu")
    assert err.row == 1 and "none of the metric(s) bleu" in str(err) and err.path.endswith(".jsonl")


def test_the_newest_run_of_a_task_is_read_and_one_model_folder_works(tmp_path):
    model = tmp_path / "one-model"
    _write(model, "arc_easy", [_sample(0, {"query": "old?"}, acc=0)], date="2024-01-01T00-00-00.0")
    _write(model, "arc_easy", [_sample(0, {"query": "new?"}, acc=1)])
    rec = load_records(model)
    assert rec.models == ["one-model"] and rec.table["score"].to_list() == [1.0]
    assert rec.text_of(["arc_easy-0"]) == ["new?"]


def test_the_metric_list_is_the_fallback_and_text_names_a_doc_field(tmp_path):
    model = tmp_path / "out" / "m"
    _write(model, "custom", [_sample(0, {"passage": "P", "q": "x"}, rouge1=0.25)])
    rec = load_records(tmp_path / "out", text="passage")
    assert rec.table["score"].to_list() == [0.25] and rec.text_of(["custom-0"]) == ["P"]


@pytest.mark.parametrize("lines, column, row, words", [
    ([_sample(0, {}, acc=1), _sample(1, {})], "acc", 2, "metric is missing"),
    ([_sample(0, {}, acc=1), _sample(0, {}, acc=0)], "doc_id", 2, "doc_id 0 repeats row 1"),
    ([_sample(0, {}, acc=1), _sample(None, {}, acc=0)], "doc_id", 2, "doc_id must be"),
    ([_sample(0, {}, acc=[1, 2])], "acc", 1, "is not a number per doc"),
    ([_sample(0, {}, acc=1), _sample(1, {}, acc="n/a")], "acc", 2, "score is not a finite number: 'n/a'"),
    ([_sample(0, {}, bleu=[["a"], ["b"]])], None, 1, "no per-doc metric found"),
])
def test_bad_lines_name_the_samples_file_the_field_and_the_line(tmp_path, lines, column, row, words):
    path = _write(tmp_path / "out" / "m", "task", lines)
    err = load_error(tmp_path / "out")
    assert (err.path, err.column, err.row) == (str(path), column, row)
    assert words in str(err)


def test_what_is_not_an_output_folder_is_named(tmp_path):
    empty = tmp_path / "empty"
    (empty / "m").mkdir(parents=True)
    assert "run lm_eval with --log_samples" in str(load_error(empty, format="lm-eval"))
    path = _write(tmp_path / "out" / "m", "task", [_sample(0, {}, acc=1)])
    assert "is a file" in str(load_error(path, format="lm-eval"))
    assert layout_for(path).name == "jsonl"  # a samples file alone is not the folder layout
    assert "folder does not exist" in str(load_error(tmp_path / "nope", format="lm-eval"))
    bad = tmp_path / "bad" / "m"
    bad.mkdir(parents=True)
    (bad / f"samples_t_{DATE}.jsonl").write_text('{"doc_id": 0, "acc": 1}\n{"doc_id": 1,\n')
    err = load_error(tmp_path / "bad")
    assert err.row == 2 and "invalid JSON" in str(err)
