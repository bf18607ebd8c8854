"""The interface every prompt encoder shares, and the row normalisation they all apply."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["Encoder", "l2_rows", "as_texts"]


class Encoder:
    """Base class: ``fit(keys)``, ``transform(keys)`` -> (n, width) float32, ``state()``.

    ``state()`` returns ``(params: dict, arrays: dict)`` for saving; ``saved_shapes(params)``
    the shapes of those arrays, for checking a saved router before reading it (a dimension
    named ``"features"`` is the width of ``transform``'s output). ``keyed_by`` says what
    routers pass as keys: prompt ``"text"`` or prompt ``"id"``.
    """

    name = ""
    keyed_by = "text"

    @classmethod
    def saved_shapes(cls, params: dict) -> dict:
        return {}

    @property
    def width(self) -> int:  # pragma: no cover - abstract
        """The number of features ``transform`` returns per key."""
        raise NotImplementedError

    def fit(self, keys: Sequence[str]) -> "Encoder":
        return self

    def transform(self, keys: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def params(self) -> dict:
        return {}

    def state(self) -> tuple[dict, dict]:
        return self.params(), {}

    def set_state(self, arrays: dict) -> None:
        """Restore the fitted arrays of ``state()`` (from a file: checked here)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def as_texts(keys) -> list:
    """Texts as a list, a missing text (None) as the empty string."""
    return ["" if t is None else t for t in keys]


def l2_rows(z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in place (a zero row stays zero): every encoder's output is
    on one scale, so cosine neighbours and ridge strengths mean the same for all of them."""
    # np.linalg.norm's own arithmetic (its axis path: sqrt of the summed squares), without
    # its checks: a tenth of routing one prompt
    z /= np.maximum(np.sqrt(np.add.reduce(z * z, axis=1, keepdims=True)), 1e-12)
    return z
