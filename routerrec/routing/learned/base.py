"""``LearnedRouter``: the base of every router that learns from records. An encoder turns the
prompt keys (texts, or ids with the ``precomputed`` encoder) into features; a subclass maps
features to every candidate's score with ``_fit_features`` / ``_predict_features``.
``encoder`` is a name or your own function ``texts -> (n, d) array`` (see ``encoders``)."""
from __future__ import annotations

import numpy as np

from ..base import Router, text_lengths
from ..encoders import ENCODERS, encoder_from_state, encoder_name, make_encoder

__all__ = ["LearnedRouter"]


class LearnedRouter(Router):
    """A router on prompt features: an encoder, then ``_fit_features`` / ``_predict_features``.

    Subclasses keep their fitted state in ``_model_state`` / ``_set_model_state`` (the encoder's
    is saved here), so an ensemble can fit, save and load its members on one shared encoder.
    ``holds_routers`` marks a router made of other routers (``ensemble``, ``auto``): not a
    member of another.
    """

    holds_routers = False

    def __init__(self, *, encoder: str = "tfidf", encoder_params: dict | None = None,
                 cost: str = "auto", seed: int = 0):
        super().__init__(cost=cost, seed=seed)
        self.encoder, self.encoder_params = encoder, encoder_params

    def get_params(self) -> dict:
        """The parameters; an encoder function appears as ``"function"`` (code is not saved:
        ``load_router(dir, encoder=function)`` gives it back)."""
        return {**super().get_params(), "encoder": encoder_name(self.encoder)}

    def _fit(self, records, m):
        enc = make_encoder(self.encoder, **(self.encoder_params or {}))
        keys = list(m.prompts) if enc.keyed_by == "id" else self._keys(records, m.prompts)
        self.encoder_ = enc.fit(keys)
        self._fit_features(self.encoder_.transform(keys), m, records)

    def _fit_features(self, x, m, records):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_features(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _lengths_of(self, texts):
        return None if self.encoder_.keyed_by == "id" else text_lengths(texts)

    def _score_keys(self, records):
        self._check_fitted()
        if self.encoder_.keyed_by == "id":
            return records.prompts
        return self._keys(records, records.prompts)

    def _scores(self, texts):
        return self._predict_features(self.encoder_.transform(texts))

    def _state(self):
        params, arrays = self.encoder_.state()
        extra, own = self._model_state()
        return ({"encoder": {"name": self.encoder_.name, "params": params}, **extra},
                {**{f"enc.{k}": v for k, v in arrays.items()}, **own})

    def _set_state(self, extra, arrays, directory):
        enc = extra["encoder"]
        self.encoder_ = encoder_from_state(
            enc["name"], enc["params"], {k[4:]: v for k, v in arrays.items() if k.startswith("enc.")},
            function=self.encoder if callable(self.encoder) else None)
        self._set_model_state(extra, arrays, directory)
        # the saved arrays must fit together: the encoder's features into the model's arrays,
        # and out one score per model (a mismatch raises here, not at the first route)
        out = self._predict_features(np.zeros((1, self.encoder_.width), np.float32))
        if np.shape(out) != (1, len(self.models_)) or not np.all(np.isfinite(out)):
            raise ValueError(f"its arrays give {np.shape(out)} scores, not finite scores for "
                             f"{len(self.models_)} models")

    @classmethod
    def saved_shapes(cls, params, state, n_models):
        enc = state["encoder"]
        shapes = ENCODERS[enc["name"]].saved_shapes(enc["params"])
        return {**{f"enc.{k}": v for k, v in shapes.items()},
                **cls._model_shapes(params, state, n_models)}

    @classmethod
    def _model_shapes(cls, params: dict, state: dict, n_models: int) -> dict:
        """The shapes of the arrays ``_model_state`` saves (``"features"``: the encoder's)."""
        return {}

    def _model_state(self):
        return {}, {}

    def _set_model_state(self, extra, arrays, directory):
        pass
