"""Explicit ALS on Spark MLlib, for records that do not fit one machine.

Spark's ``pyspark.ml.recommendation.ALS`` with ``implicitPrefs=False`` minimises the same
ALS-WR objective as routerrec's numba ALS (regularisation times each row's count), but it
has no bias terms. So the global mean and the prompt / model biases are fitted first (a few
rank-0 sweeps of routerrec's own ALS kernel, which is cheap: one number per row), Spark
factorises the residual ``r - mu - b_prompt - b_model``, and the biases are refitted once
to what the factors leave. This backfitting is not the joint solve of the numba engine: on
planted data its held-out RMSE is a few percent higher (tests/methods/test_spark.py states the
tolerance). Records travel to Spark as Parquet
written by polars (integer codes, no strings, no pandas); the factors come back the same
way and become an ordinary :class:`~routerrec.methods.model.Model` (``method="als"``), so routing,
fold-in, evaluation and ``save``/``load_model`` work unchanged.

On one machine this is much slower than the numba engine (docs/scale.md has the measured
ratio); it is for a cluster (``master="spark://host:7077"``), where the data need not fit
in one process.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from ..kernels.als import als_sweeps
from ..util import validate
from ..util.progress import progress_bar
from .als import DEFAULTS, PARAMS, training_residual_var
from .model import Model
from .registry import factor_memory, register_method, seed

__all__ = ["fit", "spark_session", "fit_biases", "BIAS_SWEEPS"]

# Rank-0 ALS sweeps that fit mu + b_prompt + b_model before Spark sees the residual; the
# biases change by < 1e-4 after three on the sample and on openllm-v1.
BIAS_SWEEPS = 5


def spark_session(master: str = "local[2]", *, driver_memory: str = "4g"):
    """A SparkSession for ``master`` (reused if one is running), quiet and without web UI.

    ``SPARK_LOCAL_IP`` defaults to 127.0.0.1: local mode needs no network interface.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(master).appName("routerrec")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.memory", driver_memory)
             .config("spark.sql.shuffle.partitions", "8")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def fit_biases(scores, reg: float, sweeps: int = BIAS_SWEEPS):
    """``(mu, prompt_bias, model_bias)`` of the rank-0 ALS-WR model (the same kernel, no factors)."""
    mu, prompt_aug, model_aug = als_sweeps(scores, 0, reg, sweeps, seed=0)
    return float(mu), prompt_aug[:, 0], model_aug[:, 0]


def _factors_from_spark(frame, n_rows: int, rank: int, path: Path) -> np.ndarray:
    """Write a Spark factor frame (id, features) as Parquet and read it back with polars."""
    frame.write.mode("overwrite").parquet(str(path))
    table = pl.read_parquet(path / "*.parquet")
    out = np.zeros((n_rows, rank), np.float32)  # ids Spark never saw keep zero factors
    ids = table.get_column("id").to_numpy()
    out[ids] = table.select(pl.col("features").list.to_array(rank)).to_series().to_numpy()
    return out


def _optional_dir(what: str, value):
    return None if value is None else validate.path(what, value)


def _optional_session(what: str, value):
    if value is None:
        return None
    from pyspark.sql import SparkSession

    return validate.instance(what, value, SparkSession, how="spark_session(master) makes one")


# master is a Spark master URL (Spark checks its form)
@register_method("als", engine="spark", params={**PARAMS, "seed": seed(63),
                                                "master": validate.string,
                                                "spark": _optional_session,
                                                "tmp_dir": _optional_dir},
                 memory=factor_memory(row_solves=False))
def fit(records, *, rank: int = DEFAULTS["rank"], reg: float = DEFAULTS["reg"],
        iterations: int = DEFAULTS["iterations"], seed: int = DEFAULTS["seed"],
        master: str = "local[2]", spark=None, tmp_dir=None, progress: bool = False) -> Model:
    """Fit explicit ALS with Spark MLlib and export it as a routerrec ``Model``.

    ``spark`` is an existing SparkSession (else one is started for ``master``). Records and
    factors pass through Parquet files in ``tmp_dir`` (default: a temporary directory,
    removed afterwards); on a cluster, give a ``tmp_dir`` every executor can read.
    """
    from pyspark.ml.recommendation import ALS

    m = records.matrix()
    n_p, n_m = m.shape
    work = Path(tempfile.mkdtemp(prefix="routerrec-spark-", dir=tmp_dir))
    try:
        with progress_bar(4, "Spark ALS", enabled=progress) as bar:
            mu, prompt_bias, model_bias = fit_biases(m.scores, reg)
            coo = m.scores.tocoo()
            resid = coo.data - mu - prompt_bias[coo.row] - model_bias[coo.col]
            pl.DataFrame({"p": coo.row.astype(np.int32), "m": coo.col.astype(np.int32),
                          "r": resid.astype(np.float32)}).write_parquet(work / "cells.parquet")
            del coo, resid
            bar.update(1)
            spark = spark or spark_session(master)
            # ALS's lineage grows with every iteration; checkpoints (every 10) cut it
            spark.sparkContext.setCheckpointDir(str(work / "checkpoints"))
            cells = spark.read.parquet(str(work / "cells.parquet"))
            bar.update(1)
            blocks = spark.sparkContext.defaultParallelism  # one block per core
            als = ALS(rank=rank, maxIter=iterations, regParam=reg, userCol="p", itemCol="m",
                      ratingCol="r", implicitPrefs=False, nonnegative=False, seed=seed,
                      numUserBlocks=blocks, numItemBlocks=blocks, coldStartStrategy="nan")
            fitted = als.fit(cells)
            bar.update(1)
            prompt_factors = _factors_from_spark(fitted.userFactors, n_p, rank, work / "p")
            model_factors = _factors_from_spark(fitted.itemFactors, n_m, rank, work / "m")
            # refit the biases to what the factors left over (Spark could not move them)
            coo = m.scores.tocoo()
            coo.data = coo.data - np.einsum("ij,ij->i", prompt_factors[coo.row],
                                            model_factors[coo.col])
            mu, prompt_bias, model_bias = fit_biases(coo.tocsr(), reg)
            del coo
            bar.update(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = m.scores.data
    model = Model(method="als", params=dict(rank=rank, reg=reg, iterations=iterations, seed=seed,
                                            engine="spark", master=master),
                  prompts=m.prompts, models=m.models, global_mean=mu, prompt_bias=prompt_bias,
                  model_bias=model_bias, prompt_factors=prompt_factors,
                  model_factors=model_factors, clip=(float(data.min()), float(data.max())))
    model.noise_var = training_residual_var(model, m.scores)
    return model
