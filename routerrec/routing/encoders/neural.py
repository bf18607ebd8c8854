"""Dense embedding encoders: ``wordllama`` (weights inside its wheel), your own function
``texts -> (n, d) array`` (``function``), and ``sentence-transformers`` for weights you have
on disk (an optional package, imported only when this encoder is asked for)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...util.validate import integer, string
from .base import Encoder, as_texts, l2_rows

__all__ = ["WordLlamaEncoder", "FunctionEncoder", "SentenceTransformerEncoder",
           "function_label"]


class WordLlamaEncoder(Encoder):
    """WordLlama embeddings (MIT; the weights ship inside the wheel, nothing is downloaded)."""

    name = "wordllama"

    def __init__(self, *, dim: int = 256):
        self.dim = dim

    def params(self):
        return dict(dim=self.dim)

    @property
    def width(self):
        return self.dim

    def _model(self):
        if getattr(self, "_wl", None) is None:
            import wordllama
            from wordllama import WordLlama

            self._wl = WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                      disable_download=True, dim=self.dim)
        return self._wl

    def transform(self, keys):
        return l2_rows(np.asarray(self._model().embed(as_texts(keys)), dtype=np.float32))


def function_label(function) -> str:
    """``module.qualname`` of a function, what a saved router records of it (code is not saved)."""
    return f"{getattr(function, '__module__', None) or '?'}." \
           f"{getattr(function, '__qualname__', None) or type(function).__name__}"


class FunctionEncoder(Encoder):
    """Your own embeddings: ``function(texts: list[str]) -> (len(texts), d)`` array-like.

    Pass the function where an encoder name goes (``make_router("knn", encoder=embed)``).
    Every output is checked (shape, finite numbers, the width seen at fitting) and its rows
    L2-normalised like every encoder's. A saved router records the function's name and width,
    not its code: ``load_router(dir, encoder=embed)`` gives it back, and loading without it
    is refused, naming the function.
    """

    name = "function"

    def __init__(self, *, function=None, label: str | None = None, width: int | None = None):
        if function is not None and not callable(function):
            raise TypeError(f"encoder function must be callable (texts -> (n, d) array), got "
                            f"{type(function).__name__}")
        self.function = function
        self.label = string("encoder function label", label) if label is not None else (
            function_label(function) if function is not None else None)
        self.width_ = None if width is None else integer("encoder width", width, low=1)

    def params(self):
        return dict(label=self.label, width=self.width_)

    @property
    def width(self):
        return self.width_

    def _embed(self, texts: list) -> object:
        if self.function is None:
            raise ValueError(f"this encoder needs its function {self.label} again: pass it as "
                             "load_router(dir, encoder=function) (code is not saved)")
        return self.function(texts)

    def fit(self, keys):
        self.width_ = None
        self.width_ = self.transform(keys).shape[1]
        return self

    def transform(self, keys):
        texts = as_texts(keys)
        out = self._embed(texts)
        try:
            z = np.array(out, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"encoder function {self.label} must return numbers, an (n, d) "
                             f"array ({exc})") from None
        if z.ndim != 2 or z.shape[0] != len(texts) or z.shape[1] == 0:
            raise ValueError(f"encoder function {self.label} returned shape {z.shape} for "
                             f"{len(texts)} texts; it must return an array of shape "
                             f"({len(texts)}, d) with d >= 1")
        if self.width_ is not None and z.shape[1] != self.width_:
            raise ValueError(f"encoder function {self.label} returned {z.shape[1]} features "
                             f"per text; the router was fitted with {self.width_}")
        bad = np.argwhere(~np.isfinite(z))
        if len(bad):
            raise ValueError(f"encoder function {self.label} returned {z[tuple(bad[0])]} for "
                             f"text {int(bad[0][0])} (feature {int(bad[0][1])}); embeddings "
                             "must be finite")
        return l2_rows(z)


class SentenceTransformerEncoder(FunctionEncoder):
    """sentence-transformers embeddings from weights already on this machine (never downloads).

    ``model``: a directory written by ``SentenceTransformer.save`` or a model name found in
    the Hugging Face cache (e.g. ``all-MiniLM-L6-v2`` after one online
    ``SentenceTransformer("all-MiniLM-L6-v2")``). Needs the optional packages
    ``sentence-transformers`` and PyTorch (``pip install sentence-transformers``); without
    them, or without the weights, the first use raises an error saying which is missing.
    A saved router records ``model`` and reloads the weights from there.
    """

    name = "sentence-transformers"

    def __init__(self, *, model: str = "all-MiniLM-L6-v2", batch_size: int = 64,
                 width: int | None = None):
        super().__init__(label=f"sentence-transformers {model}", width=width)
        self.model = string("sentence-transformers model", model)
        self.batch_size = integer("sentence-transformers batch_size", batch_size, low=1)

    def params(self):
        return dict(model=self.model, batch_size=self.batch_size, width=self.width_)

    def _embed(self, texts):
        if self.function is None:
            st = _load_sentence_transformer(self.model)
            self.function = lambda batch: st.encode(batch, batch_size=self.batch_size,
                                                    convert_to_numpy=True,
                                                    show_progress_bar=False)
        return self.function(texts)


def _load_sentence_transformer(model: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ValueError(f"the sentence-transformers encoder needs the optional package "
                         f"sentence-transformers and PyTorch ({exc}): pip install "
                         "sentence-transformers, or pass your own embedding function as "
                         "encoder=") from None
    where = Path(model).expanduser()
    try:
        return SentenceTransformer(str(where) if where.is_dir() else model,
                                   local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"no local weights for sentence-transformers model {model!r} ({exc}); "
                         "download them once with network access (SentenceTransformer(name)"
                         ".save(DIR)) and pass model=DIR, or put them in the Hugging Face "
                         "cache") from None
