"""The streaming loader (scan_records): the same matrix and fit as the in-memory records, and
clear errors for bad files."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from planted import planted_frame

import routerrec
from routerrec.data.bigmatrix import scan_records
from routerrec.data.records import RecordsError


def test_scan_records_builds_the_same_matrix_and_fit(tmp_path):
    frame, _ = planted_frame(n_prompts=300, n_models=25, binary=True, seed=4)
    frame = frame.sample(fraction=1.0, shuffle=True, seed=0)  # rows in no particular order
    half = frame.height // 2
    (tmp_path / "d").mkdir()
    frame[:half].write_parquet(tmp_path / "d" / "a.parquet")
    frame[half:].write_parquet(tmp_path / "d" / "b.parquet")
    large = scan_records(tmp_path / "d", batch_rows=1000)
    small = routerrec.records_from_frame(frame)
    a, b = large.matrix(), small.matrix()
    assert a.prompts == b.prompts and a.models == b.models
    assert (a.scores != b.scores).nnz == 0 and a.scores.has_sorted_indices
    assert a.scores.indices.dtype == np.int32 and a.scores.data.dtype == np.float32
    np.testing.assert_allclose(routerrec.fit(large, rank=4, iterations=3).predict(),
                               routerrec.fit(small, rank=4, iterations=3).predict(), atol=1e-5)


def test_scan_records_refuses_bad_files(tmp_path):
    dup = pl.DataFrame({"prompt": ["a", "a", "b"], "model": ["x", "x", "x"], "score": [1.0, 0.0, 1.0]})
    dup.write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(RecordsError, match="duplicate .* prompt 'a'"):
        scan_records(tmp_path / "dup.parquet")
    dup.with_columns(pl.Series("score", [1.0, float("nan"), 1.0])).write_parquet(tmp_path / "nan.parquet")
    with pytest.raises(RecordsError, match="column 'score'.*not finite"):
        scan_records(tmp_path / "nan.parquet")
    with pytest.raises(RecordsError, match="missing required column 'correct'"):
        scan_records(tmp_path / "dup.parquet", score="correct")
    with pytest.raises(RecordsError, match="no Parquet files"):
        scan_records(tmp_path / "nothing-*.parquet")
