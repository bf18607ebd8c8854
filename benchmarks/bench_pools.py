"""Candidate-pool sweep on the Open LLM Leaderboard records, against issue 6's bars.

Runs ``evaluate_pools`` with m in {3, 5, 10, 100, 1000}, all three groups and 3 seeds on
../shared/data/openllm-v1, writes the report (JSON, Markdown, PNG curves) to
benchmarks/results/pools/ and the bar checks to benchmarks/results/pools.json.

    .venv/bin/python benchmarks/bench_pools.py [--select-on train|all] [--routers mf,knn,...]
        [--seeds 3 | --seeds 100,101,102 --name pools_dev]
    .venv/bin/python benchmarks/bench_pools.py --combine pools_10seeds,pools_dev --name pools_15seeds

New designs are first run on fresh seeds (``--seeds 100,...,104 --name pools_dev``), then on
the default seeds 0, 1, 2; ``--combine`` merges runs on disjoint seeds into one report.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from routerrec.util.files import atomic_write
from routerrec.cli.options import parse_seeds
from routerrec.evaluation.pools import (CROSS_VALIDATED, DEFAULT_ROUTERS, combine_reports,
                                        evaluate_pools, write_report)
from routerrec.data.shared import load_openllm, shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results"
# The CLI's default routers plus the cross-validated fallbacks (CV_FOLDS extra fits each).
BENCH_ROUTERS = DEFAULT_ROUTERS + tuple(f"{r}{CROSS_VALIDATED}" for r in ("mf", "knn", "linear"))


# ">=" bars compare floats with this tolerance (float rounding only: a tie at equal mu is
# exact); the raw numbers are written next to every verdict.
TOL = 1e-9


def router_bars(cells: pl.DataFrame, overall: pl.DataFrame, router: str, benchmarks: list) -> dict:
    """Issue 6's bars for one router, from the report's means over seeds."""
    def ov(m):
        row = overall.filter(pl.col("m") == m, pl.col("router") == router).row(0, named=True)
        return {k: row[k] for k in ("v_b", "v_b_lo", "v_b_hi", "v_b_test", "mu", "w_best")}

    per_bench = (cells.filter(pl.col("m") == 5, pl.col("router") == router)
                 .group_by("benchmark").agg(pl.col("v_b").mean(), pl.col("v_b_test").mean())
                 .sort("benchmark"))
    s2w = cells.filter(pl.col("group") == "strong_to_weak", pl.col("router") == router)
    mu = {(b, m): v for b, m, v in s2w.select("benchmark", "m", "mu").iter_rows()}
    scaling = {b: {"mu_m10": mu.get((b, 10)), "mu_m1000": mu.get((b, 1000))} for b in benchmarks}
    up = sum(v["mu_m1000"] is not None and v["mu_m10"] is not None
             and v["mu_m1000"] >= v["mu_m10"] - TOL for v in scaling.values())
    m3, m5 = ov(3), ov(5)
    v_b5 = dict(zip(per_bench["benchmark"], per_bench["v_b"]))
    return {"m3": m3, "m5": m5, "v_b_m5_per_benchmark": v_b5,
            "v_b_test_m5_per_benchmark": dict(zip(per_bench["benchmark"], per_bench["v_b_test"])),
            "strong_to_weak_mu_10_vs_1000": scaling, "strong_to_weak_up_count": up,
            "bar_v_b_m3_ge_1.03": m3["v_b"] >= 1.03 - TOL,
            "bar_v_b_m5_ge_1.02": m5["v_b"] >= 1.02 - TOL,
            "bar_v_b_m5_every_benchmark_ge_1": all(v >= 1.0 - TOL for v in v_b5.values()),
            "bar_scaling_4_of_5": up >= 4}


def bars(report: dict, learned: list) -> dict:
    """Issue 6's bars for every learned router (plain and validated), each from the report.

    ``best_*`` name the router with the highest V_B at m=3 / m=5: a maximum over several
    noisy routers, so it is biased upward; read it with the per-router numbers.
    """
    cells = pl.DataFrame(report["summary"]["cells"])
    overall = pl.DataFrame(report["summary"]["overall"])
    per = {r: router_bars(cells, overall, r, report["settings"]["benchmarks"]) for r in learned}
    out = {"selection": report["selection"], "select_on": report["settings"]["select_on"],
           "tolerance": TOL, "routers": per}
    for m in (3, 5):
        best = max(learned, key=lambda r: per[r][f"m{m}"]["v_b"])
        out[f"best_router_v_b_m{m}"] = {"router": best, **per[best][f"m{m}"]}
    out["all_bars_met_by"] = [r for r, v in per.items()
                              if all(x for k, x in v.items() if k.startswith("bar_"))]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--select-on", choices=("train", "all"), default="train")
    ap.add_argument("--routers", default=",".join(BENCH_ROUTERS))
    ap.add_argument("--seeds", default="3",
                    help="a count (3 = seeds 0, 1, 2) or comma-separated seeds")
    ap.add_argument("--name", default=None,
                    help="result name (default pools / pools_routereval_selection)")
    ap.add_argument("--combine", default=None,
                    help="comma-separated result names to merge (runs that differ only in "
                         "seeds) instead of running a sweep; written under --name")
    args = ap.parse_args(argv)
    name = args.name or ("pools" if args.select_on == "train" else "pools_routereval_selection")
    command = {"command": "python benchmarks/bench_pools.py " + " ".join(sys.argv[1:])}
    if args.combine:
        report = combine_reports([json.loads((RESULTS / n / "report.json").read_text())
                                  for n in args.combine.split(",")])
        result = {**command, "combined": args.combine.split(","), "timing": report["timing"],
                  **bars(report, report["settings"]["routers"]),
                  "files": write_report(report, RESULTS / name)}
        return _write(name, result)
    if shared_data_dir("openllm-v1") is None:
        print("skipped: ../shared/data/openllm-v1 not available")
        return 0
    routers = [r for r in args.routers.split(",") if r]
    t0 = time.perf_counter()
    records = load_openllm()
    load_s = time.perf_counter() - t0
    report = evaluate_pools(records, pools=(3, 5, 10, 100, 1000), routers=routers,
                            seeds=parse_seeds(args.seeds), select_on=args.select_on, progress=True)
    wall = time.perf_counter() - t0
    files = write_report(report, RESULTS / name)
    result = {**command, "wall_seconds_including_load": wall, "load_seconds": load_s,
              "timing": report["timing"], "bar_under_30_minutes": wall < 1800,
              **bars(report, routers), "files": files}
    return _write(name, result)


def _write(name: str, result: dict) -> int:
    atomic_write(RESULTS / f"{name}.json",
                 lambda p: p.write_text(json.dumps(result, indent=1, default=_num)))
    print(json.dumps(result, indent=1, default=_num))
    return 0


def _num(x):
    if isinstance(x, (np.generic,)):
        return x.item()
    if isinstance(x, Path):  # write_report's file paths
        return str(x)
    raise TypeError(type(x).__name__)


if __name__ == "__main__":
    sys.exit(main())
