"""Tests of routerrec.data: loading and validation (load, readers), Records, Matrix, splits, the
shared data sets and the sample."""
import json
import math
import pickle
import time
import warnings

import numpy as np
import polars as pl
import pytest

from routerrec.data.load import load_records, records_from_frame
from routerrec.data.records import Matrix, RecordsError
from routerrec.data.shared import load_mmlu_pro, load_openllm, load_routerbench, shared_data_dir
from routerrec.data import sample as sample_mod


# ----------------------------------------------------------------------------- helpers


def write(tmp_path, rows, fmt, name="recs"):
    """Write rows (list of dicts, values as given) as csv / parquet / jsonl; return the path."""
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        cols = list(rows[0])
        lines = [",".join(cols)] + [",".join("" if r[c] is None else str(r[c]) for c in cols) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "parquet":
        pl.DataFrame(rows).write_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = [
    {"prompt": "p1", "model": "a", "score": "1", "cost": "0.5"},
    {"prompt": "p1", "model": "b", "score": "0", "cost": "0.25"},
    {"prompt": "p2", "model": "a", "score": "0.5", "cost": "1.0"},
]
FORMATS = ["csv", "parquet", "jsonl"]


def with_bad(row_index, **changes):
    rows = [dict(r) for r in GOOD]
    rows[row_index].update(changes)
    return rows


def assert_error(exc_info, path, column=None, row=None, text=None):
    e = exc_info.value
    msg = str(e)
    assert str(path) in msg, msg
    assert e.path == str(path)
    if column is not None:
        assert e.column == column and repr(column) in msg, msg
    if row is not None:
        assert e.row == row and f"row {row}" in msg, msg
    if text is not None:
        assert text in msg, msg


# ----------------------------------------------------------------------------- happy path


@pytest.mark.parametrize("fmt", FORMATS)
def test_load_long_formats(tmp_path, fmt):
    rec = load_records(write(tmp_path, GOOD, fmt))
    assert rec.prompts == ["p1", "p2"] and rec.models == ["a", "b"]
    assert (rec.n_prompts, rec.n_models, rec.n_records) == (2, 2, 3)
    assert rec.density == pytest.approx(0.75)
    assert rec.score_kind == "graded" and rec.has_costs
    assert rec.table.schema["score"] == pl.Float64 and rec.table.schema["cost"] == pl.Float64
    assert rec.table.columns == ["prompt", "model", "score", "cost", "benchmark"]
    assert rec.benchmarks == [] and rec.prompt_benchmark == {"p1": None, "p2": None}


def test_column_mapping_and_optional_columns(tmp_path):
    rows = [
        {"item": 1, "llm": "a", "correct": 1, "bench": "x", "usd": 0.1, "q": "what?"},
        {"item": 2, "llm": "a", "correct": 0, "bench": "y", "usd": None, "q": "why?"},
    ]
    p = write(tmp_path, rows, "parquet")
    rec = load_records(p, prompt="item", model="llm", score="correct", cost="usd", benchmark="bench", text="q")
    assert rec.prompts == ["1", "2"]  # integer ids become text
    assert rec.score_kind == "binary"
    assert rec.benchmarks == ["x", "y"]
    assert rec.text_of(["2", "1", "zz"]) == ["why?", "what?", None]
    assert rec.table["cost"].null_count() == 1  # unknown cost is allowed
    info = rec.info()
    assert info["cost_coverage"] == 0.5 and info["cost_total"] == pytest.approx(0.1)
    assert info["has_texts"] == 1.0
    assert info["benchmarks"] == {"x": {"prompts": 1, "models": 1, "records": 1},
                                  "y": {"prompts": 1, "models": 1, "records": 1}}
    # without cost= the 'usd' column is not a cost; a column literally named 'cost' would be
    assert not load_records(p, prompt="item", model="llm", score="correct").has_costs


def test_list_of_paths_concatenates(tmp_path):
    a = write(tmp_path, GOOD[:2], "csv", name="a")
    b = write(tmp_path, GOOD[2:], "parquet", name="b")
    rec = load_records([a, b])
    assert rec.n_records == 3 and str(a) in rec.source and str(b) in rec.source


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    p = tmp_path / "nope.csv"
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="does not exist")


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file(tmp_path, fmt):
    p = tmp_path / f"empty.{fmt}"
    p.write_bytes(b"")
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="empty")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_zero_rows(tmp_path, fmt):
    p = tmp_path / f"zero.{fmt}"
    if fmt == "csv":
        p.write_text("prompt,model,score\n")
    else:
        pl.DataFrame(schema={"prompt": pl.String, "model": pl.String, "score": pl.Float64}).write_parquet(p)
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="no data rows")


