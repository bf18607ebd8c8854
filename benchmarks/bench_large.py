"""200 million records on one machine: stream Parquet into the CSR, fit ALS, record peak memory.

Generates 50,000 prompts x 8,000 models at 50% observed (200M records, 0/1 scores drawn from
a planted rank-8 logistic model) as Parquet files in a temporary directory OUTSIDE the repo,
then, in a fresh process (so generation does not count), times
``routerrec.data.bigmatrix.scan_records`` and ALS (rank 32, 5 iterations), and records peak RSS.

    python benchmarks/bench_large.py                       # the full run (~15 min here)
    python benchmarks/bench_large.py --prompts 5000 --models 800   # a 2M-record dry run
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

RESULTS = Path(__file__).parent / "results"


def generate(out: Path, n_prompts: int, n_models: int, density: float, chunk: int = 1000,
             seed: int = 0) -> int:
    """Write ``ceil(n_prompts / chunk)`` Parquet files of (prompt, model, score)."""
    rng = np.random.default_rng(seed)
    q = rng.normal(0, 0.6, (n_models, 8)).astype(np.float32)
    bm = rng.normal(0, 1.0, n_models).astype(np.float32)
    total = 0
    for start in range(0, n_prompts, chunk):
        rows = min(chunk, n_prompts - start)
        p = rng.normal(0, 0.6, (rows, 8)).astype(np.float32)
        logit = p @ q.T + bm + rng.normal(0, 1.0, (rows, 1)).astype(np.float32)
        score = (rng.random(logit.shape, dtype=np.float32) < 1 / (1 + np.exp(-logit))).astype(np.int8)
        r, c = np.nonzero(rng.random(logit.shape, dtype=np.float32) < density)
        frame = pl.DataFrame({"p": (r + start).astype(np.int32), "m": c.astype(np.int32),
                              "score": score[r, c]})
        frame.select(pl.format("p{}", pl.col("p").cast(pl.String).str.zfill(6)).alias("prompt"),
                     pl.format("m{}", pl.col("m").cast(pl.String).str.zfill(5)).alias("model"),
                     "score").write_parquet(out / f"part-{start // chunk:05d}.parquet")
        total += len(r)
    return total


def measure(data_dir: str, rank: int, iterations: int) -> dict:
    """Run in a fresh process: load + fit, with timings and peak RSS."""
    import numba

    import routerrec
    from routerrec.data.bigmatrix import scan_records

    t0 = time.perf_counter()
    records = scan_records(data_dir, progress=True)
    load = time.perf_counter() - t0
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t1 = time.perf_counter()
    model = routerrec.fit(records, method="als", rank=rank, iterations=iterations, progress=True)
    fit = time.perf_counter() - t1
    return {"records": records.n_records, "prompts": records.n_prompts,
            "models": records.n_models, "rank": rank, "iterations": iterations,
            "load_seconds": round(load, 1), "fit_seconds": round(fit, 1),
            "peak_rss_gb_after_load": round(rss_load, 2),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "train_rmse": round(model.noise_var ** 0.5, 4), "threads": numba.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=50_000)
    ap.add_argument("--models", type=int, default=8_000)
    ap.add_argument("--density", type=float, default=0.5)
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the fresh process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rank, args.iterations)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="routerrec-large-"))  # /tmp: never inside the repo
    try:
        t0 = time.perf_counter()
        n = generate(tmp, args.prompts, args.models, args.density)
        gen = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in tmp.iterdir())
        print(f"generated {n:,} records ({size / 2**30:.2f} GiB Parquet) in {gen:.0f} s", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--measure", str(tmp), "--rank",
                               str(args.rank), "--iterations", str(args.iterations)],
                              stdout=subprocess.PIPE, text=True, check=True)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(generate_seconds=round(gen, 1), parquet_gib=round(size / 2**30, 2),
                  bytes_per_record_peak=round(result["peak_rss_gb"] * 2**30 / n, 1),
                  machine=f"{platform.machine()}, 2 cores shared, 24 GiB")
    name = "large.json" if n >= 100_000_000 else "large_small.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
