"""The layout registry (every module of routerrec.data.readers with LAYOUTS is one layout, found
without a list) and the values Records carries over when only its texts or feedback change."""
import importlib
import pkgutil
from pathlib import Path

import polars as pl
import pytest

import routerrec.data.readers as readers_pkg
from routerrec.data.load import records_from_frame
from routerrec.data.readers import registry
from routerrec.data.readers.layout import Layout, Part
from routerrec.data.records import RecordsError


def test_every_layout_module_is_registered_in_module_order():
    modules = sorted(m.name for m in pkgutil.iter_modules(readers_pkg.__path__))
    declared = [lay.name for name in modules
                for lay in getattr(importlib.import_module(f"routerrec.data.readers.{name}"), "LAYOUTS", ())]
    assert list(registry.layouts()) == declared
    assert declared == ["feedback", "lm-eval", "csv", "parquet", "jsonl", "matrix", "routerbench",
                        "routerbench-pkl", "routereval", "scores-json"]


def _fake(name, suffixes=(), claims=None):
    return Layout(name, lambda path, options: Part(pl.DataFrame(), None), suffixes, claims)


def test_inference_prefers_a_claiming_layout_then_the_fallback(monkeypatch, tmp_path):
    fakes = {f.name: f for f in (
        _fake("table", (".csv",)),
        _fake("special", (".csv",), claims=lambda p: "special" in p.name),
        _fake("folder", claims=lambda p: p.is_dir()),
    )}
    monkeypatch.setattr(registry, "layouts", lambda: fakes)
    assert registry.layout_for(Path("x.csv")).name == "table"
    assert registry.layout_for(Path("special.csv")).name == "special"
    assert registry.layout_for(tmp_path).name == "folder"
    assert registry.layout_for(Path("special.csv"), "table").name == "table"  # a name forces it
    with pytest.raises(RecordsError, match="cannot infer the format"):
        registry.layout_for(Path("x.txt"))
    with pytest.raises(RecordsError, match="unknown format 'nope'; expected one of table, special, folder"):
        registry.layout_for(Path("x.csv"), "nope")


def test_a_layout_needs_suffixes_or_claims():
    with pytest.raises(ValueError, match="suffixes or a claims"):
        _fake("anything")


def test_texts_and_feedback_copies_keep_the_table_caches():
    rec = records_from_frame(pl.DataFrame({"prompt": ["p", "p", "q"], "model": ["a", "b", "a"],
                                           "score": [1.0, 0.0, 1.0]}))
    matrix = rec.matrix()
    implicit = rec.with_feedback("implicit")
    assert implicit.feedback == "implicit" and implicit.matrix() is matrix
    texts = rec.with_texts({"p": "what?", "zz": "unknown prompt"})
    assert texts.matrix() is matrix and texts.feedback == "explicit"
    assert texts.text_of(["p", "q", "zz"]) == ["what?", None, None]
    assert texts.with_texts({"q": "why?"}).text_of(["p", "q"]) == [None, "why?"]
