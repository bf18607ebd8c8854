"""Property suite over the issue-12 layouts: whatever a scores-json, matrix, lm-eval or price
file holds (random JSON values in every field, random bytes, cut files, random CSV cells) and
whatever a trusted RouterEval pickle holds (random structures), reading gives Records (or
prices) or a RecordsError that names the file, never another exception.

200 cases per property (``HYPOTHESIS_PROFILE=long``: 20,000); the count is printed after the run.
"""
import json
import pickle
import shutil

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from properties import PROFILE, json_values
from routerrec.data.load import load_records
from routerrec.data.prices import read_prices
from routerrec.data.records import Records, RecordsError
from routerrec.util.limits import MAX_BYTES_ENV

pytestmark = pytest.mark.timeout(max(300, PROFILE.max_examples // 2))  # the long profile takes minutes

JSON = json_values()
SCORES = st.dictionaries(st.sampled_from(["m1", "m2", "", " m3"]), JSON, max_size=3)
FIELDS = st.sampled_from(["question", "prompt", "id", "scores", "costs", "task", "doc_id", "doc", "acc",
                          "metrics", "filter", "input_price", "output_price"])


@pytest.fixture(scope="module", autouse=True)
def small_limit():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MAX_BYTES_ENV, str(1 << 22))
        yield


def _outcome(path, **kw):
    """Records, or a RecordsError that names ``path`` (anything else fails the test)."""
    try:
        return load_records(path, **kw)
    except RecordsError as e:
        assert e.path is not None and str(path) in e.path, e
        return e


def _mutate(data: bytes, cut: int, flips: list, insert: bytes) -> bytes:
    data = bytearray(data[: max(1, len(data) - cut)])
    for pos, byte in flips:
        data[pos % len(data)] = byte
    return bytes(data) + insert


ROW = st.fixed_dictionaries({"question": st.one_of(st.text(max_size=6), JSON), "scores": st.one_of(SCORES, JSON)},
                            optional={"costs": st.one_of(SCORES, JSON), "task": JSON, "id": JSON})
MUTATION = st.tuples(st.integers(0, 40), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                   max_size=3), st.binary(max_size=8))


@PROFILE
@given(rows=st.lists(ROW, min_size=1, max_size=4), extra=st.dictionaries(FIELDS, JSON, max_size=2),
       as_array=st.booleans(), mutation=st.none() | MUTATION)
def test_scores_json_reads_or_refuses(tmp_path_factory, generated_cases, rows, extra, as_array, mutation):
    generated_cases["scores-json"] += 1
    rows[0].update(extra)
    text = json.dumps(rows) if as_array else "".join(json.dumps(r) + "\n" for r in rows)
    data = text.encode() if mutation is None else _mutate(text.encode(), *mutation)
    path = tmp_path_factory.mktemp("sj") / "router.json"
    path.write_bytes(data)
    for kw in ({}, {"format": "scores-json", "on_duplicate": "mean"}):
        assert isinstance(_outcome(path, **kw), (Records, RecordsError))


CELL = st.one_of(st.just(""), st.sampled_from(["0", "1", "0.5", " 1 ", "nan", "inf", "-2", "x", "1e400"]),
                 st.text(alphabet=st.characters(blacklist_characters=",\"\r\n\x00", blacklist_categories=("Cs",)), max_size=4))


@PROFILE
@given(header=st.lists(st.sampled_from(["item", "prompt", "text", "benchmark", "a", "b", "model", "c|total_cost",
                                        ""]), min_size=1, max_size=5),
       cells=st.lists(st.lists(CELL, min_size=5, max_size=5), min_size=0, max_size=4),
       parquet=st.booleans())
def test_matrix_reads_or_refuses(tmp_path_factory, generated_cases, header, cells, parquet):
    generated_cases["matrix"] += 1
    folder = tmp_path_factory.mktemp("mx")
    lines = [",".join(header)] + [",".join(row[: len(header)]) for row in cells]
    path = folder / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    if parquet:
        try:
            frame = pl.read_csv(path, infer_schema=False)
        except Exception:  # noqa: BLE001 - a header polars refuses: nothing to convert
            return
        path = folder / "m.parquet"
        frame.write_parquet(path)
    for kw in ({}, {"format": "matrix", "on_duplicate": "last"}, {"format": "matrix", "text": "text"}):
        assert isinstance(_outcome(path, **kw), (Records, RecordsError))


LINE = st.fixed_dictionaries({"doc_id": st.one_of(st.integers(0, 3), JSON), "doc": JSON},
                             optional={"acc": JSON, "exact_match": JSON, "filter": st.sampled_from(["a", "b"]),
                                       "metrics": JSON, "rouge": JSON})


@PROFILE
@given(lines=st.lists(LINE, min_size=0, max_size=4), name=st.sampled_from(
    ["samples_arc_2024-01-01T00-00-00.1.jsonl", "samples_x.jsonl", "samples__.jsonl"]),
       mutation=st.none() | MUTATION, score=st.sampled_from(["score", "acc", "exact_match,acc"]))
def test_lm_eval_reads_or_refuses(tmp_path_factory, generated_cases, lines, name, mutation, score):
    generated_cases["lm-eval"] += 1
    out = tmp_path_factory.mktemp("lm")
    (out / "model").mkdir()
    text = "".join(json.dumps(line) + "\n" for line in lines).encode()
    (out / "model" / name).write_bytes(text if mutation is None else _mutate(text or b"{}", *mutation))
    assert isinstance(_outcome(out, score=score), (Records, RecordsError))
    shutil.rmtree(out)


@PROFILE
@given(doc=st.dictionaries(st.text(max_size=4), st.one_of(JSON, st.fixed_dictionaries(
    {"input_price": JSON, "output_price": JSON})), max_size=3) | JSON)
def test_price_lists_read_or_refuse(tmp_path_factory, generated_cases, doc):
    generated_cases["prices"] += 1
    path = tmp_path_factory.mktemp("pr") / "llm.json"
    path.write_text(json.dumps(doc))
    try:
        prices = read_prices(path)
    except RecordsError as e:
        assert e.path == str(path)
    else:
        assert all(p.input >= 0 and p.output >= 0 for p in prices.values())


ARRAY = st.one_of(st.lists(st.lists(st.one_of(st.floats(), st.booleans(), st.none()), min_size=0, max_size=3),
                           max_size=3).map(lambda rows: np.array(rows, dtype=object)),
                  st.integers(0, 3).map(lambda n: np.full((n, 2), 0.5)), JSON)


@PROFILE
@given(data=st.dictionaries(st.text(max_size=4), st.one_of(st.fixed_dictionaries({"correctness": ARRAY}), JSON),
                            max_size=3),
       models=st.one_of(st.lists(st.text(max_size=3), max_size=3), JSON), wrap=st.booleans())
def test_trusted_routereval_structures_read_or_refuse(tmp_path_factory, generated_cases, data, models, wrap):
    generated_cases["routereval"] += 1
    path = tmp_path_factory.mktemp("re") / "lb.pkl"
    obj = {"data": data, "models": models} if wrap else data
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    assert isinstance(_outcome(path, format="routereval", trust_pickle=True), (Records, RecordsError))
