"""``routerrec probes`` and ``routerrec add-model``: add a new LLM to a fitted model from a few
of its answers."""
from __future__ import annotations

from pathlib import Path

import click

from .options import (SEED, LazyChoice, Real, check_out_dir, check_out_parent, emit, fail,
                      format_table, load_cli_model, read_user_table, reported_as, split_list,
                      strategy_names)
from ..util.files import atomic_write

__all__ = ["probes", "add_model_command"]


@click.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="Model directory written by `routerrec fit`.")
@click.option("--k", type=click.IntRange(min=1), default=50, show_default=True,
              help="Number of probe prompts (total over benchmarks).")
@click.option("--strategy", type=LazyChoice(strategy_names), default=None,
              help="Probe strategy (default: the library's, see docs/coldstart.md).")
@click.option("--benchmarks", default=None, help="Comma-separated benchmarks to probe (default all).")
@click.option("--allocation", type=click.Choice(["proportional", "equal"]),
              default="proportional", show_default=True, help="With --strategy stratified.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Records file with prompt texts (a 'prompt' and a 'text' column), to write "
                   "the texts next to the ids.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the probes to this .csv (columns prompt, benchmark[, text]).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def probes(model_dir, k, strategy, benchmarks, allocation, seed, data, out, as_json):
    """Choose the prompts to run a new LLM on before `routerrec add-model`.

    \b
    Example:
      routerrec probes --model out/als --k 50 --strategy dopt --out probes.csv
      routerrec probes --model out/als --k 20 --strategy stratified --allocation equal --json
    """
    import polars as pl

    from ..coldstart.probes import select_probes

    chosen = split_list(benchmarks, "--benchmarks") or None
    if out:
        check_out_parent(out)
    model = load_cli_model(model_dir)
    if strategy is None:
        from ..coldstart.probes import DEFAULT_STRATEGY as strategy
    with reported_as("probes"):
        ids = select_probes(model, k, strategy=strategy, benchmarks=chosen, seed=seed,
                            allocation=allocation)
    bench = dict(zip(model.prompts, model.prompt_benchmark))
    frame = pl.DataFrame({"prompt": ids, "benchmark": [bench[i] for i in ids]},
                         schema={"prompt": pl.String, "benchmark": pl.String})
    if data:
        texts = read_user_table(data, "--data")
        if not {"prompt", "text"} <= set(texts.columns):
            fail(f"--data {data}: need columns 'prompt' and 'text' "
                 f"(columns: {', '.join(texts.columns)})")
        texts = texts.select(pl.col("prompt").cast(pl.String), pl.col("text").cast(pl.String))
        frame = frame.join(texts.unique("prompt"), on="prompt", how="left")
    if out:
        atomic_write(Path(out), lambda p: frame.write_csv(p))
    rows = frame.to_dicts()
    emit({"strategy": strategy, "k": len(ids), "probes": rows, "out": out}, as_json,
         (f"wrote {len(ids)} probes ({strategy}) to {out}" if out
          else format_table(rows, ["prompt", "benchmark"])))


@click.command("add-model")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="Model directory written by `routerrec fit`.")
@click.option("--name", required=True, help="Id of the new LLM.")
@click.option("--results", type=click.Path(exists=True, dir_okay=False), required=True,
              help="CSV or Parquet of the new LLM's answers: columns 'prompt' and 'score'.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write the updated model here (default: only print the estimates).")
@click.option("--level", type=Real(0.5, 0.999), default=0.95, show_default=True,
              help="Level of the accuracy intervals.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def add_model_command(model_dir, name, results, out, level, as_json):
    """Fold a new LLM in from its probe answers and print its estimated accuracies.

    \b
    Example:
      routerrec probes --model out/als --k 50 --out probes.csv
      (run the new LLM on probes.csv, write scored.csv with columns prompt,score)
      routerrec add-model --model out/als --name my-llm --results scored.csv --out out/als2
    """
    import numpy as np
    import polars as pl

    from ..coldstart.foldin import fold_in_model

    if out:
        check_out_dir(out)
    path = Path(results)
    frame = read_user_table(path, "--results")
    for col in ("prompt", "score"):
        if col not in frame.columns:
            fail(f"{path}: no {col!r} column (columns: {', '.join(frame.columns)})")
    try:
        scores = frame["score"].cast(pl.Float64, strict=True).to_numpy()
    except Exception:
        fail(f"{path}, column 'score': not numeric")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        fail(f"{path}, column 'score', row {bad[0] + 1}: missing or not finite")
    prompts = frame["prompt"].cast(pl.String).to_list()
    model = load_cli_model(model_dir)
    known = set(model.prompts)
    unknown = [(i, p) for i, p in enumerate(prompts) if p not in known]
    if unknown:
        fail(f"{path}, column 'prompt', row {unknown[0][0] + 1}: unknown prompt id "
             f"{unknown[0][1]!r} ({len(unknown)} unknown in all)")
    if len(set(prompts)) != len(prompts):
        fail(f"{path}, column 'prompt': repeated prompt ids")
    with reported_as("add-model"):
        result = fold_in_model(model, name, dict(zip(prompts, scores.tolist())), level=level)
    if out:
        result.model.save(out)
    rows = [{"benchmark": b, **v} for b, v in result.benchmarks.items()]
    text = (f"{name}: folded in from {result.n_probes} answers in "
            f"{1000 * result.seconds:.1f} ms; estimated accuracy ({level:.0%} interval):\n"
            + format_table(rows, ["benchmark", "estimate", "low", "high", "items", "probes"])
            + (f"\nsaved to {out}" if out else ""))
    emit({**result.to_dict(), "out": out}, as_json, text)
