"""``routerrec evaluate``: the field's evaluations from the shell (RouterBench hulls and AIQ,
RouterEval's candidate-pool sweep, cold start of a new LLM)."""
from __future__ import annotations

from pathlib import Path

import click

from .options import (SEED, Real, check_out_parent, emit, fail, format_table,
                      learned_router_names, load_cli_records, method_options, method_params,
                      parse_seeds, records_options, reported_as, split_list, strategy_names)
from ..evaluation.pools import (CROSS_VALIDATED, CV_FOLDS, DEFAULT_ROUTERS, GROUPS, POOL_SIZES,
                                VALIDATED, VALIDATED_POOLED, evaluate_pools,
                                write_report as write_pools)

__all__ = ["evaluate"]


@click.group()
def evaluate():
    """Evaluate routers and fold-in the way the field does (RouterBench, RouterEval, cold start,
    online learning by replay).

    \b
    Example:
      routerrec evaluate --help
    """


def _load(data: tuple, kw: dict):
    """A directory is read as the Open LLM layout (records.parquet + items.parquet)."""
    from ..data.shared import load_openllm

    if len(data) == 1 and Path(data[0]).is_dir():
        return load_openllm(data[0])
    kw.update(data=data, cost_col=None, on_duplicate="error", trust_pickle=False)
    return load_cli_records(kw)


@evaluate.command("pools")
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
              help="Comma-separated learned routers (those of `routerrec fit --router`); "
                   f"NAME{VALIDATED} also reports NAME checked per pool on the "
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
        sizes = [int(m) for m in split_list(pool_sizes, "--pools")]
    except ValueError:
        fail(f"--pools expects comma-separated integers, got {pool_sizes!r}")
    try:
        seed_arg = parse_seeds(seeds)
    except ValueError as exc:
        fail(f"--seeds: {exc}")
    group_names, router_names = split_list(groups, "--groups"), split_list(routers, "--routers")
    check_out_parent(out)
    records = _load(data, kw)
    if not records.benchmarks:
        fail(f"{records.source}: no benchmark column; the sweep splits and pools per benchmark "
             "(pass --benchmark-col)")
    with reported_as("evaluate pools"):
        report = evaluate_pools(records, benchmarks=list(benchmarks) or None, pools=sizes,
                                groups=group_names, routers=router_names, seeds=seed_arg,
                                draws=draws, candidates=candidates, select_on=select_on,
                                prompt_view=prompt_view, progress=not (quiet or as_json))
    files = write_pools(report, Path(out))
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


@evaluate.command("routerbench")
@click.option("--train", "train_files", multiple=True, type=click.Path(dir_okay=False),
              help="Training records (repeat). RouterBench wide CSVs or any records file.")
@click.option("--test", "test_files", multiple=True, type=click.Path(dir_okay=False),
              help="Test records (repeat). Without --test, --data is split per eval.")
@records_options
@click.option("--test-fraction", type=Real(0.05, 0.9), default=0.3, show_default=True,
              help="With --data only: seeded per-eval share of prompts held out (RouterBench: 30%).")
@click.option("--routers", default="mf,knn,linear,lightfm", show_default=True,
              help="Comma-separated learned routers.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=200, show_default=True,
              help="Bootstrap resamples of the test prompts for intervals (0: none).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Split and bootstrap seed.")
@click.option("--strong", default=None,
              help="Strong model of RouteLLM's APGR / CPT pair (with --weak). Default with "
                   "costs: the best model on the training prompts.")
@click.option("--weak", default=None,
              help="Weak model of the pair (with --strong). Default with costs: the cheapest "
                   "other model. Without costs the pair is reported only when named.")