def test_not_the_named_format(tmp_path):
    p = tmp_path / "fake.parquet"
    p.write_text("prompt,model,score\np,a,1\n")
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="PARQUET")
    q = tmp_path / "recs.csv"
    q.write_text("prompt,model,score\np,a,1\n")
    with pytest.raises(RecordsError) as ei:
        load_records(q, format="parquet")
    assert_error(ei, q, text="PARQUET")


def test_invalid_jsonl_names_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "p", "model": "a", "score": 1}\n{"prompt": "q", "model": "a", "score": 1\n')
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, row=2, text="JSON")


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_required_column_lists_present(tmp_path, fmt):
    rows = [{"prompt": "p", "llm": "a", "score": 1}]
    p = write(tmp_path, rows, fmt)
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="'model'")
    assert "llm" in str(ei.value) and "present" in str(ei.value)
    with pytest.raises(RecordsError, match="cost='usd'"):
        load_records(p, model="llm", cost="usd")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "row_index, changes, column, text",
    [
        (1, {"score": "abc"}, "score", "not a finite number"),
        (2, {"score": "nan"}, "score", "not a finite number"),
        (1, {"score": "inf"}, "score", "not a finite number"),
        (2, {"score": None}, "score", "not a finite number"),
        (1, {"cost": "-0.1"}, "cost", "negative"),
        (2, {"cost": "cheap"}, "cost", "not a finite number"),
        (1, {"cost": "nan"}, "cost", "not a finite number"),
        (1, {"prompt": None}, "prompt", "prompt id is missing"),
        (2, {"model": None}, "model", "model id is missing"),
    ],
)
def test_bad_values_name_file_column_row(tmp_path, fmt, row_index, changes, column, text):
    p = write(tmp_path, with_bad(row_index, **changes), fmt)
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, column=column, row=row_index + 1, text=text)


def test_bad_values_in_numeric_parquet_columns(tmp_path):
    p = tmp_path / "num.parquet"
    pl.DataFrame({"item": ["a", "b", "c"], "model": ["m"] * 3, "correct": [1.0, 0.0, float("nan")]}).write_parquet(p)
    with pytest.raises(RecordsError) as ei:
        load_records(p, prompt="item", score="correct")
    assert_error(ei, p, column="correct", row=3)
    pl.DataFrame({"prompt": ["a", "b"], "model": ["m"] * 2, "score": [1, 0], "cost": [0.1, -2.0]}).write_parquet(p)
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, column="cost", row=2, text="negative")


def test_first_offending_row_wins(tmp_path):
    rows = with_bad(2, score="x")
    rows[1]["cost"] = "-1"
    p = write(tmp_path, rows, "csv")
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, column="cost", row=2)


def test_records_from_frame_errors_name_source():
    df = pl.DataFrame({"prompt": ["a", "b"], "model": ["m", "m"], "score": [1.0, float("inf")]})
    with pytest.raises(RecordsError) as ei:
        records_from_frame(df)
    assert_error(ei, "<frame>", column="score", row=2)
    with pytest.raises(RecordsError) as ei:
        records_from_frame(df, source="mine")
    assert_error(ei, "mine", column="score", row=2)


# ----------------------------------------------------------------------------- duplicates

DUP = [
    {"prompt": "p1", "model": "a", "score": "1", "cost": "1"},
    {"prompt": "p2", "model": "a", "score": "1", "cost": "5"},
    {"prompt": "p1", "model": "a", "score": "0", "cost": "3"},
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicates_error_names_both_rows(tmp_path, fmt):
    p = write(tmp_path, DUP, fmt)
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, row=3, text="duplicate")
    assert "row 1 and row 3" in str(ei.value) and "'p1'" in str(ei.value)


def test_duplicates_mean_and_last(tmp_path):
    p = write(tmp_path, DUP, "csv")
    mean = load_records(p, on_duplicate="mean")
    last = load_records(p, on_duplicate="last")
    for rec in (mean, last):
        assert rec.n_records == 2
    cell = lambda r: r.table.filter(pl.col("prompt") == "p1").row(0, named=True)  # noqa: E731
    assert cell(mean)["score"] == 0.5 and cell(mean)["cost"] == 2.0
    assert cell(last)["score"] == 0.0 and cell(last)["cost"] == 3.0
    assert mean.matrix().scores[mean.matrix().prompt_index["p1"], 0] == 0.5
    with pytest.raises(ValueError):
        load_records(p, on_duplicate="first")


