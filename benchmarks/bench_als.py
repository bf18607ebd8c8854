"""ALS sweep speed: routerrec's numba ALS-WR kernel against the float32 GEMM peak and implicit.

Run from the repository root::

    python benchmarks/bench_als.py            # 30,000 x 2,000, 30% observed, rank 32, 10 iterations
    python benchmarks/bench_als.py --quick    # a small matrix, a smoke check (writes no file)

Protocol (see benchmarks/README.md): one process, rounds interleaved so that every contender
sees the same machine load; each round times the float32 GEMM peak (numpy 4096^2 matmul on
all BLAS threads), routerrec's ``als_sweeps`` (per-sweep times from its callback, the first
sweep dropped because its interval includes the CSR transpose), the straightforward prototype
kernel this repository started with (embedded below, for the same-run ratio), and implicit's
CPU ALS (per-iteration times from its callback; CG solver by default, and the Cholesky
solver). Medians over all rounds after one warm-up (numba compile / cache load).

FLOP count ("useful work", the same for every contender and independent of how the work is
done), per half-sweep over a side with ``rows`` rows, ``nnz`` observed cells, ``k1 = rank+1``:

- half Gram (the headline): ``nnz * k1 * (k1 + 1)`` (the lower triangle with its diagonal,
  one multiply-add = 2 flops) ``+ rows * k1**3 / 3`` (Cholesky);
- full Gram: ``2 * nnz * k1**2 + rows * k1**3 / 3`` (what a plain GEMM Gram performs).

A sweep is both half-sweeps. The right-hand side, the gather and the triangular solves are
not counted. GFLOP/s of the GEMM peak counts ``2 * n**3``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from routerrec.kernels.als import als_sweeps  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "als.json"


# ---------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------

def synthetic_scores(n_rows, n_cols, density, rank=8, noise=0.1, seed=0, chunk=1000):
    """prompts x models CSR (float32) with exactly round(density * n_cols) cells per row.

    Cells are a planted rank-``rank`` matrix plus noise, clipped to [0, 1] (graded scores).
    Built row-chunk by row-chunk: never a dense n_rows x n_cols array.
    """
    rng = np.random.default_rng(seed)
    per_row = int(round(density * n_cols))
    P = rng.normal(0, 0.5 / np.sqrt(rank), (n_rows, rank)).astype(np.float32)
    Q = rng.normal(0, 0.5 / np.sqrt(rank), (n_cols, rank)).astype(np.float32)
    indices = np.empty(n_rows * per_row, np.int32)
    data = np.empty(n_rows * per_row, np.float32)
    for s in range(0, n_rows, chunk):
        e = min(n_rows, s + chunk)
        cols = np.argpartition(rng.random((e - s, n_cols), dtype=np.float32), per_row, axis=1)
        cols = np.sort(cols[:, :per_row], axis=1)
        vals = np.take_along_axis(P[s:e] @ Q.T, cols, axis=1) + 0.5
        vals += rng.normal(0, noise, vals.shape).astype(np.float32)
        indices[s * per_row:e * per_row] = cols.ravel()
        data[s * per_row:e * per_row] = np.clip(vals, 0.0, 1.0).ravel()
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))


def flops_per_sweep(shape, nnz, rank):
    k1 = rank + 1
    rows = shape[0] + shape[1]
    chol = rows * k1 ** 3 / 3
    return {"half_gram": 2 * nnz * k1 * (k1 + 1) + chol, "full_gram": 2 * 2 * nnz * k1 ** 2 + chol}


# ---------------------------------------------------------------------------------------------
# The prototype kernel this repository started with (gather + BLAS Gram for every row longer
# than 64, full Gram, scalar Cholesky), kept here verbatim in substance for the same-run ratio.
# ---------------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _proto_cholesky_solve(a, b):
    n = a.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(n):
        s = b[i]
        for k in range(i):
            s -= a[i, k] * b[k]
        b[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for k in range(i + 1, n):
            s -= a[k, i] * b[k]
        b[i] = s / a[i, i]


@njit(cache=True, parallel=True)
def _proto_solve_side(indptr, indices, data, fixed, fixed_bias, mu, reg, out, n_chunks):
    n_rows = indptr.shape[0] - 1
    k1 = fixed.shape[1]
    max_len = 0
    for u in range(n_rows):
        max_len = max(max_len, indptr[u + 1] - indptr[u])
    for c in prange(n_chunks):
        gather = np.empty((max(max_len, 1), k1), dtype=np.float32)
        a = np.empty((k1, k1), dtype=np.float32)
        b = np.empty(k1, dtype=np.float32)
        for u in range(c, n_rows, n_chunks):
            start, stop = indptr[u], indptr[u + 1]
            n = stop - start
            if n == 0:
                out[u, :] = 0.0
                continue
            b[:] = 0.0
            if n <= 64:
                a[:, :] = 0.0
                for jj in range(start, stop):
                    y = fixed[indices[jj]]
                    t = data[jj] - mu - fixed_bias[indices[jj]]
                    for r in range(k1):
                        yr = y[r]
                        b[r] += yr * t
                        for s in range(r + 1):
                            a[r, s] += yr * y[s]
            else:
                g = gather[:n]
                for jj in range(n):
                    i = indices[start + jj]
                    g[jj, :] = fixed[i]
                    t = data[start + jj] - mu - fixed_bias[i]
                    for r in range(k1):
                        b[r] += g[jj, r] * t
                a[:, :] = np.dot(g.T, g)
            lam = reg * n
            for r in range(k1):
                a[r, r] += lam
            _proto_cholesky_solve(a, b)
            out[u, :] = b


def _proto_side(csr, fixed_aug, mu, reg):
    rank = fixed_aug.shape[1] - 1
    aug = np.empty_like(fixed_aug)
    aug[:, :rank] = fixed_aug[:, :rank]
    aug[:, rank] = 1.0
    out = np.empty((csr.shape[0], rank + 1), np.float32)
    with threadpool_limits(1, user_api="blas"):
        _proto_solve_side(csr.indptr.astype(np.int64), csr.indices, csr.data, aug,
                          np.ascontiguousarray(fixed_aug[:, rank]), np.float32(mu),
                          np.float32(reg), out, max(1, 8 * numba.get_num_threads()))
    return out


def proto_sweeps(csr, rank, reg, iterations, seed, callback):
    csc_t = csr.T.tocsr()
    mu = np.float32(csr.data.mean())
    rng = np.random.default_rng(seed)
    model_aug = np.zeros((csr.shape[1], rank + 1), dtype=np.float32)
    model_aug[:, :rank] = rng.normal(0.0, 0.1, size=(csr.shape[1], rank)).astype(np.float32)
    for it in range(iterations):
        prompt_aug = _proto_side(csr, model_aug, mu, reg)
        model_aug = _proto_side(csc_t, prompt_aug, mu, reg)
        callback(it, prompt_aug, model_aug)
    return mu, prompt_aug, model_aug


# ---------------------------------------------------------------------------------------------
# Timers
# ---------------------------------------------------------------------------------------------

def time_gemm(n, repeats=3):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return times


def time_sweeps(fit, csr, rank, reg, iterations):
    """Per-sweep seconds from the callback; the first interval (CSR transpose, set-up) dropped."""
    stamps = []
    t0 = time.perf_counter()
    fit(csr, rank, reg, iterations, 0, callback=lambda *_: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    return list(np.diff(stamps)), total


def time_implicit(csr, rank, iterations, use_cg):
    from implicit.cpu.als import AlternatingLeastSquares

    per_iter = []
    # BLAS on one thread: implicit's own advice (its constructor checks and warns otherwise)
    with threadpool_limits(1, user_api="blas"):
        # the CPU class directly (the factory's use_gpu=False picks it; it takes no use_gpu)
        model = AlternatingLeastSquares(factors=rank, iterations=iterations, use_cg=use_cg,
                                        calculate_training_loss=False, random_state=0)
        t0 = time.perf_counter()
        model.fit(csr, show_progress=False,
                  callback=lambda it, elapsed, loss: per_iter.append(elapsed))
    return per_iter, time.perf_counter() - t0


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small matrix, smoke check, no file")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3, quick 2)")
    ap.add_argument("--no-implicit", action="store_true", help="skip implicit")
    ap.add_argument("--no-cholesky", action="store_true",
                    help="skip implicit's Cholesky solver (use_cg=False)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON output (default benchmarks/results/als.json; none with --quick)")
    args = ap.parse_args(argv)

    if args.quick:
        shape, density, iterations, gemm_n = (3000, 400), 0.3, 5, 2048
    else:
        shape, density, iterations, gemm_n = (30000, 2000), 0.3, 10, 4096
    rank, reg = 32, 0.05
    rounds = args.rounds or (2 if args.quick else 3)
    out_path = args.out if args.out is not None else (None if args.quick else RESULTS)

    t = time.perf_counter()
    csr = synthetic_scores(*shape, density)
    print(f"matrix {shape[0]} x {shape[1]}, nnz {csr.nnz:,} ({csr.nnz / np.prod(shape):.0%}), "
          f"built in {time.perf_counter() - t:.1f} s; rank {rank}, {iterations} iterations, "
          f"{rounds} rounds, numba threads {numba.get_num_threads()}", flush=True)

    contenders = {
        "routerrec": lambda: time_sweeps(als_sweeps, csr, rank, reg, iterations),
        "prototype": lambda: time_sweeps(proto_sweeps, csr, rank, reg, iterations),
    }
    if not args.no_implicit:
        contenders["implicit_cg"] = lambda: time_implicit(csr, rank, iterations, True)
        if not args.no_cholesky:
            contenders["implicit_cholesky"] = lambda: time_implicit(csr, rank, iterations, False)

    # warm-up: compile or load the numba caches, touch implicit's code paths
    small = synthetic_scores(300, 50, 0.3, seed=1)
    als_sweeps(small, rank, reg, 2, 0)
    proto_sweeps(small, rank, reg, 2, 0, lambda *_: None)
    time_gemm(512, 1)

    samples = {name: [] for name in ["gemm", *contenders]}
    totals = {name: [] for name in contenders}
    load = []  # 1-minute load average after each round: the machine may be shared
    for r in range(rounds):
        samples["gemm"] += time_gemm(gemm_n)
        for name, run in contenders.items():
            per, total = run()
            samples[name] += per
            totals[name].append(total)
        load.append(os.getloadavg()[0])
        print(f"round {r + 1}/{rounds} (load {load[-1]:.1f}): " + ", ".join(
            f"{n} {np.median(v[-iterations:]):.3f}s" for n, v in samples.items()), flush=True)

    flops = flops_per_sweep(shape, csr.nnz, rank)
    gemm_s = float(np.median(samples["gemm"]))
    peak = 2 * gemm_n ** 3 / gemm_s / 1e9
    res = {}
    for name in contenders:
        s = float(np.median(samples[name]))
        entry = {"median_s_per_sweep": s, "n_sweeps_timed": len(samples[name]),
                 "min_s_per_sweep": float(np.min(samples[name])),
                 "median_s_total_fit": float(np.median(totals[name]))}
        for count, f in flops.items():
            entry[f"gflops_{count}"] = f / s / 1e9
            entry[f"share_of_gemm_peak_{count}"] = f / s / 1e9 / peak
        res[name] = entry
    for name in contenders:
        if name != "routerrec":
            res[name]["speed_ratio_vs_routerrec"] = (res[name]["median_s_per_sweep"]
                                                     / res["routerrec"]["median_s_per_sweep"])

    print()
    print(f"float32 GEMM {gemm_n}^2 ({threadpool_info()[0]['num_threads']} BLAS threads): "
          f"{peak:.0f} GFLOP/s (median {gemm_s:.3f} s)")
    print(f"useful GFLOP per sweep: half Gram {flops['half_gram'] / 1e9:.1f} (headline), "
          f"full Gram {flops['full_gram'] / 1e9:.1f}")
    print(f"{'':20}{'s/sweep':>9}{'GFLOP/s':>9}{'% peak':>8}{'GFLOP/s':>9}{'% peak':>8}{'x slower':>10}")
    print(f"{'':20}{'median':>9}{'(half Gram)':>17}{'(full Gram)':>17}{'than ours':>10}")
    for name, e in res.items():
        print(f"{name:20}{e['median_s_per_sweep']:9.3f}{e['gflops_half_gram']:9.1f}"
              f"{100 * e['share_of_gemm_peak_half_gram']:7.1f}%{e['gflops_full_gram']:9.1f}"
              f"{100 * e['share_of_gemm_peak_full_gram']:7.1f}%"
              f"{e.get('speed_ratio_vs_routerrec', 1.0):10.2f}")
    print("implicit is Hu-Koren-Volinsky implicit-feedback ALS (every missing cell is a zero): "
          "the ratio compares speed only, not the same objective.")

    result = {
        "benchmark": "als_sweep_speed",
        "quick": args.quick,
        "matrix": {"shape": list(shape), "nnz": int(csr.nnz), "density": density,
                   "generator": "benchmarks/bench_als.py:synthetic_scores seed 0"},
        "rank": rank, "reg": reg, "iterations": iterations, "rounds": rounds,
        "flop_count": {
            "half_gram": "per side nnz*k1*(k1+1) + rows*k1^3/3, k1=rank+1; both sides per sweep",
            "full_gram": "per side 2*nnz*k1^2 + rows*k1^3/3; both sides per sweep",
            "gflop_per_sweep": {k: v / 1e9 for k, v in flops.items()},
            "headline": "half_gram"},
        "gemm_peak": {"n": gemm_n, "median_s": gemm_s, "gflops": peak,
                      "blas_threads": threadpool_info()[0]["num_threads"]},
        "results": res,
        "implicit_solver_notes": {"implicit_cg": "use_cg=True (implicit's default: 3 CG steps)",
                                  "implicit_cholesky": "use_cg=False (Cholesky per row)"},
        "environment": {"cpu": cpu_model(), "cores": os.cpu_count(),
                        "load_average_per_round": load,
                        "numba_threads": numba.get_num_threads(),
                        "python": platform.python_version(),
                        **{p: version(p) for p in ["numpy", "scipy", "numba", "implicit",
                                                   "threadpoolctl"]},
                        "blas": [f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
                                 for i in threadpool_info()]},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if out_path is not None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out_path}")
    return result


if __name__ == "__main__":
    main()