@click.option("--ood", "ood", multiple=True,
              help="Eval (benchmark) held out of training entirely (repeat for several): the "
                   "routers train on the other evals and only its test prompts are judged.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for report.json, report.md and (with costs) one PNG per eval.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def routerbench(train_files, test_files, test_fraction, routers, bootstrap, seed, strong, weak,
                ood, out, as_json, quiet, **kw):
    """RouterBench-style evaluation: cost-quality hulls, zero router, oracle, AIQ, and the
    field's other metrics (RouteLLM's APGR and CPT, RouterArena's score, Pareto distance).

    Every report has the max-quality table (each router's mean true score beside best-single,
    task-best and the oracle, with paired bootstrap intervals); AIQ, RouterArena, the Pareto
    distance and the PNGs need costs; APGR / CPT need a strong / weak pair.

    \b
    Example:
      routerrec evaluate routerbench --train ../shared/data/routerbench/mbpp_train.csv \\
          --test ../shared/data/routerbench/mbpp_test.csv --routers mf,knn --out out/rb
      routerrec evaluate routerbench --data records.parquet --test-fraction 0.3 --out out/rb
      routerrec evaluate routerbench --data records.parquet --ood mbpp --strong gpt-4-1106-preview \\
          --weak mistralai/mistral-7b-chat --out out/rb-ood
    """
    from ..evaluation.routerbench import evaluate_routerbench, write_report as write_routerbench
    from ..routing.registry import ROUTERS

    check_out_parent(out)
    names, learned = split_list(routers, "--routers"), learned_router_names()
    bad = [r for r in names if r not in learned]
    if bad:
        fail(f"--routers: unknown learned router(s) {bad}; choose from {', '.join(learned)} "
             f"(reference routers {sorted(set(ROUTERS) - set(learned))} are always reported)")
    if bool(train_files) != bool(test_files):
        fail("give both --train and --test, or neither (then --data is split per eval)")
    if train_files:
        if kw["data"]:
            fail("give --train/--test or --data, not both")
        train = load_cli_records(dict(kw, data=train_files))
        test = load_cli_records(dict(kw, data=test_files))
    else:
        train, test = load_cli_records(kw).split_prompts(test_fraction, seed,
                                                         stratify_by_benchmark=True)
    with reported_as("evaluate routerbench"):
        report = evaluate_routerbench(train, test, routers=names, bootstrap=bootstrap, seed=seed,
                                      strong=strong, weak=weak, ood=list(ood),
                                      progress=not (quiet or as_json))
    files = write_routerbench(report, Path(out))
    if report["settings"]["costs"]:
        columns = ["eval", "router", "aiq_code", "aiq_paper", "gap_closed", "pareto_distance"]
        rows = [{"eval": ev, "router": r, "aiq_code": a["code"], "aiq_paper": a["paper"],
                 "gap_closed": e["gap_closed"][r]["share"] if r in e["gap_closed"] else "",
                 "pareto_distance": e["pareto_distance"].get(r, "")}
                for ev, e in report["evals"].items() for r, a in e["aiq"].items()]
    else:  # no costs, no AIQ: each router's mean true score at maximum quality
        columns = ["eval", "router", "mean_score", "minus_baseline", "gap_closed"]
        quality = report["max_quality"]
        rows = [{"eval": ev, "router": r, "mean_score": score,
                 "minus_baseline": t["minus_baseline"].get(r, {}).get("diff", ""),
                 "gap_closed": t["gap_closed"].get(r, "")}
                for ev, t in [("all", quality["pooled"]), *quality["evals"].items()]
                for r, score in t["mean_score"].items()]
    pair = report["pair"]
    pair_text = ""
    if pair and pair["pooled"]:
        pair_text = (f"\nRouteLLM pair {pair['strong']} (strong) vs {pair['weak']} (weak), pooled:\n"
                     + format_table([{"router": r, **m} for r, m in pair["pooled"]["routers"].items()],
                                    ["router", "apgr", "cpt50", "cpt80"]))
    emit({"summary": report["summary"], "pair": pair and {k: pair[k] for k in ("strong", "weak")},
          "ood": report["settings"]["ood"],
          "files": {k: [str(p) for p in v] if isinstance(v, list) else str(v)
                    for k, v in files.items()}},
         as_json, format_table(rows, columns) + pair_text
         + f"\nwrote {files['json']}, {files['markdown']} and {len(files['plots'])} plot(s)")


@evaluate.command("coldstart")
@records_options
@method_options
@click.option("--holdout-models", type=Real(0.01, 0.9), default=0.2,
              show_default=True, help="Share of models held out (seeded by --split-seed).")
@click.option("--split-seed", type=SEED, default=0, show_default=True)
@click.option("--budgets", default="10,25,50,100", show_default=True,
              help="Comma-separated probe budgets (total over benchmarks).")
@click.option("--strategies", default=None,
              help="Comma-separated probe strategies (default: all of `routerrec probes --strategy`).")
@click.option("--max-models", type=click.IntRange(min=1), default=None,
              help="Score at most this many held-out models (speed).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Directory for report.json, report.md and PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def coldstart(**kw):
    """Leave-models-out evaluation of adding a new LLM from a few probes.

    \b
    Example:
      routerrec evaluate coldstart --data ../shared/data/openllm-v1/records.parquet \\
          --prompt-col item --score-col correct --rank 32 --reg 0.01 --out out/coldstart
    """
    from ..evaluation.coldstart import evaluate_coldstart, write_report as write_coldstart

    try:
        budgets = sorted({int(b) for b in split_list(kw["budgets"], "--budgets")})
    except ValueError:
        fail(f"--budgets {kw['budgets']!r}: expected comma-separated integers")
    if not budgets or budgets[0] < 1:
        fail(f"--budgets {kw['budgets']!r}: expected positive integers")
    known = strategy_names()
    strategies = (split_list(kw["strategies"], "--strategies") if kw["strategies"] is not None
                  else list(known))
    bad = [s for s in strategies if s not in known]
    if bad or not strategies:
        fail(f"--strategies: unknown {bad!r}; choose from {', '.join(known)}")
    check_out_parent(kw["out"])
    params = method_params(kw)
    records = load_cli_records(kw)
    with reported_as("evaluate coldstart"):
        report = evaluate_coldstart(records, holdout_models=kw["holdout_models"],
                                    budgets=budgets, strategies=strategies,
                                    method=kw["method"], params=params,
                                    seed=kw["split_seed"], max_models=kw["max_models"],
                                    progress=not (kw["quiet"] or kw["as_json"]))
    paths = write_coldstart(report, kw["out"])
    rows = [{"strategy": s, "probes": k, "mae": c["mae"], "naive_mae": c["naive_mae"],
             "auc": c["auc"], "coverage": c["coverage"]}
            for s, per in report["results"].items() for k, c in per.items()]
    emit({**report, "files": [str(p) for p in paths]}, kw["as_json"],
         format_table(rows, ["strategy", "probes", "mae", "naive_mae", "auc", "coverage"])
         + f"\nwrote {', '.join(str(p) for p in paths)}")


from .evaluate_online import online  # noqa: E402 - its own module (issue 15), a subcommand here

evaluate.add_command(online)
