"""Fit ALS with Spark MLlib (local[2]) and with routerrec's numba engine on the same records.

Uses ../shared/data/openllm-v1 when present (skips politely otherwise), keeping 300 models
so the run takes about a minute. Both fits return the same ``Model``; the Spark one is
then used exactly like any other (held-out report, fold-in of a new LLM).

    python examples/spark_fit.py
"""
from __future__ import annotations

import time

import routerrec
from routerrec.evaluation.metrics import heldout_report
from routerrec.data.shared import load_openllm, shared_data_dir
from routerrec.methods.spark import fit as spark_fit


def main() -> None:
    if shared_data_dir() is None:
        print("skipped: ../shared/data (openllm-v1) is not available")
        return
    records = load_openllm()
    records = records.filter(models=records.models[:300])
    train, test = records.split_cells(0.1, seed=0)
    t0 = time.perf_counter()
    numba_model = routerrec.fit(train, method="als", rank=16, iterations=10)
    t_numba = time.perf_counter() - t0
    t0 = time.perf_counter()
    spark_model = spark_fit(train, rank=16, iterations=10, reg=numba_model.params["reg"],
                            master="local[2]")  # includes starting the JVM
    t_spark = time.perf_counter() - t0
    for name, model, seconds in (("numba", numba_model, t_numba), ("spark", spark_model, t_spark)):
        r = heldout_report(model, train, test)["als"]
        print(f"{name:6s} fit {seconds:6.1f} s  held-out RMSE {r['rmse']:.4f}  AUC {r['auc']:.4f}")
    # fold-in works on the Spark model too: re-add one model from 40 of its cells
    name = train.models[0]
    cells = train.table.filter(train.table["model"] == name).head(40)
    grown = spark_model.add_model(f"{name} (folded in)", dict(zip(cells["prompt"], cells["score"])))
    print(f"fold-in of {name} from 40 cells: predicted mean",
          round(float(grown.predict(models=[f"{name} (folded in)"]).mean()), 3),
          "vs trained", round(float(spark_model.predict(models=[name]).mean()), 3))


if __name__ == "__main__":
    main()
