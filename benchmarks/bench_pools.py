"""Candidate-pool sweep on the Open LLM Leaderboard records, against issue 6's bars.

Runs ``evaluate_pools`` with m in {3, 5, 10, 100, 1000}, all three groups and 3 seeds on
../shared/data/openllm-v1, writes the report (JSON, Markdown, PNG curves) to
benchmarks/results/pools/ and the bar checks to benchmarks/results/pools.json.

    .venv/bin/python benchmarks/bench_pools.py [--select-on train|all] [--routers mf-text]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from routerrec.files import atomic_write
from routerrec.pools import evaluate_pools, write_report
from routerrec.records import load_openllm, shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results"


def bars(report: dict, learned: list) -> dict:
    """Issue 6's bars, each computed from the report's per-seed means."""
    cells = pl.DataFrame(report["summary"]["cells"])
    overall = pl.DataFrame(report["summary"]["overall"])
    out = {"selection": report["selection"], "select_on": report["settings"]["select_on"]}
    best = {}
    for m in (3, 5):
        rows = overall.filter(pl.col("m") == m, pl.col("router").is_in(learned)).sort("v_b", descending=True)
        top = rows.row(0, named=True)
        best[m] = top["router"]
        out[f"best_router_v_b_m{m}"] = {k: top[k] for k in ("router", "v_b", "v_b_lo", "v_b_hi",
                                                             "v_b_test", "mu")}
    out["bar_v_b_m3_ge_1.03"] = out["best_router_v_b_m3"]["v_b"] >= 1.03
    out["bar_v_b_m5_ge_1.02"] = out["best_router_v_b_m5"]["v_b"] >= 1.02
    per_bench = (cells.filter(pl.col("m") == 5, pl.col("router") == best[5])
                 .group_by("benchmark").agg(pl.col("v_b").mean(), pl.col("v_b_test").mean())
                 .sort("benchmark"))
    out["v_b_m5_per_benchmark"] = dict(zip(per_bench["benchmark"], per_bench["v_b"]))
    out["v_b_test_m5_per_benchmark"] = dict(zip(per_bench["benchmark"], per_bench["v_b_test"]))
    out["bar_v_b_m5_every_benchmark_ge_1"] = bool((per_bench["v_b"] >= 1.0).all())
    scaling = {}
    for router in learned:
        s2w = cells.filter(pl.col("group") == "strong_to_weak", pl.col("router") == router)
        mu = {(b, m): v for b, m, v in s2w.select("benchmark", "m", "mu").iter_rows()}
        scaling[router] = {b: {"mu_m10": mu.get((b, 10)), "mu_m1000": mu.get((b, 1000))}
                           for b in report["settings"]["benchmarks"]}
    out["strong_to_weak_mu_10_vs_1000"] = scaling
    out["bar_scaling_4_of_5"] = {
        r: sum(v["mu_m1000"] is not None and v["mu_m10"] is not None
               and v["mu_m1000"] >= v["mu_m10"] for v in s.values()) >= 4
        for r, s in scaling.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--select-on", choices=("train", "all"), default="train")
    ap.add_argument("--routers", default="mf-text")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args(argv)
    root = shared_data_dir()
    if root is None or not (root / "openllm-v1").is_dir():
        print("skipped: ../shared/data/openllm-v1 not available")
        return 0
    routers = [r for r in args.routers.split(",") if r]
    t0 = time.perf_counter()
    records = load_openllm(root / "openllm-v1")
    load_s = time.perf_counter() - t0
    report = evaluate_pools(records, pools=(3, 5, 10, 100, 1000), routers=routers,
                            seeds=args.seeds, select_on=args.select_on, progress=True)
    wall = time.perf_counter() - t0
    suffix = "" if args.select_on == "train" else "_routereval_selection"
    files = write_report(report, RESULTS / f"pools{suffix}")
    result = {"command": "python benchmarks/bench_pools.py " + " ".join(sys.argv[1:]),
              "wall_seconds_including_load": wall, "load_seconds": load_s,
              "timing": report["timing"], "bar_under_30_minutes": wall < 1800,
              **bars(report, routers), "files": files}
    atomic_write(RESULTS / f"pools{suffix}.json",
                 lambda p: p.write_text(json.dumps(result, indent=1, default=_num)))
    print(json.dumps(result, indent=1, default=_num))
    return 0


def _num(x):
    if isinstance(x, (np.generic,)):
        return x.item()
    raise TypeError(type(x).__name__)


if __name__ == "__main__":
    sys.exit(main())
