"""Property suite over the records readers of the long layout (CSV, TSV, JSONL, Parquet) and
RouterBench's wide CSV: whatever a file holds (random bytes, a valid file cut, bit-flipped or
spliced with hostile bytes, random column names, random cells of any JSON or Parquet type),
``load_records`` returns Records that keep every promise of docs/records.md, or raises a
RecordsError that names the file, never another exception, in bounded time. A valid file loads
to exactly the records it was written from.

200 cases per property (``HYPOTHESIS_PROFILE=long``: 20,000); the count is printed after the run.
"""
import gzip
import json
import math
import shutil

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from properties import PROFILE, json_values
from routerrec.data.load import load_records
from routerrec.data.records import Records, RecordsError
from routerrec.util.limits import MAX_BYTES_ENV

pytestmark = pytest.mark.timeout(max(300, PROFILE.max_examples // 2))  # the long profile takes minutes

FLOAT32_MAX = float(np.finfo(np.float32).max)
SUFFIXES = [".csv", ".tsv", ".csv.gz", ".jsonl", ".parquet"]
# text with the characters that break readers: separators, quotes, line breaks, NUL, white space
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",))
               | st.sampled_from(",\t\"'\n\r \u00a0\x00[]{}\\"), max_size=8)
ID = st.text("ab \t\u00a0", min_size=1, max_size=3) | st.integers(0, 3).map(str)
SCORE = st.floats(-FLOAT32_MAX, FLOAT32_MAX, allow_nan=False) | st.sampled_from([0.0, 1.0])
COST = st.none() | st.floats(0, FLOAT32_MAX)
HOSTILE = st.sampled_from([b"\x00", b"\xff", b"\xfe\xff", b'"', b"\n", b"\r\n", b",", b"\t",
                           b"[" * 2000, b"{", b"}", b"1e39", b"NaN", b"-inf", b'"prompt"', b"\xc3"])
JSON = json_values(text=TEXT, keys=TEXT, max_leaves=6)


@pytest.fixture(scope="module", autouse=True)
def small_limit():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MAX_BYTES_ENV, str(1 << 22))
        yield


@pytest.fixture
def fresh(tmp_path):
    """A function giving a path with the given suffix in an emptied folder, one per example."""
    def make(suffix):
        folder = tmp_path / "case"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        return folder / f"recs{suffix}"
    return make


def outcome(path, **kw):
    """Records that keep their promises, or a RecordsError naming ``path``; anything else fails."""
    try:
        rec = load_records(path, **kw)
    except RecordsError as e:
        assert e.path is not None and str(path) in str(e), e
        return e
    check_promises(rec)
    return rec


def check_promises(rec: Records):
    """What every Records promises (docs/records.md, Validation)."""
    t = rec.table
    assert t.height > 0
    for col in ("prompt", "model"):
        ids = t.get_column(col)
        assert ids.null_count() == 0 and (ids.str.len_bytes() > 0).all()
        assert (ids == ids.str.strip_chars()).all()  # no surrounding white space
    assert t.select(pl.struct("prompt", "model").is_unique().all()).item()
    scores = t.get_column("score").to_numpy()
    assert np.isfinite(scores).all() and (np.abs(scores) <= FLOAT32_MAX).all()
    if rec.has_costs:
        costs = t.get_column("cost").drop_nulls().to_numpy()
        assert np.isfinite(costs).all() and (costs >= 0).all() and (costs <= FLOAT32_MAX).all()
    m = rec.matrix()
    assert m.scores.nnz == len(rec) and np.isfinite(m.scores.data).all()
    bench = t.get_column("benchmark").drop_nulls()
    assert (bench.str.len_bytes() > 0).all()


# ----------------------------------------------------------------------------- valid files

records = st.lists(st.tuples(ID, ID, SCORE, COST, st.none() | st.sampled_from(["arc", " mmlu", "x"])),
                   min_size=1, max_size=8)


def write_long(path, rows, names):
    """Write rows (prompt, model, score, cost, benchmark) under column ``names``; as the suffix says."""
    frame = pl.DataFrame(rows, schema=[(n, t) for n, t in zip(names, (pl.String, pl.String, pl.Float64,
                                                                       pl.Float64, pl.String))],
                         orient="row")
    name = path.name
    if name.endswith(".parquet"):
        frame.write_parquet(path)
    elif name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(dict(zip(names, r))) + "\n" for r in rows))
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        text = frame.select(pl.all().cast(pl.String)).write_csv(separator=sep, float_precision=None)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    return path


