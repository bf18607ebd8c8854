"""The wide matrix layout (one row per prompt, one column per model), read from small files
written here; it must not take the files of the long or RouterBench layouts."""
from pathlib import Path

import polars as pl
import pytest

from routerrec.data.load import load_records
from routerrec.data.readers.registry import layout_for
from routerrec.data.records import RecordsError
from layout_helpers import load_error


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_response_matrix_is_recognised_and_empty_cells_are_not_evaluated(tmp_path):
    path = _csv(tmp_path / "irt.csv", "item,gpt-4,llama-7b,mistral\nq1,1,0,\nq2,0.5,1,1\nq3,, ,0\n")
    assert layout_for(path).name == "matrix"
    rec = load_records(path)
    assert rec.prompts == ["q1", "q2", "q3"] and rec.models == ["gpt-4", "llama-7b", "mistral"]
    assert rec.n_records == 6 and not rec.has_costs and rec.benchmarks == []
    cells = {(r["prompt"], r["model"]): r["score"] for r in rec.table.iter_rows(named=True)}
    assert cells[("q2", "gpt-4")] == 0.5 and ("q1", "mistral") not in cells and ("q3", "llama-7b") not in cells


def test_id_text_and_benchmark_columns(tmp_path):
    text = "n,prompt,text,benchmark,a,b\n1,p1,What?,math,1,0\n2,p2,Why?,code,0,1\n"
    rec = load_records(_csv(tmp_path / "named.csv", text))  # the 'prompt' column is the id, not the first
    assert rec.prompts == ["p1", "p2"] and rec.text_of(["p1", "p2"]) == ["What?", "Why?"]
    assert rec.benchmarks == ["code", "math"] and rec.models == ["a", "b", "n"]
    text = "uid,question,suite,a,b\nu1,What?,math,1,0\nu2,Why?,code,0,1\n"
    path = _csv(tmp_path / "options.csv", text)
    rec = load_records(path, format="matrix", text="question", benchmark="suite")
    assert rec.prompts == ["u1", "u2"] and rec.models == ["a", "b"] and rec.text_of(["u2"]) == ["Why?"]
    assert rec.prompt_benchmark == {"u1": "math", "u2": "code"}
    err = load_error(path, format="matrix", text="prompt_text")
    assert err.path == str(path) and "missing text column 'prompt_text'" in str(err)


def test_parquet_with_mixed_column_types(tmp_path):
    path = tmp_path / "m.parquet"
    pl.DataFrame({"id": [1, 2, 3], "a": [1.0, None, 0.0], "b": [True, False, None], "c": [1, 0, 1]}).write_parquet(path)
    assert layout_for(path).name == "matrix"
    rec = load_records(path)
    assert rec.prompts == ["1", "2", "3"] and rec.n_records == 7 and rec.score_kind == "binary"


@pytest.mark.parametrize("text, layout", [
    ("prompt,model,score\np1,a,1\n", "csv"),                                    # long, default names
    ("item,llm,correct,cost\nq1,gpt-4,1,0.1\n", "csv"),                         # long, own names
    ("item,subject,a,b\nq1,math,1,0\n", "csv"),                                 # a non-numeric extra column
    ("item,a\nq1,1\n", "csv"),                                                  # one model column
    ("sample_id,prompt,eval_name,m1,m1|total_cost\ns1,\"['hi']\",arc,1,0.1\n", "routerbench"),
])
def test_files_of_other_layouts_are_not_taken(tmp_path, text, layout):
    assert layout_for(_csv(tmp_path / "other.csv", text)).name == layout


def test_long_files_with_own_column_names_still_load(tmp_path):
    path = _csv(tmp_path / "long.csv", "item,llm,correct\nq1,gpt-4,1\nq1,llama,0\n")
    assert load_records(path, prompt="item", model="llm", score="correct").n_records == 2


def test_bad_cells_name_the_model_column_and_the_row(tmp_path):
    path = _csv(tmp_path / "bad.csv", "item,a,b\nq1,1,0\nq2,0,x\n")
    assert layout_for(path).name == "csv"  # not numeric: not claimed ...
    err = load_error(path, format="matrix")  # ... but forced, the cell is named
    assert (err.path, err.column, err.row) == (str(path), "b", 2) and "'x'" in str(err)
    path = _csv(tmp_path / "dup.csv", "item,a,b\nq1,1,0\nq1,0,1\n")
    err = load_error(path)
    assert "duplicate (prompt, model) pair ('q1', 'a')" in str(err) and err.row == 2
    assert load_records(path, on_duplicate="last").table.sort("model")["score"].to_list() == [0.0, 1.0]
    path = _csv(tmp_path / "empty.csv", "item,a,b\nq1,,\n")
    assert "every model cell is empty" in str(load_error(path, format="matrix"))
    path = _csv(tmp_path / "noid.csv", "item,a,b\n,1,0\n")
    err = load_error(path, format="matrix")
    assert (err.column, err.row) == ("item", 1) and "prompt id is missing" in str(err)
    path = _csv(tmp_path / "narrow.csv", "item\nq1\n")
    assert "at least one model column" in str(load_error(path, format="matrix"))


def test_matrix_options_naming_one_column_twice_and_a_model_called_prompt(tmp_path):
    path = tmp_path / "m.parquet"
    pl.DataFrame({"prompt": ["a", "b"], "m1": [1.0, 0.0], "m2": [0.0, 1.0],
                  "benchmark": ["x", "y"]}).write_parquet(path)
    with pytest.raises(RecordsError, match="name one column twice"):
        load_records(path, format="matrix", benchmark="prompt")
    wide = tmp_path / "w.csv"
    pl.DataFrame({"item": ["a", "b"], "prompt": [1.0, 0.0], "m2": [0.0, 1.0],
                  "benchmark": ["x", "y"]}).write_csv(wide)
    records = load_records(wide, prompt="item", format="matrix")
    assert records.models == ["m2", "prompt"] and records.benchmarks == ["x", "y"]
