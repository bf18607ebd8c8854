"""``routerrec tune``: search a method's hyper-parameters and write the best to JSON.

``routerrec fit --params best.json`` (any command with the method options) reads it back.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (SEED, Real, check_out_parent, emit, fail, format_table, load_cli_records,
                      method_params, parse_value, records_options, reported_as)
from ..util.files import atomic_write, strict_json

__all__ = ["tune_command"]


def _parse_grid(items) -> dict:
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            fail(f"--grid expects KEY=V1,V2,..., got {item!r}")
        grid[key] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid


@click.command("tune")
@records_options
@click.option("--method", required=True, help="Completion method to tune (see `routerrec fit --help`).")
@click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
              help="Values to try for one parameter; repeat per parameter. "
                   "Default: the method's grid in routerrec.evaluation.tune.GRIDS.")
@click.option("--param", "fixed_items", multiple=True, metavar="KEY=VALUE",
              help="A parameter fixed for every trial, e.g. --param iterations=10.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Random search: try this many grid points (seeded) instead of all.")
@click.option("--validation", type=Real(0.01, 0.9), default=0.1, show_default=True,
              help="Share of observed cells held out for validation.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Split / sampling seed.")
@click.option("--holdout", type=Real(0, 0.9), default=0.1, show_default=True,
              help="Set aside the test cells of `fit --holdout F --holdout-seed S` (the same "
                   "split) before choosing, so that fit's score is on cells tuning never saw; "
                   "0: tune on every cell.")
@click.option("--holdout-seed", type=SEED, default=0, show_default=True,
              help="The --holdout-seed the fit will use.")
@click.option("--metric", type=click.Choice(["rmse", "mae", "auc", "accuracy", "log_loss"]),
              default="rmse", show_default=True, help="What 'best' means.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="JSON file for the best settings and every trial.")
@click.option("--table", "table_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every trial as a CSV table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tune_command(**kw):
    """Search rank / regularisation (and method-specific settings) on held-out cells.

    Writes the best settings (and every trial) to --out; `routerrec fit --params FILE`
    fits with them.

    \b
    Example:
      routerrec tune --method als --grid rank=8,16 --grid reg=0.01,0.1 --out best.json
      routerrec fit --params best.json --holdout 0.1 --out out/als
      routerrec tune --method logistic --data ../shared/data/openllm-v1/records.parquet \\
          --prompt-col item --score-col correct --metric log_loss --trials 6 --out best.json
    """
    from ..methods import METHODS
    from ..evaluation.tune import tune

    if kw["method"] not in METHODS:
        fail(f"--method {kw['method']}: unknown; choose one of {', '.join(sorted(METHODS))}")
    check_out_parent(kw["out"])
    if kw["table_path"]:
        check_out_parent(kw["table_path"], "--table")
    grid = _parse_grid(kw["grid_items"]) or None
    fixed = method_params({"extra": kw["fixed_items"]})  # --param KEY=VALUE, as for fit
    records = load_cli_records(kw)
    with reported_as(f"tune --method {kw['method']}"):
        result = tune(records, method=kw["method"], grid=grid, fixed=fixed, trials=kw["trials"],
                      validation=kw["validation"], seed=kw["seed"], metric=kw["metric"],
                      holdout=kw["holdout"] or None, holdout_seed=kw["holdout_seed"],
                      progress=not (kw["quiet"] or kw["as_json"]))
    cells = _tuning_cells(result, records.n_records)
    out = Path(kw["out"])
    text = json.dumps(strict_json(result), indent=1, allow_nan=False)  # NaN as null
    atomic_write(out, lambda p: p.write_text(text))
    metric = kw["metric"]
    rows = [{**t["params"], metric: t["metrics"][metric] if "metrics" in t else t["error"],
             "fit_s": t.get("fit_seconds", float("nan"))} for t in result["trials"]]
    columns = sorted(result["trials"][0]["params"]) + [metric, "fit_s"]
    if kw["table_path"]:
        import polars as pl

        # the metric column holds error texts for failed trials: infer types from all rows
        table = pl.DataFrame(rows, infer_schema_length=None)
        atomic_write(Path(kw["table_path"]), lambda p: table.write_csv(p))
    best = result["best"]
    text = (format_table(rows, columns) + f"\nbest {metric} {best['score']:.4f} with "
            + ", ".join(f"{k}={v}" for k, v in best["params"].items()) + f"\n{cells['note']}"
            + f"\nwrote {out}")
    emit({**result, "tuning_cells": cells, "out": str(out)}, kw["as_json"], text)


def _tuning_cells(result: dict, total: int) -> dict:
    """Which cells tuning chose on, and the fit holdout they are disjoint from (if any)."""
    excluded, share, seed = result["excluded_holdout"], result["validation"], result["seed"]
    if excluded is None:
        return {"cells": total, "disjoint_from": None,
                "note": f"chose on a {share:g} validation split (seed {seed}) of all {total} cells: "
                        "a later `fit --holdout` may score on cells tuning used"}
    fit = f"fit --holdout {excluded['share']:g} --holdout-seed {excluded['seed']}"
    left = total - excluded["cells"]
    return {"cells": left, "disjoint_from": fit,
            "note": f"chose on a {share:g} validation split (seed {seed}) of the {left} cells left "
                    f"after setting aside the {excluded['cells']} test cells of `{fit}`: "
                    "disjoint from them"}
