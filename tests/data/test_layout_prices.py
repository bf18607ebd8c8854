"""Costs from price lists (LLMRouter's llm.json shape or a CSV) and token counts
(routerrec.data.prices); bad prices and counts name the file, the field and the row."""
import doctest
import json
import math

import polars as pl
import pytest

import routerrec.data.prices as prices_mod
from routerrec.data.load import records_from_frame
from routerrec.data.prices import DEFAULT_OUTPUT_TOKENS, Price, read_prices, with_prices
from routerrec.data.records import RecordsError

LLM_JSON = {
    "qwen2.5-7b-instruct": {"size": "7B", "feature": "...", "input_price": 0.2, "output_price": 0.3,
                            "model": "qwen/qwen2.5-7b-instruct", "service": "NVIDIA"},
    "llama3-70b-instruct": {"size": "70B", "input_price": 0.9, "output_price": 0.9},
}


def _records(texts=True):
    rec = records_from_frame(pl.DataFrame({
        "prompt": ["p1", "p1", "p2"], "model": ["qwen2.5-7b-instruct", "llama3-70b-instruct", "qwen2.5-7b-instruct"],
        "score": [1.0, 0.0, 1.0]}))
    return rec.with_texts({"p1": "x" * 10, "p2": "y" * 401}) if texts else rec


def _cost(rec, prompt, model):
    t = rec.table.filter((pl.col("prompt") == prompt) & (pl.col("model") == model))
    return t["cost"].item()


def test_the_docstring_example_runs():
    assert doctest.testmod(prices_mod).failed == 0


def test_llm_json_and_csv_give_the_same_prices(tmp_path):
    js = tmp_path / "llm.json"
    js.write_text(json.dumps(LLM_JSON))
    csv = tmp_path / "prices.csv"
    csv.write_text("model,input_price,output_price\nqwen2.5-7b-instruct,0.2,0.3\nllama3-70b-instruct,0.9,0.9\n")
    assert read_prices(js) == read_prices(csv) == {"qwen2.5-7b-instruct": Price(0.2, 0.3),
                                                   "llama3-70b-instruct": Price(0.9, 0.9)}
    rec = with_prices(_records(), js)
    # p1: 10 characters -> 3 tokens in; the default output length out
    assert _cost(rec, "p1", "llama3-70b-instruct") == pytest.approx((3 * 0.9 + DEFAULT_OUTPUT_TOKENS * 0.9) / 1e6)
    assert _cost(rec, "p2", "qwen2.5-7b-instruct") == pytest.approx((101 * 0.2 + DEFAULT_OUTPUT_TOKENS * 0.3) / 1e6)
    assert rec.has_costs and rec.info()["cost_coverage"] == 1.0
    assert rec.text_of(["p1"]) == ["x" * 10] and rec.table["score"].to_list() == _records().table["score"].to_list()


def test_token_tables_per_prompt_and_per_cell(tmp_path):
    table = pl.DataFrame({"prompt": ["p1", "p2"], "input_tokens": [100, 200]})
    rec = with_prices(_records(texts=False), LLM_JSON, tokens=table, output_tokens=0)
    assert _cost(rec, "p2", "qwen2.5-7b-instruct") == pytest.approx(200 * 0.2 / 1e6)
    cells = tmp_path / "tokens.csv"
    cells.write_text("prompt,model,output_tokens\np1,llama3-70b-instruct,1000\n")
    rec = with_prices(_records(), LLM_JSON, tokens=cells, output_tokens=10)
    assert _cost(rec, "p1", "llama3-70b-instruct") == pytest.approx((3 * 0.9 + 1000 * 0.9) / 1e6)
    assert _cost(rec, "p1", "qwen2.5-7b-instruct") == pytest.approx((3 * 0.2 + 10 * 0.3) / 1e6)


@pytest.mark.parametrize("content, column, row, words", [
    ({"a": {"input_price": -1, "output_price": 1}}, "input_price", 1, "input_price must be a finite number >= 0"),
    ({"a": {"input_price": 1, "output_price": 1}, "b": {"input_price": 1, "output_price": math.nan}},
     "output_price", 2, "got nan"),
    ({"a": {"input_price": "cheap", "output_price": 1}}, "input_price", 1, "got 'cheap'"),
    ({"a": {"input_price": True, "output_price": 1}}, "input_price", 1, "got True"),
    ({"a": {"input_price": 1}}, "output_price", 1, "output_price missing for model 'a'"),
    ({"a": [1, 2]}, "a", 1, "expected an object with input_price, output_price"),
])
def test_bad_json_prices_name_the_file_the_field_and_the_row(tmp_path, content, column, row, words):
    path = tmp_path / "llm.json"
    path.write_text(json.dumps(content))
    with pytest.raises(RecordsError) as info:
        read_prices(path)
    assert (info.value.path, info.value.column, info.value.row) == (str(path), column, row)
    assert words in str(info.value)


@pytest.mark.parametrize("text, column, row, words", [
    ("model,input_price,output_price\na,1,1\nb,1,-2\n", "output_price", 2, "got '-2'"),
    ("model,input_price,output_price\na,1,1\na,2,2\n", "model", 2, "priced twice (rows 1 and 2)"),
    ("model,input_price,output_price\n,1,1\n", "model", 1, "model name is missing"),
    ("model,input_price,output_price\na,inf,1\n", "input_price", 1, "got 'inf'"),
    ("model,price\na,1\n", None, None, "missing column(s) ['input_price', 'output_price']"),
])
def test_bad_csv_prices_name_the_file_the_field_and_the_row(tmp_path, text, column, row, words):
    path = tmp_path / "prices.csv"
    path.write_text(text)
    with pytest.raises(RecordsError) as info:
        read_prices(path)
    assert (info.value.path, info.value.column, info.value.row) == (str(path), column, row)
    assert words in str(info.value)


def test_missing_prices_counts_and_texts_are_named(tmp_path):
    path = tmp_path / "llm.json"
    path.write_text(json.dumps({"qwen2.5-7b-instruct": LLM_JSON["qwen2.5-7b-instruct"]}))
    with pytest.raises(RecordsError, match=r"llm.json, column 'model': no price for 1 model\(s\) .*llama3-70b"):
        with_prices(_records(), path)
    with pytest.raises(RecordsError, match="neither an input token count nor a prompt text.*'p1'"):
        with_prices(_records(texts=False), LLM_JSON)
    bad = pl.DataFrame({"prompt": ["p1", "p2"], "input_tokens": ["12", "many"]})
    with pytest.raises(RecordsError, match=r"<tokens>, column 'input_tokens', row 2: .*'many'"):
        with_prices(_records(), LLM_JSON, tokens=bad)
    twice = pl.DataFrame({"prompt": ["p1", "p1"], "input_tokens": [1, 2]})
    with pytest.raises(RecordsError, match=r"<tokens>, column 'prompt', row 2: counts given twice for 'p1'"):
        with_prices(_records(), LLM_JSON, tokens=twice)
    with pytest.raises(RecordsError, match="needs 'prompt' and 'input_tokens'"):
        with_prices(_records(), LLM_JSON, tokens=pl.DataFrame({"prompt": ["p1"]}))
    with pytest.raises(ValueError, match="output_tokens must be a finite number >= 0"):
        with_prices(_records(), LLM_JSON, output_tokens=-5)
    with pytest.raises(RecordsError, match="lists no model"):
        (tmp_path / "empty.json").write_text("{}")
        read_prices(tmp_path / "empty.json")