def expected(rows):
    """The table load_records must give for ``rows`` (ids stripped), or None when it must refuse."""
    out = {}
    for prompt, model, score, cost, bench in rows:
        key = (prompt.strip(), model.strip())
        if "" in key or key in out:
            return None
        out[key] = (score, cost, bench.strip() if bench else None)
    return out


def sure_text(rows):
    """Whether the file holds ids polars writes and reads back as text (CSV keeps no empty string)."""
    return all(p.strip() and m.strip() for p, m, *_ in rows)


@PROFILE
@given(rows=records, suffix=st.sampled_from(SUFFIXES), renamed=st.booleans(),
       names=st.lists(st.text("xyz ", min_size=1, max_size=4), min_size=5, max_size=5, unique=True))
def test_valid_long_files_load_to_exactly_their_records(fresh, generated_cases, rows, suffix,
                                                        renamed, names):
    generated_cases["valid long files"] += 1
    names = names if renamed else ["prompt", "model", "score", "cost", "benchmark"]
    path = write_long(fresh(suffix), rows, names)
    fmt = {".parquet": "parquet", ".jsonl": "jsonl"}.get(suffix, "csv")
    got = outcome(path, **dict(zip(["prompt", "model", "score", "cost", "benchmark"], names)),
                  format=fmt if renamed else None)
    want = expected(rows)
    if want is None or not sure_text(rows):
        assert want is not None or isinstance(got, RecordsError)
        return
    assert isinstance(got, Records), got
    table = {(r["prompt"], r["model"]): (r["score"], r["cost"], r["benchmark"])
             for r in got.table.iter_rows(named=True)}
    assert table.keys() == want.keys()
    for key, (score, cost, bench) in want.items():
        assert table[key][0] == score and table[key][2] == bench
        assert table[key][1] == cost or (cost is None and table[key][1] is None)


def write_wide(path, prompts, models, cells):
    """RouterBench's wide CSV: one row per prompt, ``<model>`` and ``<model>|total_cost`` columns."""
    head = ["sample_id", "prompt", "eval_name"] + [c for m in models for c in (m, f"{m}|total_cost")]
    lines = [",".join(head)]
    for i, p in enumerate(prompts):
        cells_i = [("" if s is None else repr(s), repr(c)) for s, c in cells[i]]
        lines.append(",".join([p, json.dumps(str([f"turn {i}"])), "arc"] + [v for sc in cells_i for v in sc]))
    path.write_text("\n".join(lines) + "\n")
    return path


wide = st.integers(1, 4).flatmap(lambda n_models: st.tuples(
    st.lists(st.text("pq", min_size=1, max_size=4), min_size=1, max_size=5, unique=True),
    st.lists(st.text("mn", min_size=1, max_size=3), min_size=n_models, max_size=n_models, unique=True),
    st.lists(st.lists(st.tuples(st.none() | SCORE, st.floats(0, FLOAT32_MAX)),
                      min_size=n_models, max_size=n_models), min_size=5, max_size=5)))


@PROFILE
@given(table=wide)
def test_valid_routerbench_files_load_to_exactly_their_records(fresh, generated_cases, table):
    generated_cases["valid RouterBench files"] += 1
    prompts, models, cells = table
    got = outcome(write_wide(fresh(".csv"), prompts, models, cells))
    want = {(p, m): s for i, p in enumerate(prompts) for (s, _), m in zip(cells[i], models)
            if s is not None}
    if not want:
        assert isinstance(got, RecordsError)
        return
    assert isinstance(got, Records), got
    assert dict(zip(zip(got.table["prompt"], got.table["model"]), got.table["score"])) == want
    assert got.text_of(got.prompts) == [f"turn {prompts.index(p)}" for p in got.prompts]


# ----------------------------------------------------------------------------- damaged files


def mutate(data: bytes, cut: float, flips: list, splices: list) -> bytes:
    data = bytearray(data[: max(1, math.ceil(len(data) * cut))])
    for where, bit in flips:
        data[min(int(where * len(data)), len(data) - 1)] ^= 1 << bit
    for where, piece in splices:
        at = int(where * len(data))
        data[at:at] = piece
    return bytes(data)


damage = st.tuples(st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 7)), max_size=3),
                   st.lists(st.tuples(st.floats(0, 1), HOSTILE | st.binary(max_size=6)), max_size=3))


@PROFILE
@given(rows=records, suffix=st.sampled_from(SUFFIXES + [".routerbench.csv"]), table=wide,
       damage=damage, forced=st.booleans())
