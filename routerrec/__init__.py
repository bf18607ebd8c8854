"""routerrec: LLM routing as a recommender-system problem.

Records of prompts x LLMs (a score per pair, often a cost) form a sparse matrix; routerrec
completes it, folds in new models from a few probes, routes new prompts and evaluates
routers the way RouterBench and RouterEval do.

>>> import routerrec
>>> records = routerrec.load_sample()
>>> model = routerrec.fit(records, method="als", rank=8, iterations=5)
>>> model.predict(models=model.models[:2]).shape
(2000, 2)

The public names are imported on first use (PEP 562), so ``import routerrec`` and the
``routerrec`` command start without loading numba, scipy.stats or polars' readers they
do not need.
"""
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("routerrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

# public name -> submodule that defines it
_EXPORTS = {
    "FoldInResult": "coldstart.foldin", "evaluate_coldstart": "evaluation.coldstart",
    "fold_in_model": "coldstart.foldin",
    "METHODS": "methods", "fit": "methods",
    "KNNModel": "methods.knn",
    "Model": "methods.model", "ModelFileError": "methods.model", "load_model": "methods",
    "evaluate_pools": "evaluation.pools",
    "ProbeSession": "coldstart.probes", "select_probes": "coldstart.probes",
    "Matrix": "data.records", "Records": "data.records", "RecordsError": "data.records",
    "load_records": "data.load", "records_from_frame": "data.load",
    "evaluate_routerbench": "evaluation.routerbench",
    "Router": "routing.base", "load_router": "routing.registry", "make_router": "routing.registry",
    "load_sample": "data.sample",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'routerrec' has no attribute {name!r}") from None
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
