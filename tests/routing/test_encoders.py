"""Bring-your-own embeddings: a function, a vectors file keyed by id or text, and the optional
sentence-transformers encoder (its no-download code path)."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import polars as pl
import pytest

from routerrec import load_sample
from routerrec.routing.base import RouterFileError
from routerrec.routing.encoders import (ENCODERS, encode_cached, encoder_from_state, hashed_counts,
                                        make_encoder)
from routerrec.routing.registry import load_router, make_router


def word_counts(texts):
    """A real embedding function: 64 hashed word counts per text (no weights)."""
    return hashed_counts(texts, n_features=64).toarray()


@pytest.fixture(scope="module")
def sample():
    records = load_sample()
    keep = records.prompts[::5]
    return records.filter(prompts=keep), records.text_of(keep)


def test_a_function_is_an_encoder_and_comes_back_only_when_given_again(sample, tmp_path):
    records, texts = sample
    router = make_router("knn", encoder=word_counts).fit(records)
    assert router.encoder_.width == 64 and router.summary()["params"]["encoder"] == "function"
    want = np.asarray(word_counts(texts[:5]), dtype=np.float32)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(router.encoder_.transform(texts[:5]), want, rtol=1e-6)
    router.save(tmp_path / "r")
    with pytest.raises(RouterFileError, match=r"fitted with your own encoder function "
                                              r"test_encoders.word_counts, which is not saved: "
                                              r"load it with load_router\(dir, encoder=function\)"):
        load_router(tmp_path / "r")
    again = load_router(tmp_path / "r", encoder=word_counts)
    assert again.route(texts[:50], wtp=1000) == router.route(texts[:50], wtp=1000)
    make_router("linear", encoder_params={"dim": 8}).fit(records).save(tmp_path / "tfidf")
    with pytest.raises(RouterFileError, match="uses the 'tfidf' encoder, not a function"):
        load_router(tmp_path / "tfidf", encoder=word_counts)
    with pytest.raises(TypeError, match="load_router's encoder must be your embedding function"):
        load_router(tmp_path / "r", encoder="word_counts")
    # a function with another width than the router was fitted with is caught at routing
    wider = load_router(tmp_path / "r", encoder=lambda t: np.ones((len(t), 65)))
    with pytest.raises(ValueError, match="returned 65 features per text; the router was "
                                         "fitted with 64"):
        wider.route(texts[:2])


@pytest.mark.parametrize("name", ["task-best", "cluster-best"])
def test_group_routers_with_a_function_encoder_save_and_come_back(sample, tmp_path, name):
    """The groups' classifier (task-best) or clusters (cluster-best) read your function's
    features; the saved router names it and needs it again, like a learned router."""
    records, texts = sample
    router = make_router(name, encoder=word_counts).fit(records)
    assert router.get_params()["encoder"] == "function"
    router.save(tmp_path / name)
    with pytest.raises(RouterFileError, match=r"fitted with your own encoder function "
                                              r"test_encoders.word_counts, which is not saved"):
        load_router(tmp_path / name)
    again = load_router(tmp_path / name, encoder=word_counts)
    assert again.route(texts[:50]) == router.route(texts[:50])
    assert again.explain(texts[:5]) == router.explain(texts[:5])


@pytest.mark.parametrize("function, message", [
    (lambda t: np.ones(len(t)), r"returned shape \(3,\) for 3 texts; it must return an array "
                                r"of shape \(3, d\)"),
    (lambda t: np.ones((2, 4)), r"returned shape \(2, 4\) for 3 texts"),
    (lambda t: [["a", "b"]] * len(t), "must return numbers"),
    (lambda t: np.full((len(t), 2), np.nan), r"returned nan for text 0 \(feature 0\)"),
])
def test_a_function_that_returns_no_embeddings_is_named(function, message):
    with pytest.raises(ValueError, match=message):
        make_encoder(function).fit(["a", "b", "c"])


def test_function_encoder_arguments_and_cache():
    with pytest.raises(TypeError, match="takes no encoder_params"):
        make_encoder(word_counts, dim=3)
    with pytest.raises(ValueError, match="pass the function itself as encoder="):
        make_encoder("function")
    with pytest.raises(ValueError, match="encoder function .* load_router"):
        encoder_from_state("function", {"label": "m.f", "width": 4}, {}).transform(["x"])
    calls = []

    def counted(texts):
        calls.append(len(texts))
        return word_counts(texts)

    enc = make_encoder(counted).fit(["a b", "c"])
    encode_cached(enc, ["a b"])
    encode_cached(enc, ["a b"])
    assert calls == [2, 1, 1]  # never cached: the function's code is not in any hash


def test_sentence_transformers_is_optional_and_never_downloads(tmp_path, monkeypatch):
    assert "sentence-transformers" in ENCODERS
    enc = make_encoder("sentence-transformers", model=str(tmp_path / "no-weights"))
    if importlib.util.find_spec("sentence_transformers") is None:
        message = ("needs the optional package sentence-transformers and PyTorch .*pip install "
                   "sentence-transformers")
    else:
        message = "no local weights for sentence-transformers model"
    with pytest.raises(ValueError, match=message):
        enc.fit(["a prompt"])
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(ValueError, match="pip install sentence-transformers"):
        make_encoder("sentence-transformers").transform(["x"])
    with pytest.raises(ValueError, match="sentence-transformers batch_size must be an integer >= 1"):
        make_encoder("sentence-transformers", batch_size=0)


def _vectors(texts):
    return np.asarray(word_counts(texts), dtype=np.float32) + 0.01


def test_vectors_keyed_by_text_route_new_prompts_and_travel_with_the_router(sample, tmp_path):
    records, texts = sample
    unique = list(dict.fromkeys(texts))  # a text is one key (the sample repeats some)
    pl.DataFrame({"text": unique, "embedding": _vectors(unique).tolist()}).write_parquet(
        tmp_path / "train.parquet")
    router = make_router("linear", encoder="precomputed",
                         encoder_params={"path": str(tmp_path / "train.parquet")}).fit(records)
    assert router.encoder_.keyed_by == "text"
    fn = make_router("linear", encoder=_vectors).fit(records)  # the same features, by function
    assert router.route(texts[:40], wtp=1000) == fn.route(texts[:40], wtp=1000)
    assert router.predict_cost(texts[:2]).shape == (2, 20)  # texts: the length cost model
    new = ["A brand new prompt about integrals.", "Another unseen one about code."]
    with pytest.raises(KeyError, match=r"2 of 2 prompt texts have no vector in the router's "
                                       r"embeddings .*routerrec route --embeddings FILE"):
        router.route(new)
    pl.DataFrame({"text": new, "embedding": _vectors(new).tolist()}).write_parquet(
        tmp_path / "new.parquet")
    router.save(tmp_path / "r")
    (tmp_path / "train.parquet").unlink()  # the vectors are in the router
    loaded = load_router(tmp_path / "r")
    loaded.encoder_ = loaded.encoder_.add_vectors(tmp_path / "new.parquet")
    assert loaded.route(new + texts[:5], wtp=1000) == fn.route(new + texts[:5], wtp=1000)
    pl.DataFrame({"text": new, "embedding": [[1.0, 2.0]] * 2}).write_parquet(tmp_path / "w.parquet")
    with pytest.raises(ValueError, match="vectors of 2 features; the router's embeddings have 64"):
        loaded.encoder_.add_vectors(tmp_path / "w.parquet")


@pytest.mark.parametrize("frame, message", [
    ({"prompt": ["a", "b", "a"], "embedding": [[1.0], [2.0], [3.0]]},
     r"rows 1 and 3, column 'prompt': the key 'a' appears twice"),
    ({"prompt": ["a", None], "embedding": [[1.0], [2.0]]}, r"row 2, column 'prompt': missing key"),
    ({"prompt": ["a", "b"], "embedding": [[1.0, 2.0], [3.0]]},
     r"row 2, column 'embedding': a vector of 1 numbers; row 1 has 2"),
    ({"prompt": ["a", "b"], "x": [1.0, float("nan")], "y": [1.0, 2.0]},
     r"row 2, 'x': nan is not a finite number"),
    ({"prompt": ["a", "b"], "embedding": [[1.0, None], [3.0, 4.0]]},
     r"row 1, embedding\[1\]: nan is not a finite number"),
    ({"prompt": ["a"], "x": ["one"]}, r"column 'x': not numeric"),
    ({"qid": ["a"], "x": [1.0]}, r"no key column 'prompt' or 'text' \(columns: qid, x\)"),
    ({"prompt": ["a"]}, r"no vector columns besides 'prompt'"),
])
def test_a_bad_vectors_file_is_named_by_row_and_column(tmp_path, frame, message):
    pl.DataFrame(frame).write_parquet(tmp_path / "v.parquet")
    with pytest.raises(ValueError, match=message):
        make_encoder("precomputed", path=tmp_path / "v.parquet").fit()
    (tmp_path / "v.txt").write_text("not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        make_encoder("precomputed", path=tmp_path / "v.txt").fit()
