"""Prompt encoders: tfidf (no weights), wordllama (offline), precomputed files, disk cache."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from routerrec.routing.encoders import (ENCODERS, encode_cached, encoder_from_state, hashed_counts,
                                make_encoder)
from routerrec.data.shared import load_routerbench, shared_data_dir

TEXTS = ["solve the integral equation by calculus", "an integral equation from calculus",
         "fix the python loop bug", "a python loop with a bug",
         "which painter made this museum painting", "a famous painting in a museum"] * 3


def test_tfidf_separates_topics_and_round_trips_through_its_state():
    enc = make_encoder("tfidf", dim=4).fit(TEXTS)
    z = enc.transform(TEXTS[:6])
    assert z.shape == (6, 4) and z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    sim = z @ z.T
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[2, 4]  # same topic closer
    params, arrays = enc.state()
    again = encoder_from_state("tfidf", params, {k: np.array(v) for k, v in arrays.items()})
    np.testing.assert_array_equal(again.transform(TEXTS[:6]), z)
    unseen = enc.transform(["completely novel words zyx", ""])  # no known term: zero vector
    assert np.all(np.isfinite(unseen)) and np.allclose(unseen[1], 0)


def test_tfidf_is_deterministic():
    a = make_encoder("tfidf", dim=3, seed=1).fit(TEXTS).transform(TEXTS)
    b = make_encoder("tfidf", dim=3, seed=1).fit(TEXTS).transform(TEXTS)
    np.testing.assert_array_equal(a, b)


def test_wordllama_offline():
    pytest.importorskip("wordllama")
    z = make_encoder("wordllama").transform(TEXTS[:4])
    assert z.shape == (4, 256) and np.all(np.isfinite(z))
    assert (z[0] @ z[1]) > (z[0] @ z[3])


def test_precomputed_parquet_and_npy(tmp_path):
    vec = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    ids = ["a", "b", "c", "d"]
    pl.DataFrame({"prompt": ids, "embedding": vec.tolist()}).write_parquet(tmp_path / "e.parquet")
    pl.DataFrame({"qid": ids, "x": vec[:, 0], "y": vec[:, 1], "z": vec[:, 2]}).write_parquet(tmp_path / "w.parquet")
    np.save(tmp_path / "e.npy", vec)
    (tmp_path / "e.ids.txt").write_text("\n".join(ids))
    want = vec[[2, 0]] / np.linalg.norm(vec[[2, 0]], axis=1, keepdims=True)
    for enc in (make_encoder("precomputed", path=tmp_path / "e.parquet"),
                make_encoder("precomputed", path=tmp_path / "w.parquet", id_col="qid"),
                make_encoder("precomputed", path=tmp_path / "e.npy")):
        assert enc.keyed_by == "id"
        np.testing.assert_allclose(enc.fit().transform(["c", "a"]), want, rtol=1e-6)
        with pytest.raises(KeyError, match="'zz'"):
            enc.transform(["zz"])
    (tmp_path / "e.ids.txt").unlink()
    with pytest.raises(ValueError, match="ids.txt"):
        make_encoder("precomputed", path=tmp_path / "e.npy").fit()
    with pytest.raises(ValueError, match="no key column 'prompt' or 'text'"):
        make_encoder("precomputed", path=tmp_path / "w.parquet").fit()
    with pytest.raises(ValueError, match="unknown encoder"):
        make_encoder("bert")
    assert sorted(ENCODERS) == ["function", "precomputed", "sentence-transformers", "tfidf",
                               "wordllama"]


def test_encode_cached_hits_disk_and_keys_on_content(tmp_path):
    enc = make_encoder("tfidf", dim=3).fit(TEXTS)
    z = encode_cached(enc, TEXTS, directory=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    np.testing.assert_array_equal(encode_cached(enc, TEXTS, directory=tmp_path), z)
    assert len(list(tmp_path.glob("*.npz"))) == 1  # a hit, not a new entry
    encode_cached(enc, TEXTS[:-1] + ["changed"], directory=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    files[0].write_bytes(b"garbage")  # a corrupt entry is recomputed
    np.testing.assert_array_equal(encode_cached(enc, TEXTS, directory=tmp_path), z)
    with np.load(files[0], allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["features"], z)


# Tricky text for the numba counter: final sigma, dotted I (lower() grows it), ligatures,
# math letters beyond the BMP, digits of other scripts, underscores, a lone surrogate,
# emoji, CJK, one-character words, empty prompts.
UNICODE = ["ΟΔΟΣ Σ İstanbul STRASSE straße ﬁne a_b __ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ½x ٣٤ \ud800ab cd", "", "x",
           "émoji😀word 中文字 ab ab AB", "tab\tnew\nline  x1 y 22"]


def _sklearn_counts(texts, ngram_max, n_features=2 ** 18):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=n_features, ngram_range=(1, ngram_max),
                             alternate_sign=False, norm=None, dtype=np.float32).transform(texts)


def _sample_texts():
    from routerrec import load_sample

    return load_sample().texts["text"].to_list()


@pytest.mark.parametrize("ngram_max", [1, 2])
def test_hashed_counts_equal_scikit_learn_and_do_not_depend_on_threads(ngram_max):
    texts = TEXTS + UNICODE + _sample_texts()
    want = _sklearn_counts(texts, ngram_max)
    for n_jobs in (1, 2):
        got = hashed_counts(texts, ngram_max=ngram_max, n_jobs=n_jobs)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data is absent")
def test_hashed_counts_equal_scikit_learn_on_routerbench_prompts():
    texts = load_routerbench(split="test").texts["text"].to_list()
    want, got = _sklearn_counts(texts, 1), hashed_counts(texts)
    assert (want != got).nnz == 0 and np.array_equal(want.indices, got.indices)


def test_tfidf_features_equal_the_scikit_learn_pipeline():
    """The encoder (numba counts and normalisation) gives bit-identical features to
    HashingVectorizer -> TF-IDF -> sklearn.preprocessing.normalize -> SVD projection."""
    from sklearn.preprocessing import normalize

    texts = _sample_texts()
    enc = make_encoder("tfidf", dim=16).fit(texts)
    counts = _sklearn_counts(texts, 1)
    np.testing.assert_array_equal(enc.used_, np.flatnonzero(np.bincount(counts.indices,
                                                                          minlength=2 ** 18)))
    test = texts[::7] + UNICODE + TEXTS
    counts = _sklearn_counts(test, 1)[:, enc.used_].tocsr()
    counts.data = (1.0 + np.log(counts.data)) * enc.idf_[counts.indices]
    z = np.asarray(normalize(counts) @ enc.components_, dtype=np.float32)
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    for n_jobs in (1, 2):  # parallel vs serial: the same features
        enc.n_jobs = n_jobs
        np.testing.assert_array_equal(enc.transform(test), z)


def test_route_cli_decisions_do_not_depend_on_n_jobs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from routerrec import load_sample
    from routerrec.routing.registry import make_router

    make_router("linear").fit(load_sample()).save(tmp_path / "r")
    (tmp_path / "p.txt").write_text("\n".join((_sample_texts() + UNICODE[2:] + TEXTS) * 3))
    exe = str(Path(sys.executable).parent / "routerrec")
    out = []
    for n_jobs in ("1", "2"):
        dest = tmp_path / f"d{n_jobs}.jsonl"
        subprocess.run([exe, "route", "--model", str(tmp_path / "r"), "--prompts",
                        str(tmp_path / "p.txt"), "--wtp", "1000", "--out", str(dest), "--quiet",
                        "--n-jobs", n_jobs], check=True, capture_output=True)
        out.append(dest.read_text())
    assert out[0] == out[1] and out[0].count("\n") > 100