def test_duplicates_across_files(tmp_path):
    a = write(tmp_path, DUP[:2], "csv", name="a")
    b = write(tmp_path, DUP[2:], "csv", name="b")
    with pytest.raises(RecordsError) as ei:
        load_records([a, b])
    assert_error(ei, b, row=1)
    assert f"row 1 of {a}" in str(ei.value)


# ----------------------------------------------------------------------------- RouterBench


def _wide_csv(tmp_path, cost_b2="0.002"):
    header = ",sample_id,prompt,eval_name,m1,m2,m1|model_response,m2|model_response,m1|total_cost,m2|total_cost," \
             "oracle_model_to_route_to"
    lines = [
        header,
        '0,s.1,"[\'Hello\', \'world\']",ev,1.0,0.0,hi,yo,0.001,0.01,m1',
        f'1,s.2,not a list,ev,,1.0,,ok,0.001,{cost_b2},m2',
    ]
    p = tmp_path / "toy_test.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_routerbench_wide_toy(tmp_path):
    rec = load_records(_wide_csv(tmp_path))
    assert rec.models == ["m1", "m2"] and rec.prompts == ["s.1", "s.2"]
    assert rec.n_records == 3  # the empty m1 cell of s.2 is "not evaluated"
    assert rec.has_costs and rec.benchmarks == ["ev"]
    assert rec.text_of(["s.1", "s.2"]) == ["Hello\nworld", "not a list"]
    m = rec.matrix()
    assert m.costs[0, 1] == pytest.approx(0.01) and m.scores[0, 1] == 0.0


def test_routerbench_wide_bad_cost_names_model_column(tmp_path):
    p = _wide_csv(tmp_path, cost_b2="-3")
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, column="m2|total_cost", row=2, text="negative")


@pytest.mark.shared
def test_routerbench_shared_csvs():
    d = shared_data_dir("routerbench") or pytest.skip("shared data set routerbench not available")
    rec = load_routerbench(d, split="all")
    assert rec.n_models == 11 and rec.has_costs
    assert rec.info()["cost_coverage"] == 1.0
    assert rec.info()["has_texts"] == 1.0
    assert sorted(rec.benchmarks) == ["arc-challenge", "mbpp", "winogrande"]
    t = rec.text_of(rec.prompts[:5])
    assert all(isinstance(x, str) and not x.startswith("['") for x in t)
    # the same files through load_records
    files = sorted(d.glob("*_train.csv"))
    tr = load_records(files)
    assert tr.n_models == 11 and tr.n_records == load_routerbench(d, "train").n_records
    m = rec.matrix()
    assert m.costs is not None and m.costs.nnz == m.scores.nnz and not np.isnan(m.costs.data).any()


