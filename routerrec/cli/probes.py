"""``routerrec probes``, ``routerrec add-model`` and ``routerrec evaluate coldstart``."""
from __future__ import annotations

from pathlib import Path

import click

from .main import atomic_write, emit, fail, format_table, load_cli_records, method_options, \
    method_params, records_options, split_list
from ..coldstart.probes import STRATEGIES

__all__ = ["probes", "add_model_command", "coldstart_command"]


def _load(model_dir):
    from ..methods.model import ModelFileError, load_model
    try:
        return load_model(model_dir)
    except ModelFileError as exc:
        fail(str(exc))


@click.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False),
              required=True, help="Model directory written by `routerrec fit`.")
@click.option("--k", type=click.IntRange(min=1), default=50, show_default=True,
              help="Number of probe prompts (total over benchmarks).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="dopt", show_default=True)
@click.option("--benchmarks", default=None, help="Comma-separated benchmarks to probe (default all).")
@click.option("--allocation", type=click.Choice(["proportional", "equal"]),
              default="proportional", show_default=True, help="With --strategy stratified.")
@click.option("--seed", type=int, default=0, show_default=True)
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

    model = _load(model_dir)
    try:
        ids = select_probes(model, k, strategy=strategy,
                            benchmarks=split_list(benchmarks) or None, seed=seed,
                            allocation=allocation)
    except ValueError as exc:
        fail(f"probes: {exc}")
    bench = dict(zip(model.prompts, model.prompt_benchmark))
    frame = pl.DataFrame({"prompt": ids, "benchmark": [bench[i] for i in ids]},
                         schema={"prompt": pl.String, "benchmark": pl.String})
    if data:
        texts = pl.read_parquet(data) if data.endswith(".parquet") else pl.read_csv(data)
        if not {"prompt", "text"} <= set(texts.columns):
            fail(f"{data}: need columns 'prompt' and 'text' (columns: {', '.join(texts.columns)})")
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
@click.option("--level", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True,
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

    model = _load(model_dir)
    path = Path(results)
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as exc:  # polars raises several types for unreadable files
        fail(f"{path}: cannot read ({exc})")
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
    unknown = [(i, p) for i, p in enumerate(prompts) if not model.has_prompt(p)]
    if unknown:
        fail(f"{path}, column 'prompt', row {unknown[0][0] + 1}: unknown prompt id "
             f"{unknown[0][1]!r} ({len(unknown)} unknown in all)")
    if len(set(prompts)) != len(prompts):
        fail(f"{path}, column 'prompt': repeated prompt ids")
    try:
        result = fold_in_model(model, name, dict(zip(prompts, scores.tolist())), level=level)
    except (ValueError, NotImplementedError) as exc:
        fail(f"add-model: {exc}")
    if out:
        result.model.save(out)
    rows = [{"benchmark": b, **v} for b, v in result.benchmarks.items()]
    text = (f"{name}: folded in from {result.n_probes} answers in "
            f"{1000 * result.seconds:.1f} ms; estimated accuracy ({level:.0%} interval):\n"
            + format_table(rows, ["benchmark", "estimate", "low", "high", "items", "probes"])
            + (f"\nsaved to {out}" if out else ""))
    emit({**result.to_dict(), "out": out}, as_json, text)


@click.command("coldstart")
@records_options
@method_options
@click.option("--holdout-models", type=click.FloatRange(0.01, 0.9), default=0.2,
              show_default=True, help="Share of models held out (seeded by --split-seed).")
@click.option("--split-seed", type=int, default=0, show_default=True)
@click.option("--budgets", default="10,25,50,100", show_default=True,
              help="Comma-separated probe budgets (total over benchmarks).")
@click.option("--strategies", default=",".join(STRATEGIES), show_default=True)
@click.option("--max-models", type=click.IntRange(min=1), default=None,
              help="Score at most this many held-out models (speed).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Directory for report.json, report.md and PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def coldstart_command(**kw):
    """Leave-models-out evaluation of adding a new LLM from a few probes.

    \b
    Example:
      routerrec evaluate coldstart --data ../shared/data/openllm-v1/records.parquet \\
          --prompt-col item --score-col correct --rank 32 --reg 0.01 --out out/coldstart
    """
    from ..evaluation.coldstart import evaluate_coldstart, write_report

    records = load_cli_records(kw)
    params = method_params(kw)
    try:
        budgets = sorted({int(b) for b in kw["budgets"].split(",") if b.strip()})
    except ValueError:
        fail(f"--budgets {kw['budgets']!r}: expected comma-separated integers")
    strategies = split_list(kw["strategies"])
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not strategies:
        fail(f"--strategies: unknown {bad!r}; choose from {', '.join(STRATEGIES)}")
    try:
        report = evaluate_coldstart(records, holdout_models=kw["holdout_models"],
                                    budgets=budgets, strategies=strategies,
                                    method=kw["method"], params=params,
                                    seed=kw["split_seed"], max_models=kw["max_models"],
                                    progress=not (kw["quiet"] or kw["as_json"]))
    except ValueError as exc:
        fail(f"evaluate coldstart: {exc}")
    paths = write_report(report, kw["out"])
    rows = [{"strategy": s, "probes": k, "mae": c["mae"], "naive_mae": c["naive_mae"],
             "auc": c["auc"], "coverage": c["coverage"]}
            for s, per in report["results"].items() for k, c in per.items()]
    emit({**report, "files": [str(p) for p in paths]}, kw["as_json"],
         format_table(rows, ["strategy", "probes", "mae", "naive_mae", "auc", "coverage"])
         + f"\nwrote {', '.join(str(p) for p in paths)}")
