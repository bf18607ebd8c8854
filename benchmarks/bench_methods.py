"""Every routerrec method and the peers, in one process, on one split of Open LLM Leaderboard v1.

openllm-v1 (1,075 prompts x 5,036 models, 4.05M 0/1 records), ``split_cells(0.1, seed=0)``.
Rows: every method in ``routerrec.METHODS`` that reads explicit scores (with the three mean
baselines), and the peers implicit ALS (fed the score matrix, as its users do), scikit-surprise
SVD and Spark MLlib ALS local[2] (through routerrec's Spark engine). LightFM is the ``lightfm``
method. Columns: fit seconds (median of --repeats runs; a run over 60 s is not repeated),
peak extra RSS during the fit (this process plus its children, e.g. Spark's JVM, sampled
every 20 ms), held-out RMSE / AUC / accuracy / log-loss.

    python benchmarks/bench_methods.py               # writes results/methods.json
    python benchmarks/bench_methods.py --only als,implicit-als
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np

import routerrec
from routerrec.evaluation.metrics import cell_metrics
from routerrec.data.shared import load_openllm, shared_data_dir

RESULTS = Path(__file__).parent / "results"
RANK, ITERATIONS = 32, 15  # ALS-family methods and peers at equal rank and iterations


class PeakRSS:
    """Peak resident memory of this process and its descendants while the block runs."""

    def __enter__(self):
        self.base, self.peak, self._stop = _tree_rss(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _tree_rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss())

    @property
    def extra_mb(self) -> float:
        return max(0.0, (self.peak - self.base) / 2**20)


def _tree_rss(pid: int | None = None) -> int:
    pid = pid or os.getpid()
    try:
        with open(f"/proc/{pid}/status") as fh:
            rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS"))
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, StopIteration):
        return 0
    return rss + sum(_tree_rss(int(c)) for c in children)


def _score(predict, train, test) -> dict:
    m, tm = test.matrix(), train.matrix()
    coo = m.scores.tocoo()
    pi = np.array([tm.prompt_index[p] for p in m.prompts])[coo.row]
    mi = np.array([tm.model_index[x] for x in m.models])[coo.col]
    return cell_metrics(coo.data, np.clip(predict(pi, mi), 0, 1), binary=True)


def _model_runner(method, **params):
    def run(train):
        model = routerrec.fit(train, method=method, **params)
        return model.predict_pairs
    return run


def _implicit_als(train):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=RANK, iterations=ITERATIONS, random_state=0)
        als.fit(train.matrix().scores, show_progress=False)
    u, v = als.user_factors, als.item_factors
    return lambda pi, mi: np.einsum("ij,ij->i", u[pi], v[mi])


def _surprise_svd(train):
    from surprise import SVD, Dataset, Reader

    frame = train.table.select("prompt", "model", "score").to_pandas()
    data = Dataset.load_from_df(frame, Reader(rating_scale=(0, 1)))
    algo = SVD(n_factors=RANK, n_epochs=20, random_state=0).fit(data.build_full_trainset())
    ts = algo.trainset
    m = train.matrix()
    inner_p = np.array([ts.to_inner_uid(p) for p in m.prompts])
    inner_m = np.array([ts.to_inner_iid(x) for x in m.models])
    pu, qi, bu, bi = algo.pu, algo.qi, algo.bu, algo.bi
    mu = ts.global_mean

    def predict(pi, mi):
        u, i = inner_p[pi], inner_m[mi]
        return mu + bu[u] + bi[i] + np.einsum("ij,ij->i", pu[u], qi[i])
    return predict


def _spark_als(train):
    from routerrec.methods.spark import fit as spark_fit

    return spark_fit(train, rank=RANK, reg=0.01, iterations=ITERATIONS, spark=_spark_als.session).predict_pairs


def runners() -> dict:
    rows = {}
    for name in sorted(routerrec.METHODS):
        if name == "implicit":  # reads implicit feedback only; fed scores it is the peer below
            continue
        if name == "mean":
            for kind in ("global", "model", "prompt"):
                rows[f"mean ({kind})"] = _model_runner("mean", kind=kind)
        elif name in ("als", "lightfm"):
            rows[name] = _model_runner(name, rank=RANK, iterations=ITERATIONS)
        else:
            rows[name] = _model_runner(name)
    rows["peer: implicit ALS"] = _implicit_als
    rows["peer: surprise SVD"] = _surprise_svd
    rows["peer: Spark ALS local[2]"] = _spark_als
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated row names to run")
    args = ap.parse_args()
    if shared_data_dir() is None:
        raise SystemExit("needs ../shared/data/openllm-v1")
    train, test = load_openllm().split_cells(0.1, seed=0)
    all_rows = runners()
    names = [n for n in all_rows if args.only is None or n in args.only.split(",")]
    if any("Spark" in n for n in names):
        from routerrec.methods.spark import spark_session

        _spark_als.session = spark_session("local[2]")  # JVM start is not fit time
    routerrec.fit(train, method="als", rank=4, iterations=1)  # compile numba kernels outside timing
    table = []
    for name in names:
        seconds, peak = [], 0.0
        for _ in range(args.repeats):
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                predict = all_rows[name](train)
                seconds.append(time.perf_counter() - t0)
            peak = max(peak, mem.extra_mb)
            if seconds[-1] > 60:
                break
        row = {"name": name, "fit_seconds": round(statistics.median(seconds), 2),
               "runs": len(seconds), "peak_extra_mb": round(peak),
               **{k: round(v, 4) for k, v in _score(predict, train, test).items() if k != "n"}}
        print(json.dumps(row), flush=True)
        table.append(row)
    als = next((r for r in table if r["name"] == "als"), None)
    for r in table:
        if als:
            r["seconds_vs_als"] = round(r["fit_seconds"] / als["fit_seconds"], 1)
    out = {"data": "openllm-v1, split_cells(0.1, seed=0)", "rank": RANK, "iterations": ITERATIONS,
           "train_records": train.n_records, "test_records": test.n_records, "rows": table}
    name = "methods.json" if args.only is None else "methods_partial.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