class _Boom:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_refused_without_trust(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "routerbench_0shot.pkl"
    p.write_bytes(pickle.dumps(_Boom(str(marker))))
    with pytest.raises(RecordsError) as ei:
        load_records(p)
    assert_error(ei, p, text="trust_pickle=True")
    assert "arbitrary code" in str(ei.value)
    q = tmp_path / "data.bin"
    q.write_bytes(p.read_bytes())
    with pytest.raises(RecordsError, match="trust-pickle"):
        load_records(q, format="routerbench-pkl")
    assert not marker.exists()


def test_pickle_read_with_trust(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({
        "sample_id": ["s1", "s2"], "prompt": ["['a']", "['b', 'c']"], "eval_name": ["e", "e"],
        "m1": [1.0, 0.0], "m1|total_cost": [0.1, 0.2], "m1|model_response": ["x", "y"],
    })
    p = tmp_path / "rb.pkl"
    df.to_pickle(p)
    rec = load_records(p, trust_pickle=True)
    assert rec.n_records == 2 and rec.has_costs and rec.text_of(["s2"]) == ["b\nc"]


# ----------------------------------------------------------------------------- Matrix


def test_matrix_orientation_and_explicit_zero():
    df = pl.DataFrame({
        "prompt": ["q3", "q1", "q2", "q1", "q3"],
        "model": ["mB", "mA", "mA", "mB", "mA"],
        "score": [1.0, 0.0, 1.0, 0.25, 0.0],
        "cost": [0.3, 0.1, None, 0.2, 0.4],
    })
    rec = records_from_frame(df)
    m = rec.matrix()
    assert isinstance(m, Matrix) and m is rec.matrix()  # cached
    assert m.scores.shape == (3, 2)  # rows are prompts, columns are models
    assert m.prompts == ["q1", "q2", "q3"] and m.models == ["mA", "mB"]
    assert m.prompt_index == {"q1": 0, "q2": 1, "q3": 2} and m.model_index == {"mA": 0, "mB": 1}
    assert m.scores.dtype == np.float32 and m.scores.format == "csr"
    assert m.scores[0, 1] == pytest.approx(0.25)  # (q1, mB)
    assert m.scores[2, 1] == 1.0  # (q3, mB)
    assert m.scores.nnz == 5  # both 0.0 scores stored explicitly
    assert (0, 0) in set(zip(*m.scores.nonzero())) or m.scores[0, 0] == 0.0
    stored = {(i, j) for i in range(3) for j in m.scores.indices[m.scores.indptr[i]:m.scores.indptr[i + 1]]}
    assert stored == {(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)}  # (q2, mB) missing, zeros stored
    assert m.costs is not None and np.array_equal(m.costs.indices, m.scores.indices)
    assert np.array_equal(m.costs.indptr, m.scores.indptr)
    assert m.costs[2, 0] == pytest.approx(0.4) and math.isnan(m.costs[1, 0])  # unknown cost -> NaN


def test_matrix_without_costs_is_none():
    rec = records_from_frame(pl.DataFrame({"prompt": ["a"], "model": ["m"], "score": [1]}))
    assert rec.matrix().costs is None and not rec.has_costs


def test_ids_sorted_regardless_of_row_order():
    df = load_records_sample_frame()
    a = records_from_frame(df)
    b = records_from_frame(df.sample(fraction=1.0, shuffle=True, seed=3))
    assert a.prompts == b.prompts and a.models == b.models
    assert (a.matrix().scores != b.matrix().scores).nnz == 0


def load_records_sample_frame():
    return sample_mod.generate(n_prompts=200).records


# ----------------------------------------------------------------------------- splits


def test_split_cells_keeps_every_id_and_is_seeded():
    rec = records_from_frame(load_records_sample_frame())
    tr, te = rec.split_cells(0.3, seed=1)
    assert tr.prompts == rec.prompts and tr.models == rec.models  # train covers every id
    assert te.n_records == round(0.3 * rec.n_records)
    assert tr.n_records + te.n_records == rec.n_records
    key = lambda r: set(zip(r.table["prompt"], r.table["model"]))  # noqa: E731
    assert not key(tr) & key(te)
    tr2, te2 = rec.split_cells(0.3, seed=1)
    assert key(te2) == key(te)
    _, te3 = rec.split_cells(0.3, seed=2)
    assert key(te3) != key(te)
    # independent of the row order of the input
    shuffled = records_from_frame(rec.table.sample(fraction=1.0, shuffle=True, seed=7))
    assert key(shuffled.split_cells(0.3, seed=1)[1]) == key(te)


def test_split_cells_never_takes_last_cell():
    # p2 and model b have a single cell each: they must stay in train
    df = pl.DataFrame({"prompt": ["p1", "p1", "p1", "p2", "p3", "p3"],
                       "model": ["a", "b", "c", "a", "a", "c"], "score": [1.0] * 6})
    rec = records_from_frame(df)
    for seed in range(20):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr, te = rec.split_cells(0.9, seed=seed)
        assert tr.prompts == rec.prompts and tr.models == rec.models
        assert te.n_records >= 1
    with pytest.warns(UserWarning, match="only"):
        rec.split_cells(0.9, seed=0)


def test_split_prompts_stratified_and_seeded():
    rec = records_from_frame(load_records_sample_frame())
    tr, te = rec.split_prompts(0.2, seed=0)
    assert not set(tr.prompts) & set(te.prompts)
    assert set(tr.prompts) | set(te.prompts) == set(rec.prompts)
    per = {b: sum(1 for p in te.prompts if rec.prompt_benchmark[p] == b) for b in rec.benchmarks}
    assert per == {b: 10 for b in rec.benchmarks}  # 50 prompts per benchmark, 20%
    assert rec.split_prompts(0.2, seed=0)[1].prompts == te.prompts
    assert rec.split_prompts(0.2, seed=1)[1].prompts != te.prompts
    _, te_flat = rec.split_prompts(0.2, seed=0, stratify_by_benchmark=False)
    assert te_flat.n_prompts == 40


def test_filter_keeps_texts_and_rejects_unknown_ids():
    s = sample_mod.generate(n_prompts=40)
    rec = records_from_frame(s.records).with_texts(s.prompts)
    sub = rec.filter(prompts=rec.prompts[:3], models=rec.models[:5])
    assert sub.prompts == rec.prompts[:3] and set(sub.models) <= set(rec.models[:5])
    assert sub.texts.height == 3 and sub.text_of(sub.prompts) == rec.text_of(rec.prompts[:3])
    with pytest.raises(RecordsError, match="unknown model"):
        rec.filter(models=["no-such-model"])


def test_repr_and_info():
    rec = records_from_frame(load_records_sample_frame())
    r = repr(rec)
    assert "200 prompts x 20 models" in r and "binary" in r
    info = rec.info()
    for k in ("n_prompts", "n_models", "n_records", "density", "score_kind", "benchmarks",
              "cost_coverage", "cost_total", "cost_mean", "has_texts"):
        assert k in info
    assert sum(v["records"] for v in info["benchmarks"].values()) == rec.n_records


# ----------------------------------------------------------------------------- shared data


def test_shared_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTERREC_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("ROUTERREC_SHARED_DATA", str(tmp_path / "absent"))
    assert shared_data_dir() is None


@pytest.mark.shared
def test_openllm_v1():
    d = shared_data_dir("openllm-v1") or pytest.skip("shared data set openllm-v1 not available")
    t0 = time.perf_counter()
    rec = load_records(d / "records.parquet", prompt="item", score="correct", benchmark="benchmark")
    elapsed = time.perf_counter() - t0
    assert rec.n_models == 5036 and rec.n_prompts == 1075 and rec.n_records == 4_046_024
    assert rec.score_kind == "binary"
    assert elapsed < 10  # ~0.3-0.8 s here; generous bound for a shared machine
    full = load_openllm(d)
    assert full.info()["has_texts"] == 1.0 and len(full.benchmarks) == 5
    m = full.matrix()
    assert m.scores.shape == (1075, 5036) and m.scores.nnz == 4_046_024


@pytest.mark.shared
def test_mmlu_pro():
    d = shared_data_dir("mmlu-pro") or pytest.skip("shared data set mmlu-pro not available")
    rec = load_mmlu_pro(d)
    assert rec.n_models == 29 and rec.n_prompts == 12032 and not rec.has_costs
    assert len(rec.benchmarks) == 14 and rec.info()["has_texts"] == 1.0
    assert "\nA. " in rec.text_of(rec.prompts[:1])[0]
    assert load_mmlu_pro(d, cost_proxy=True).has_costs


# ----------------------------------------------------------------------------- sample


def test_sample_generator_is_deterministic(tmp_path):
    paths = sample_mod.write(tmp_path)
    committed = sample_mod.default_dir()
    again = sample_mod.generate()
    for p, frame in zip(paths, (again.records, again.prompts)):
        assert pl.read_parquet(p).equals(frame)
        if (committed / p.name).exists():  # the committed files are this generator's output
            assert pl.read_parquet(committed / p.name).equals(frame)


def test_load_sample():
    rec = sample_mod.load_sample()
    assert (rec.n_prompts, rec.n_models) == (2000, 20)
    assert 0.65 < rec.density < 0.75 and rec.score_kind == "binary" and rec.has_costs
    assert rec.benchmarks == ["code", "math", "reasoning", "trivia"]
    assert rec.info()["has_texts"] == 1.0
    size = sum(p.stat().st_size for p in sample_mod.default_dir().glob("*.parquet"))
    assert size < 2_000_000
    # bigger models cost more and score higher on average: a real trade-off
    per = rec.table.group_by("model").agg(pl.col("score").mean(), pl.col("cost").mean())
    assert np.corrcoef(per["score"].to_numpy(), np.log(per["cost"].to_numpy()))[0, 1] > 0.5


def test_shared_data_dir_names_one_data_set(tmp_path, monkeypatch):
    (tmp_path / "openllm-v1").mkdir()
    monkeypatch.setenv("ROUTERREC_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    assert shared_data_dir("openllm-v1") == tmp_path / "openllm-v1"
    assert shared_data_dir("mmlu-pro") is None
    monkeypatch.setenv("ROUTERREC_SHARED_DATA", str(tmp_path / "absent"))
    assert shared_data_dir() is None and shared_data_dir("openllm-v1") is None
