"""Issue 11, the records readers: each hostile file or argument found by the sweep, written for
real in the test, gives one RecordsError (or a TypeError / ValueError for an argument) that
names the file, the column and the row, never a traceback from deep inside or a silently
changed record."""
import gzip
import json
import os
import threading
import warnings

import polars as pl
import pytest

from routerrec.data.load import load_records, records_from_frame
from routerrec.data.records import RecordsError
from routerrec.util.limits import MAX_BYTES_ENV


def text_file(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def jsonl(tmp_path, *rows, name="recs.jsonl"):
    return text_file(tmp_path, name, "".join(r if isinstance(r, str) else json.dumps(r) + "\n"
                                             for r in rows))


def refused(match, path, **kw):
    """The RecordsError of loading ``path``, which names the file."""
    with pytest.raises(RecordsError, match=match) as info:
        load_records(path, **kw)
    assert str(path) in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- ids


def test_white_space_around_ids_is_stripped_so_p1_and_p1_space_are_one_prompt(tmp_path):
    path = text_file(tmp_path, "r.csv", "prompt,model,score\np1,a,1\np1 ,a,0\n p2,a , 1\n")
    err = refused("duplicate .*'p1', 'a'.* in row 1 and row 2", path)
    assert err.row == 2
    rec = load_records(path, on_duplicate="mean")
    assert rec.prompts == ["p1", "p2"] and rec.models == ["a"] and rec.n_records == 2
    other = text_file(tmp_path, "other.csv", "prompt,model,score\n\tp2\u3000,b,1\n")
    both = load_records([path, other], on_duplicate="last")
    assert both.prompts == ["p1", "p2"] and both.models == ["a", "b"]
    assert both.matrix().shape == (2, 2) and both.matrix().scores.nnz == 3


@pytest.mark.parametrize("blank", ["   ", "\t", " \u00a0 "])
def test_an_id_of_white_space_only_is_missing(tmp_path, blank):
    path = text_file(tmp_path, "r.csv", f"prompt,model,score\np1,a,1\n\"{blank}\",a,0\n")
    err = refused(r"column 'prompt', row 2: prompt id is missing \(null, empty or white space\)",
                  path)
    assert (err.column, err.row) == ("prompt", 2)
    path = jsonl(tmp_path, {"prompt": "p1", "model": blank, "score": 1})
    refused("column 'model', row 1: model id is missing", path)


def test_a_blank_benchmark_is_unknown(tmp_path):
    path = jsonl(tmp_path, {"prompt": "p1", "model": "a", "score": 1, "benchmark": "  "},
                 {"prompt": "p2", "model": "a", "score": 1, "benchmark": " arc "})
    rec = load_records(path)
    assert rec.prompt_benchmark == {"p1": None, "p2": "arc"}


@pytest.mark.parametrize("value,kind", [(["m1"], "a list"), ({"name": "m1"}, "an object")])
def test_jsonl_ids_that_are_lists_or_objects_are_refused(tmp_path, value, kind):
    # mixed with strings, polars would make the list the text '["m1"]'
    path = jsonl(tmp_path, {"prompt": "p1", "model": "m0", "score": 1}, "\n",
                 {"prompt": "p2", "model": value, "score": 0})
    err = refused(f"column 'model', row 2: model id is {kind}, expected a string or an integer",
                  path)
    assert (err.column, err.row) == ("model", 2)


def test_jsonl_id_column_of_lists_only(tmp_path):
    path = jsonl(tmp_path, {"prompt": "p1", "model": ["m1"], "score": 1})
    refused("column 'model', row 1: model ids must be text or integers, got lists", path)
    path = jsonl(tmp_path, {"prompt": {"id": 1}, "model": "m", "score": 1})
    refused("column 'prompt', row 1: prompt ids must be text or integers, got objects", path)


def test_a_json_string_that_looks_like_a_list_is_an_id(tmp_path):
    path = jsonl(tmp_path, {"prompt": "[p1]", "model": "{a}", "score": 1},
                 {"prompt": "p2", "model": "a", "score": 0})
    assert load_records(path).prompts == ["[p1]", "p2"]


@pytest.mark.parametrize("column,dtype,values", [
    ("prompt", None, [["a"], ["b"]]),
    ("model", None, [{"x": 1}, {"x": 2}]),
    ("prompt", pl.Float64, [1.5, 2.0]),
    ("model", pl.Boolean, [True, False]),
])
def test_parquet_id_columns_of_the_wrong_type_are_refused(tmp_path, column, dtype, values):
    frame = {"prompt": ["p1", "p2"], "model": ["a", "a"], "score": [1.0, 0.0]}
    frame[column] = pl.Series(values, dtype=dtype)
    path = tmp_path / "r.parquet"
    pl.DataFrame(frame).write_parquet(path)
    err = refused(f"column '{column}', row 1: {column} ids must be text or integers, got", path)
    assert err.row == 1


def test_a_score_column_of_lists_is_refused_naming_the_first_row(tmp_path):
    path = tmp_path / "r.parquet"
    pl.DataFrame({"prompt": ["p1", "p2"], "model": ["a", "a"],
                  "score": pl.Series([None, [1.0]])}).write_parquet(path)
    refused("column 'score', row 2: scores must be numbers, got lists", path)


def test_two_options_naming_one_column_are_refused(tmp_path):
    path = text_file(tmp_path, "r.csv", "p,cost,s\nq1,0.5,1\n")
    refused("column 'p': prompt= and model= both name the column 'p'", path,
            prompt="p", model="p", score="s", format="csv")
    # a default (cost) does not take a column an option named: 'cost' is the model here
    rec = load_records(path, prompt="p", model="cost", score="s", format="csv")
    assert rec.models == ["0.5"] and not rec.has_costs


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("row", ["p2,a,1e39,0", "p2,a,-1e39,0", "p2,a,1,4e38"])
def test_numbers_beyond_float32_are_refused_not_stored_as_inf(tmp_path, row):
    path = text_file(tmp_path, "r.csv", f"prompt,model,score,cost\np1,a,1,0\n{row}\n")
    column = "cost" if row.endswith("4e38") else "score"
    err = refused(f"column '{column}', row 2: {column} is beyond float32's range", path)
    assert err.row == 2


def test_routerbench_cost_beyond_float32_names_the_model_column(tmp_path):
    path = text_file(tmp_path, "rb.csv", "sample_id,prompt,eval_name,m1,m1|total_cost\n"
                                         "s1,\"['hi']\",arc,1,0.1\ns2,\"['yo']\",arc,0,1e39\n")
    refused("column 'm1|total_cost', row 2: cost is beyond float32's range", path)


# ----------------------------------------------------------------------------- structure


def test_a_routerbench_file_without_an_evaluated_cell_is_refused(tmp_path):
    path = text_file(tmp_path, "rb.csv", "sample_id,prompt,eval_name,m1,m1|total_cost\n"
                                         "s1,\"['hi']\",arc,,0.1\n")
    refused(r"has no evaluated cell: every score cell of \['m1'\] is empty", path)


def test_deeply_nested_jsonl_is_a_records_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = jsonl(tmp_path, {"prompt": "p1", "model": "a", "score": 1},
                 '{"prompt": "p2", "model": "a", "score": 1, "x": ' + deep + "}\n")
    err = refused(r"row 2: cannot be read as JSONL \(JSON nested too deeply\)", path)
    assert err.row == 2


def test_nesting_polars_reads_but_python_cannot_is_refused_in_an_id(tmp_path):
    deep = "[" * 1000 + "]" * 1000  # within polars' depth limit, beyond Python's json
    path = jsonl(tmp_path, {"prompt": "p1", "model": "a", "score": 1},
                 '{"prompt": ' + deep + ', "model": "a", "score": 1}\n')
    refused("column 'prompt', row 2: prompt id is a list", path)
    ok = jsonl(tmp_path, {"prompt": "p1", "model": "a", "score": 1, "x": [[[1]]]}, name="ok.jsonl")
    assert load_records(ok).n_records == 1


@pytest.mark.parametrize("name,data,match", [
    ("u16.csv", "prompt,model,score\np1,a,1\n".encode("utf-16"), "UTF-16 byte-order mark"),
    ("u16le.csv", "prompt,model,score\np1,a,1\n".encode("utf-16-le"), "line 1 holds a NUL byte"),
    ("u32.jsonl", '{"prompt": "p1"}\n'.encode("utf-32"), "UTF-32 byte-order mark"),
    ("latin1.csv", "prompt,model,score\np1,a,1\np\xe9,a,0\n".encode("latin-1"),
     "line 3 holds the byte 0xe9"),
    ("latin1.jsonl", '{"prompt": "p\xe9", "model": "a", "score": 1}\n'.encode("latin-1"),
     "line 1 holds the byte 0xe9"),
    ("header.csv", "pr\xf6mpt,model,score\np1,a,1\n".encode("latin-1"), "line 1 holds the byte"),
    ("cut.csv", "prompt,model,score\np1,a,1\n\u00e9".encode()[:-1], "ends inside a character"),
])
def test_text_that_is_not_utf8_is_refused(tmp_path, name, data, match):
    refused(f"is not UTF-8 text: .*{match}", text_file(tmp_path, name, data))


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = text_file(tmp_path, "bom.csv", "\ufeffprompt,model,score\np1,a,1\n")
    assert load_records(path).prompts == ["p1"]


def test_gzip_csv_is_checked_and_bounded(tmp_path, monkeypatch):
    rows = "prompt,model,score\n" + "".join(f"p{i},a,1\n" for i in range(50_000))
    path = text_file(tmp_path, "r.csv.gz", gzip.compress(rows.encode()))
    assert load_records(path).n_records == 50_000
    monkeypatch.setenv(MAX_BYTES_ENV, str(100_000))
    refused(r"decompressed would need .* above the limit .*ROUTERREC_MAX_ARRAY_BYTES", path)
    refused("cannot be read as gzip", text_file(tmp_path, "bad.csv.gz", b"prompt,model\n"))


def test_parquet_rows_claimed_beyond_the_limit_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "r.parquet"
    n = 200_000  # one repeated row: a few kilobytes on disk
    pl.DataFrame({"prompt": ["p"] * n, "model": ["a"] * n, "score": [1.0] * n}).write_parquet(path)
    assert path.stat().st_size < 20_000
    monkeypatch.setenv(MAX_BYTES_ENV, str(1 << 20))
    refused(r"reading its 200,000 rows x 3 columns would need 9.2 MiB, above the limit of "
            r"1.0 MiB .*; split the file or read fewer columns", path)


@pytest.mark.parametrize("name", ["fifo.csv", "fifo.jsonl", "fifo.parquet"])
def test_a_fifo_is_refused_without_blocking(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    done = threading.Event()

    def rescue():  # a reader blocked in open() would hang the suite: let it fail instead
        if not done.wait(5):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    threading.Thread(target=rescue, daemon=True).start()
    try:
        refused("is not a regular file", path)
    finally:
        done.set()


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("path,match", [(None, "path must be a path .*got NoneType None"),
                                        (3, "path must be a path .*got int 3"),
                                        (b"r.csv", "path must be a path"),
                                        (["r.csv", None], r"path\[1\] must be a path")])
def test_load_records_refuses_what_is_not_a_path(path, match):
    with pytest.raises(TypeError, match=match):
        load_records(path)


@pytest.mark.parametrize("kw,error,match", [
    (dict(prompt=None), TypeError, "prompt= must be a column name"),
    (dict(cost=1), TypeError, r"cost= must be a column name \(str\) or None"),
    (dict(trust_pickle="yes"), TypeError, "trust_pickle= must be True or False"),
    (dict(format=1), TypeError, "format= must be a layout name"),
    (dict(on_duplicate="first"), ValueError, "on_duplicate must be one of"),
])
def test_load_records_refuses_bad_options_before_reading(tmp_path, kw, error, match):
    with pytest.raises(error, match=match):
        load_records(tmp_path / "never-read.csv", **kw)


# ----------------------------------------------------------------------------- splits


def tiny(benchmarks=("x", "y", "z")):
    return records_from_frame(pl.DataFrame({"prompt": ["p1", "p2", "p3"], "model": ["a"] * 3,
                                            "score": [1.0, 0.0, 1.0], "benchmark": list(benchmarks)}))


@pytest.mark.parametrize("fraction", [0.0, 1.0, float("nan"), -0.5])
@pytest.mark.parametrize("split", ["split_cells", "split_prompts"])
def test_a_share_must_leave_both_sides_non_empty(split, fraction):
    with pytest.raises(ValueError, match="fraction must be a finite number > 0 and < 1"):
        getattr(tiny(), split)(fraction)


def test_split_prompts_of_tiny_data_says_how_many_prompts_there_are():
    with pytest.raises(ValueError, match=r"split_prompts\(0.5\) would leave train without a prompt: "
                                         r"each of the 3 benchmarks \(sizes 1, 1, 1\).*3 of 3; use "
                                         "a smaller fraction, stratify_by_benchmark=False"):
        tiny().split_prompts(0.5)
    with pytest.raises(ValueError, match=r"would leave test without a prompt: 0.1 of 3 prompts "
                                         "rounds to 0; use a larger fraction"):
        tiny().split_prompts(0.1, stratify_by_benchmark=False)
    train, test = tiny("xxx").split_prompts(0.5)
    assert (train.n_prompts, test.n_prompts) == (1, 2)


def test_split_cells_of_tiny_data_says_how_many_cells_there_are():
    with pytest.raises(ValueError, match=r"split_cells\(0.5\) cannot hold out a cell: each of the "
                                         "3 cells is the one a prompt or a model keeps in train"):
        tiny().split_cells(0.5)
    square = records_from_frame(pl.DataFrame({"prompt": ["p1", "p1", "p2", "p2"],
                                              "model": ["a", "b", "a", "b"], "score": [1.0] * 4}))
    with pytest.raises(ValueError, match=r"split_cells\(0.1\) would hold out no cell: 0.1 of 4 "
                                         "cells rounds to 0"):
        square.split_cells(0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, test = square.split_cells(0.5)
    assert (train.n_records, test.n_records) == (3, 1)


@pytest.mark.parametrize("seed,error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_split_seed_must_be_a_non_negative_integer(seed, error):
    with pytest.raises(error, match="seed must be"):
        tiny("xxx").split_prompts(0.5, seed=seed)
