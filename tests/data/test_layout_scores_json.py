"""The scores-json layout (router papers' {question, scores: {model: score}} files), read from
small files written here; every error names the file, the field and the row."""
import doctest
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from routerrec.data.load import load_records
from routerrec.data.readers import file_benchmark
from routerrec.data.readers.layout import ReadOptions
from routerrec.data.readers.registry import layout_for, layouts
from routerrec.data.readers.scores_json import text_id
from routerrec.util.limits import MAX_BYTES_ENV
from layout_helpers import load_error

ROWS = [
    {"question": "What is 2+2?", "scores": {"gpt-4": 1, "llama-7b": 0}, "costs": {"gpt-4": 0.01, "llama-7b": 0.001},
     "task": "math"},
    {"question": "Capital of France?", "scores": {"gpt-4": 1.0, "llama-7b": True, "mistral": None}, "task": "trivia"},
    {"question": "Name a prime.", "scores": {"gpt-4": 0.5, "mistral": 1}, "task": "math"},
]


def _array(path: Path, rows) -> Path:
    path.write_text(json.dumps(rows, indent=1))
    return path


def _lines(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("write", [_array, _lines], ids=["array", "jsonl"])
def test_a_published_file_is_recognised_and_read(tmp_path, write):
    path = write(tmp_path / "router.json", ROWS)
    assert layout_for(path).name == "scores-json"
    rec = load_records(path)
    first = hashlib.sha1("What is 2+2?".encode()).hexdigest()[:16]
    assert text_id("What is 2+2?") == first
    assert rec.n_prompts == 3 and rec.n_models == 3 and rec.n_records == 6  # null = not evaluated
    assert rec.text_of([first]) == ["What is 2+2?"]
    assert rec.benchmarks == ["math", "trivia"]
    t = rec.table.sort("prompt", "model")
    row = t.filter((pl.col("prompt") == first) & (pl.col("model") == "gpt-4")).row(0, named=True)
    assert row["score"] == 1.0 and row["cost"] == 0.01 and row["benchmark"] == "math"
    assert rec.info()["cost_coverage"] == pytest.approx(2 / 6)
    assert t.filter(pl.col("model") == "llama-7b")["score"].sort().to_list() == [0.0, 1.0]  # true is 1


def test_an_id_field_gives_the_ids_and_options_name_other_fields(tmp_path):
    rows = [{"question_id": 70, "question": "a?", "scores": {"m": 1}},
            {"question_id": "x1", "question": "b?", "scores": {"m": 0}}]
    rec = load_records(_lines(tmp_path / "ids.jsonl", rows))
    assert rec.prompts == ["70", "x1"] and rec.text_of(["70"]) == ["a?"]
    custom = [{"uid": "u1", "instruction": "do it", "perf": {"m": 0.25}, "dataset": "d", "price": {"m": 2}}]
    path = _lines(tmp_path / "custom.jsonl", custom)
    rec = load_records(path, format="scores-json", prompt="uid", score="perf", benchmark="dataset", cost="price")
    assert rec.table.row(0, named=True) == {"prompt": "u1", "model": "m", "score": 0.25, "cost": 2.0,
                                            "benchmark": "d"}
    assert rec.text_of(["u1"]) == ["do it"]


def test_a_repeated_text_is_one_prompt_and_the_usual_duplicate_rule_applies(tmp_path):
    rows = ROWS + [{"question": "What is 2+2?", "scores": {"gpt-4": 0, "llama-7b": 1}, "task": "math"}]
    path = _array(tmp_path / "dup.json", rows)
    err = load_error(path)
    assert "duplicate (prompt, model) pair" in str(err) and "row 1 and row 4" in str(err) and err.row == 4
    rec = load_records(path, on_duplicate="mean")
    cell = rec.table.filter((pl.col("prompt") == text_id("What is 2+2?")) & (pl.col("model") == "gpt-4"))
    assert cell["score"].to_list() == [0.5]


@pytest.mark.parametrize("rows, column, row, words", [
    ([{"question": "a", "scores": {"m": 1}}, {"question": "b", "scores": {"m": "high"}}], "scores.m", 2,
     "score is not a finite number: 'high'"),
    ([{"question": "a", "scores": {"m": 1}, "costs": {"m": -1}}], "costs.m", 1, "cost is negative"),
    ([{"question": "a", "scores": {"m": 1}}, {"question": None, "scores": {"m": 1}}], "question", 2,
     "text is missing"),
    ([{"question": "a", "scores": {"m": 1}}, {"question": "b", "scores": [1, 0]}], "scores", 2,
     "expected an object {model: score}"),
    ([{"question": "a", "scores": {"m": 1}}, {"question": 3, "scores": {"m": 1}}], "question", 2,
     "text must be a string"),
    ([{"id": ["x"], "question": "a", "scores": {"m": 1}}], "id", 1, "id must be a string or an integer"),
    ([{"question": "a", "scores": {"m": [1]}}], "scores.m", 1, "score is not a finite number"),
    ([{"question": "a", "scores": {"m": 1}, "costs": {"m": "free"}}], "costs.m", 1, "cost is not a finite number"),
])
def test_bad_values_name_the_file_the_field_and_the_row(tmp_path, rows, column, row, words):
    path = _lines(tmp_path / "bad.jsonl", rows)
    err = load_error(path, format="scores-json")
    assert (err.path, err.column, err.row) == (str(path), column, row)
    assert words in str(err)


def test_bad_documents_name_the_file_and_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"question": "a", "scores": {"m": 1}}\n\n{"question": "b", "scores": {"m": 1}\n')
    err = load_error(path)
    assert err.row == 2 and "invalid JSON" in str(err)
    path = tmp_path / "broken.json"
    path.write_text('[{"question": "a", "scores": {"m": 1}},\n {"question": ')
    err = load_error(path, format="scores-json")
    assert "invalid JSON at line 2" in str(err) and err.path == str(path)
    path = tmp_path / "list.jsonl"
    path.write_text('{"question": "a", "scores": {"m": 1}}\n[1, 2]\n')
    assert load_error(path).row == 2
    path = tmp_path / "nothing.json"
    path.write_text("[]")
    assert "has no data rows" in str(load_error(path, format="scores-json"))
    path = _lines(tmp_path / "noid.jsonl", [{"answer": "a", "scores": {"m": 1}}])
    err = load_error(path)
    assert err.row == 1 and "no id field" in str(err) and "prompt= or text=" in str(err)


def test_deep_nesting_and_oversized_documents_are_refused(tmp_path, monkeypatch):
    deep = '{"question": "a", "scores": {"m": 1}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text('{"question": "b", "scores": {"m": 1}}\n' + deep + "\n")
    err = load_error(path)
    assert err.row == 2 and "nested too deeply" in str(err)
    path = tmp_path / "deep.json"
    path.write_text("[" + deep + "]")
    assert "nested too deeply" in str(load_error(path, format="scores-json"))
    big = _array(tmp_path / "big.json", ROWS * 50)
    monkeypatch.setenv(MAX_BYTES_ENV, "1000")
    err = load_error(big)
    assert err.path == str(big) and "above the limit" in str(err) and "JSON Lines" in str(err)


def test_other_json_files_are_left_to_the_long_layout(tmp_path):
    path = _lines(tmp_path / "long.jsonl", [{"prompt": "p", "model": "m", "score": 1}])
    assert layout_for(path).name == "jsonl"
    assert load_records(path).n_records == 1
    assert layout_for(tmp_path / "missing.json").name == "jsonl"


def test_the_benchmark_can_come_from_each_file_name(tmp_path):
    assert doctest.testmod(file_benchmark).failed == 0
    read = layouts()["scores-json"].read
    rows = [{"question": "a", "scores": {"m": 1}, "task": "ignored"}]
    parts = {name: file_benchmark.with_file_benchmark(read(_array(tmp_path / name, rows), ReadOptions()),
                                                      tmp_path / name)
             for name in ("mmlu_train.json", "gsm8k-test.json", "MATH_prealgebra.json")}
    assert {name: part.rows["benchmark"].to_list() for name, part in parts.items()} == {
        "mmlu_train.json": ["mmlu"], "gsm8k-test.json": ["gsm8k"], "MATH_prealgebra.json": ["MATH_prealgebra"]}


def test_a_named_field_the_first_object_lacks_is_named(tmp_path):
    path = _lines(tmp_path / "named.jsonl", ROWS)
    err = load_error(path, text="prompt_text", benchmark="suite")
    assert err.row == 1 and "no field text='prompt_text', benchmark='suite'" in str(err)


@pytest.mark.parametrize("line, column, words", [
    ('{"question": "a\\ud800", "scores": {"m": 1}}', None, "lone UTF-16 surrogate"),
    ('{"question": "a", "scores": {"m\\udc00": 1}}', None, "lone UTF-16 surrogate"),
    ('{"question": "a", "scores": {"m": 1' + "0" * 400 + "}}", "scores.m", "score is not a finite number"),
])
def test_hostile_values_are_refused_with_the_row(tmp_path, line, column, words):
    path = tmp_path / "hostile.jsonl"
    path.write_text('{"question": "ok", "scores": {"m": 1}}\n' + line + "\n")
    err = load_error(path)
    assert (err.path, err.column, err.row) == (str(path), column, 2) and words in str(err)
    emoji = tmp_path / "emoji.jsonl"
    emoji.write_text('{"question": "a\\ud83d\\ude00", "scores": {"m": 1}}\n')  # a whole pair is text
    assert load_records(emoji).texts["text"].to_list() == ["a\U0001F600"]


def test_several_files_take_their_benchmark_from_their_names(tmp_path):
    rows = [{"question": "What is 2+2?", "scores": {"m1": 1, "m2": 0}},
            {"question": "Name a prime.", "scores": {"m1": 0, "m2": 1}}]
    (tmp_path / "mmlu_train.json").write_text(json.dumps(rows[:1]))
    (tmp_path / "gsm8k-test.json").write_text(json.dumps(rows[1:]))
    records = load_records([tmp_path / "mmlu_train.json", tmp_path / "gsm8k-test.json"],
                           benchmark_from_name=True)
    assert sorted(records.prompt_benchmark.values()) == ["gsm8k", "mmlu"]
    with pytest.raises(TypeError, match="benchmark_from_name must be True or False"):
        load_records(tmp_path / "mmlu_train.json", benchmark_from_name="yes")
