"""Learned routers: an encoder turns prompt text into features, a model maps the features to
every candidate's score. One module per router, each registering itself (``register_router``);
importing this package registers them all, in this order (the registry's order)."""
from .base import LearnedRouter
from .mf import MF_METHOD_DEFAULTS, MFRouter
from .lightfm_hybrid import LightFMHybridRouter
from .prompt_knn import PromptKNNRouter
from .linear import LinearRouter
from .ensemble import EnsembleRouter
from .auto import AutoRouter

__all__ = ["LearnedRouter", "MFRouter", "MF_METHOD_DEFAULTS", "LightFMHybridRouter",
           "PromptKNNRouter", "LinearRouter", "EnsembleRouter",
           "AutoRouter"]
