"""routerrec: LLM routing as a recommender-system problem.

Records of prompts x LLMs (a score per pair, often a cost) form a sparse matrix; routerrec
completes it, folds in new models from a few probes, routes new prompts and evaluates
routers the way RouterBench and RouterEval do.

>>> import routerrec
>>> records = routerrec.load_sample()
>>> model = routerrec.fit(records, method="als", rank=8, iterations=5)
>>> model.predict(models=model.models[:2]).shape
(2000, 2)
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("routerrec")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

from .coldstart import FoldInResult, evaluate_coldstart
from .methods import METHODS, fit
from .methods.knn import KNNModel
from .model import Model, ModelFileError, load_model
from .pools import evaluate_pools
from .probes import ProbeSession, select_probes
from .records import Matrix, Records, RecordsError, load_records, records_from_frame
from .routerbench_eval import evaluate_routerbench
from .routers import Router, load_router, make_router
from .sample import load_sample

__all__ = ["METHODS", "KNNModel", "Matrix", "Model", "ModelFileError", "Records", "RecordsError",
           "fit", "load_model", "load_records", "load_sample", "records_from_frame",
           "__version__", "evaluate_pools", "FoldInResult", "ProbeSession", "evaluate_coldstart",
           "select_probes",
           "Router", "make_router", "load_router", "evaluate_routerbench"]
