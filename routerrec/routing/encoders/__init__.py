"""Prompt encoders: text (or prompt id) -> dense feature vector, so a router can score prompts
never seen. One interface (``encoders.base.Encoder``: ``fit``, ``transform``, ``state``):

* ``tfidf`` (default, ``tfidf.py``): hashed word n-grams -> TF-IDF -> SVD; no weights.
* ``wordllama`` (``neural.py``): WordLlama's static embeddings from the weights in its wheel.
* ``sentence-transformers`` (``neural.py``): weights you have on disk; optional package.
* your own function ``texts -> (n, d) array`` passed where a name goes (``function``).
* ``precomputed`` (``vectors.py``): vectors from a Parquet/``.npy`` file, keyed by prompt id
  or text.

``make_encoder(name_or_function, **params)`` builds one; ``encoder_from_state`` rebuilds a
saved one (a ``function`` encoder needs its function again: code is never saved).
"""
from __future__ import annotations

from .base import Encoder
from .cache import cache_dir, encode_cached
from .neural import FunctionEncoder, SentenceTransformerEncoder, WordLlamaEncoder
from .tfidf import TfidfEncoder, hashed_counts
from .vectors import PrecomputedEncoder

__all__ = ["Encoder", "TfidfEncoder", "WordLlamaEncoder", "SentenceTransformerEncoder",
           "FunctionEncoder", "PrecomputedEncoder", "ENCODERS", "make_encoder",
           "encoder_from_state", "encoder_name", "encode_cached", "cache_dir", "hashed_counts"]

ENCODERS = {c.name: c for c in (TfidfEncoder, WordLlamaEncoder, SentenceTransformerEncoder,
                                PrecomputedEncoder, FunctionEncoder)}


def encoder_name(encoder) -> str:
    """The saved name of an encoder argument: a name as it is, a function as ``"function"``."""
    return FunctionEncoder.name if callable(encoder) else encoder


def make_encoder(name="tfidf", **params) -> Encoder:
    """An unfitted encoder: a name (``tfidf``, ``wordllama``, ``sentence-transformers``,
    ``precomputed``) or your function ``texts -> (n, d) array``."""
    if callable(name):
        if params:
            raise TypeError(f"an encoder function takes no encoder_params, got {sorted(params)}")
        return FunctionEncoder(function=name)
    cls = ENCODERS.get(name) if isinstance(name, str) else None
    if cls is FunctionEncoder:
        raise ValueError("encoder 'function' is your own embedding function: pass the function "
                         "itself as encoder=")
    if cls is None:
        names = sorted(set(ENCODERS) - {FunctionEncoder.name})
        raise ValueError(f"unknown encoder {name!r}; choose one of {names} or pass a function "
                         "texts -> (n, d) array")
    return cls(**params)


def encoder_from_state(name: str, params: dict, arrays: dict, *, function=None) -> Encoder:
    """Rebuild a fitted encoder from ``state()`` output (arrays read without pickle).

    A ``function`` encoder needs ``function`` (the one it was fitted with, or an equivalent);
    without it this raises, naming the function the router was fitted with.
    """
    if name == FunctionEncoder.name:
        enc = FunctionEncoder(function=function, **params)
        if function is None:
            raise ValueError(f"it was fitted with your own encoder function {enc.label} "
                             f"(width {enc.width}), which is not saved: load it with "
                             "load_router(dir, encoder=function)")
    else:
        if function is not None:
            raise ValueError(f"it uses the {name!r} encoder, not a function: load it without "
                             "encoder=")
        enc = make_encoder(name, **params)
    enc.set_state(arrays)
    return enc
