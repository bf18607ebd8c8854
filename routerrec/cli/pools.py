"""``routerrec evaluate pools``: the RouterEval-style candidate-pool sweep from the shell."""
from __future__ import annotations

from pathlib import Path

import click

from .main import emit, fail, format_table, load_cli_records, parse_seeds, split_list
from ..evaluation.pools import (CROSS_VALIDATED, CV_FOLDS, DEFAULT_ROUTERS, GROUPS, POOL_SIZES, VALIDATED,
                    VALIDATED_POOLED, evaluate_pools, write_report)

__all__ = ["pools"]


def _load(data: tuple, kw: dict):
    """A directory is read as the Open LLM layout (records.parquet + items.parquet)."""
    from ..data.records import RecordsError
    from ..data.shared import load_openllm

    if len(data) == 1 and Path(data[0]).is_dir():
        try:
            return load_openllm(data[0])
        except RecordsError as exc:
            fail(str(exc))
    kw.update(data=data, cost_col=None, on_duplicate="error", trust_pickle=False)
    return load_cli_records(kw)


@click.command("pools")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(exists=True),
              help="Records file(s) with a benchmark column and prompt texts, or a directory in "
                   "the Open LLM layout (records.parquet + items.parquet).")
@click.option("--prompt-col", default="prompt", show_default=True, help="Column with prompt ids.")
@click.option("--model-col", default="model", show_default=True, help="Column with model ids.")
@click.option("--score-col", default="score", show_default=True, help="Column with scores.")
@click.option("--benchmark-col", default=None, help="Column with benchmark names (default: 'benchmark').")
@click.option("--text-col", default=None, help="Column with prompt texts (default: 'text').")
@click.option("--benchmark", "benchmarks", multiple=True,
              help="Benchmark to evaluate (repeat for several). Default: all.")
@click.option("--pools", "pool_sizes", default=",".join(map(str, POOL_SIZES)), show_default=True,
              help="Comma-separated pool sizes m.")
@click.option("--groups", default=",".join(GROUPS), show_default=True,
              help="Comma-separated candidate groups.")
@click.option("--routers", default=",".join(DEFAULT_ROUTERS), show_default=True,
              help="Comma-separated learned routers of routerrec.routers (mf, knn, linear, "
                   f"lightfm); NAME{VALIDATED} also reports NAME checked per pool on the "
                   "validation prompts (falls back to best-single where it does not beat it); "
                   f"NAME{VALIDATED_POOLED} makes that check once per benchmark, pool size and "
                   "seed on the validation prompts of all its pools; "
                   f"NAME{CROSS_VALIDATED} makes the per-pool check on out-of-fold predictions "
                   f"for the training prompts ({CV_FOLDS} refits) plus the validation prompts. "
                   "Reference routers are always included.")
@click.option("--seeds", default="3", show_default=True,
              help="Independent splits and pool draws: a count (3 = seeds 0, 1, 2) or "
                   "comma-separated seeds (e.g. 100,101,102 to try a design on seeds other "
                   "than the reported ones).")
@click.option("--draws", type=click.IntRange(min=1), default=1, show_default=True,
              help="Pools drawn per setting and seed.")
@click.option("--candidates", type=click.IntRange(min=1), default=32, show_default=True,
              help="Random pools per draw; the one with the highest selection-data oracle is kept.")
@click.option("--select-on", type=click.Choice(["train", "all"]), default="train", show_default=True,
              help="Choose pools on training prompts only, or on all prompts including the test "
                   "prompts (RouterEval's way; the report says so).")
@click.option("--prompt-view", type=click.Choice(["question", "full"]), default="question",
              show_default=True,
              help="Routers see each prompt's last paragraph (few-shot shots repeat) or all of it.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Directory for report.json, report.md and the PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def pools(data, benchmarks, pool_sizes, groups, routers, seeds, draws, candidates, select_on,
          prompt_view, out, as_json, quiet, **kw):
    """Sweep candidate pools of 3 to 1,000 models, RouterEval's way, without its leak.

    Per benchmark: seeded 80/10/10 prompt split; pools (all_strong, all_weak,
    strong_to_weak) chosen on training prompts; every router fitted once per split and
    benchmark on training prompts (NAME+val / NAME+cv: checked per pool on validation
    prompts / on training folds plus validation); mu, V_B, V_R, E_p with 95% intervals
    over seeds.

    \b
    Example:
      routerrec evaluate pools --data ../shared/data/openllm-v1 --out out/pools
      routerrec evaluate pools --data ../shared/data/openllm-v1 --benchmark arc \\
          --pools 3,5,10 --seeds 2 --select-on all --out out/pools-leaky --json
      routerrec evaluate pools --data ../shared/data/openllm-v1 --routers mf,mf+cv \\
          --seeds 100,101,102 --out out/pools-fresh-seeds
    """
    try:
        sizes = [int(m) for m in split_list(pool_sizes)]
    except ValueError:
        fail(f"--pools expects comma-separated integers, got {pool_sizes!r}")
    try:
        seed_arg = parse_seeds(seeds)
    except ValueError as exc:
        fail(f"--seeds: {exc}")
    records = _load(data, kw)
    if not records.benchmarks:
        fail(f"{records.source}: no benchmark column; the sweep splits and pools per benchmark "
             "(pass --benchmark-col)")
    try:
        report = evaluate_pools(records, benchmarks=list(benchmarks) or None, pools=sizes,
                                groups=split_list(groups), routers=split_list(routers), seeds=seed_arg,
                                draws=draws, candidates=candidates, select_on=select_on,
                                prompt_view=prompt_view, progress=not (quiet or as_json))
    except ValueError as exc:
        fail(f"evaluate pools: {exc}")
    files = write_report(report, Path(out))
    overall = [o for o in report["summary"]["overall"]]
    payload = {"selection": report["selection"], "overall": overall, "skipped": report["skipped"],
               "timing": report["timing"], "files": files}
    text = (f"pools chosen: {report['selection']}\n"
            "V_B and mu averaged over benchmarks and groups (mean over seeds):\n"
            + format_table([{"router": o["router"], "m": o["m"], "v_b": o["v_b"], "mu": o["mu"],
                             "e_p": o["e_p"]} for o in overall], ["router", "m", "v_b", "mu", "e_p"])
            + f"\n{len(report['skipped'])} setting(s) skipped (too few eligible models)"
            + f"\nwrote {files['json']}, {files['markdown']} and {len(files['plots'])} plot(s)"
            + f" in {report['timing']['total_seconds']:.1f} s")
    emit(payload, as_json, text)
