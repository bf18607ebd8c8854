"""Summaries of a pool sweep: mean and 95% interval over seeds of every metric, and the
merge of sweeps that differ only in their seeds."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import polars as pl

from .metrics import REFERENCE_ROUTERS
from .validation import split_name

__all__ = ["METRICS", "summarise", "combine_reports"]

METRICS = ("mu", "v_b", "v_b_test", "v_r", "e_p", "w_best")


def _interval(values: np.ndarray) -> tuple:
    """Mean and 95% t-interval over independent seeds (nan half-width for one seed)."""
    from scipy import stats

    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def summarise(rows: list) -> dict:
    """Mean and 95% interval over seeds of every metric.

    ``cells``: per (benchmark, group, m, router), draws averaged within a seed first.
    ``overall``: per (m, router), averaged over benchmarks and groups within a seed, so the
    interval is again over seeds.
    """
    if not rows:
        return {"cells": [], "overall": []}
    frame = pl.DataFrame(rows)
    # groups kept in the rows' order, so every mean adds the same numbers in the same order
    # on every run (polars' default order varies with its threads)
    per_seed = frame.group_by("benchmark", "group", "m", "router", "seed", maintain_order=True).agg(
        [pl.col(k).mean() for k in METRICS])
    overall_seed = per_seed.group_by("m", "router", "seed", maintain_order=True).agg(
        [pl.col(k).mean() for k in METRICS])
    return {"cells": _with_intervals(per_seed, ["benchmark", "group", "m", "router"]),
            "overall": _with_intervals(overall_seed, ["m", "router"])}


def combine_reports(reports: Sequence[dict]) -> dict:
    """One report from sweeps that differ only in their seeds (e.g. seeds run in parallel).

    Every setting but the seeds and the router list must match and no seed may repeat; the
    combined report keeps the routers every sweep has and recomputes the summaries over
    the union of the seeds (seeds are independent, so this equals one sweep over them all).
    """
    if not reports:
        raise ValueError("nothing to combine")
    first = reports[0]["settings"]
    routers = [r for r in first["routers"] if all(r in rep["settings"]["routers"] for rep in reports)]
    bases = {split_name(r)[0] for r in routers}
    for rep in reports[1:]:
        s = rep["settings"]
        differ = [k for k in first if k not in ("seeds", "routers", "router_params")
                  and s.get(k) != first[k]]
        differ += [f"router_params[{b}]" for b in sorted(bases)
                   if s["router_params"].get(b) != first["router_params"].get(b)]
        if differ:
            raise ValueError(f"the sweeps differ in {differ}; only seeds and routers may differ")
    seeds = [seed for rep in reports for seed in rep["settings"]["seeds"]]
    repeated = sorted({x for x in seeds if seeds.count(x) > 1})
    if repeated:
        raise ValueError(f"seeds {repeated} are in more than one sweep")
    keep = set(routers) | set(REFERENCE_ROUTERS)
    rows = [row for rep in reports for row in rep["rows"] if row["router"] in keep]
    settings = {**first, "seeds": seeds, "routers": routers,
                "router_params": {b: first["router_params"][b] for b in first["router_params"]
                                  if b in bases}}
    timing = {k: sum(rep["timing"].get(k, 0.0) for rep in reports) for k in reports[0]["timing"]}
    return {"settings": settings, "selection": reports[0]["selection"], "rows": rows,
            "summary": summarise(rows), "skipped": [x for rep in reports for x in rep["skipped"]],
            "timing": timing}


def _with_intervals(per_seed: pl.DataFrame, keys: list) -> list:
    out = []
    for key, part in per_seed.sort(keys).group_by(keys, maintain_order=True):
        row = dict(zip(keys, key))
        row["seeds"] = part.height
        for k in METRICS:
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = _interval(part.get_column(k).to_numpy())
        out.append(row)
    return out