def test_damaged_files_give_records_or_a_records_error(fresh, generated_cases, rows, suffix, table,
                                                       damage, forced):
    generated_cases["damaged files"] += 1
    path = fresh(suffix)
    if suffix == ".routerbench.csv":
        write_wide(path, *table)
    else:
        write_long(path, rows, ["prompt", "model", "score", "cost", "benchmark"])
    data = path.read_bytes()
    if suffix.endswith(".gz"):  # damage the content, then (mostly) compress it again
        data = gzip.compress(mutate(gzip.decompress(data), *damage)) if forced else mutate(data, *damage)
    else:
        data = mutate(data, *damage)
    path.write_bytes(data)
    fmt = {".parquet": "parquet", ".jsonl": "jsonl", ".routerbench.csv": "routerbench"}.get(suffix, "csv")
    outcome(path, format=fmt if forced else None)


@PROFILE
@given(data=st.binary(max_size=2048) | st.lists(HOSTILE, max_size=8).map(b"".join),
       suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_give_a_records_error(fresh, generated_cases, data, suffix):
    generated_cases["random bytes"] += 1
    path = fresh(suffix)
    path.write_bytes(data)
    outcome(path)


# ----------------------------------------------------------------------------- random columns


column_names = st.lists(st.sampled_from(["prompt", "model", "score", "cost", "benchmark", "text"]) | TEXT,
                        min_size=1, max_size=6, unique=True)


@PROFILE
@given(names=column_names, cells=st.lists(st.lists(JSON, min_size=6, max_size=6), min_size=1, max_size=5),
       pick=st.lists(st.integers(0, 7), min_size=6, max_size=6))
def test_jsonl_of_any_values_under_any_names(fresh, generated_cases, names, cells, pick):
    generated_cases["JSONL of any values"] += 1
    path = fresh(".jsonl")
    path.write_text("".join(json.dumps(dict(zip(names, row))) + "\n" for row in cells))
    outcome(path, format="jsonl", **options(names, pick))


def options(names, pick):
    """Column options naming some of ``names`` (an index past them keeps the default).

    The random-column suites force the long layout: which layout claims a file is not theirs
    to test (test_layout_properties.py does that for the other layouts).
    """
    keys = ["prompt", "model", "score", "cost", "benchmark", "text"]
    return {k: names[i] for k, i in zip(keys, pick) if i < len(names)}


PARQUET_COLUMNS = st.sampled_from([
    (pl.String, TEXT), (pl.Int64, st.integers(-2**63, 2**63 - 1)), (pl.Float64, st.floats()),
    (pl.Boolean, st.booleans()), (pl.List(pl.String), st.lists(TEXT, max_size=2)),
    (pl.Struct({"a": pl.Int64}), st.fixed_dictionaries({"a": st.integers(0, 9)})),
    (pl.Binary, st.binary(max_size=4)), (pl.Date, st.dates()), (pl.Null, st.none()),
    (pl.Categorical, st.sampled_from(["a", " b", ""])), (pl.Float32, st.floats(width=32)),
])


@PROFILE
@given(names=column_names, kinds=st.lists(PARQUET_COLUMNS, min_size=6, max_size=6),
       n=st.integers(1, 5), data=st.data(), pick=st.lists(st.integers(0, 7), min_size=6, max_size=6))
def test_parquet_of_any_types_under_any_names(fresh, generated_cases, names, kinds, n, data, pick):
    generated_cases["Parquet of any types"] += 1
    columns = {}
    for name, (dtype, values) in zip(names, kinds):
        cells = data.draw(st.lists(st.none() | values, min_size=n, max_size=n))
        columns[name] = pl.Series(name, cells, dtype=dtype)
    path = fresh(".parquet")
    try:
        pl.DataFrame(columns).write_parquet(path)
    except pl.exceptions.PolarsError:
        assume(False)  # not every random frame can be written
    outcome(path, format="parquet", **options(names, pick))


@PROFILE
@given(header=st.lists(TEXT, min_size=1, max_size=5), cells=st.lists(st.lists(TEXT, max_size=6), max_size=5),
       sep=st.sampled_from([",", "\t"]), pick=st.lists(st.integers(0, 7), min_size=6, max_size=6))
def test_csv_of_any_text_under_any_names(fresh, generated_cases, header, cells, sep, pick):
    generated_cases["CSV of any text"] += 1
    path = fresh(".tsv" if sep == "\t" else ".csv")
    path.write_text("\n".join(sep.join(row) for row in [header] + cells) + "\n")
    outcome(path, format="csv", **options(header, pick))
