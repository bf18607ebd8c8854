"""``routerrec probes`` and ``routerrec add-model``: add a new LLM to a fitted model from a few
of its answers."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from .options import (SEED, LazyChoice, Real, check_out_dir, check_out_parent, emit, fail,
                      format_table, load_cli_model, read_user_table, reported_as, split_list,
                      strategy_names)
from ..util.files import atomic_write
from .add_live import add_live, live_options

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
                   "the texts next to the ids (--format csv).")
@click.option("--format", "out_format", type=click.Choice(["csv", "lm-eval"]), default="csv",
              show_default=True,
              help="csv: columns prompt, benchmark[, text]. lm-eval: lm-evaluation-harness's "
                   "--samples JSON {task: [doc indices]}, for a model fitted on lm-eval records; "
                   "the lm_eval command that runs exactly those docs is printed.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the probes to this file (.csv, or .json with --format lm-eval).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def probes(model_dir, k, strategy, benchmarks, allocation, seed, data, out_format, out, as_json):
    """Choose the prompts to run a new LLM on before `routerrec add-model`.

    \b
    Example:
      routerrec probes --model out/als --k 50 --strategy dopt --out probes.csv
      routerrec probes --model out/als --k 20 --strategy stratified --allocation equal --json
      routerrec probes --model out/lm --k 30 --format lm-eval --out probes.json
    """
    import polars as pl

    from ..coldstart.probes import select_probes

    chosen = split_list(benchmarks, "--benchmarks") or None
    if data and out_format == "lm-eval":
        fail("--data adds prompt texts to a CSV; --format lm-eval writes doc indices only "
             "(lm-eval reads the texts itself): leave out --data")
    if out:
        check_out_parent(out)
    model = load_cli_model(model_dir)
    if strategy is None:
        from ..coldstart.probes import default_strategy

        strategy = default_strategy(model)
    with reported_as("probes"):
        ids = select_probes(model, k, strategy=strategy, benchmarks=chosen, seed=seed,
                            allocation=allocation)
    bench = dict(zip(model.prompts, model.prompt_benchmark))
    if out_format == "lm-eval":
        _emit_lm_eval(ids, [bench[i] for i in ids], strategy, model_dir, out, as_json)
        return
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
    emit({"strategy": strategy, "k": len(ids), "format": out_format, "probes": rows, "out": out},
         as_json, (f"wrote {len(ids)} probes ({strategy}) to {out}" if out
                   else format_table(rows, ["prompt", "benchmark"])))


def _emit_lm_eval(ids, benchmarks, strategy, model_dir, out, as_json) -> None:
    """The probes as lm-eval's --samples (a file, or inline JSON without --out) and the command
    that runs them; ids that are not lm-eval doc ids are refused by ``lm_eval_samples``."""
    from ..data.readers.lm_eval import lm_eval_command, lm_eval_samples, write_samples

    with reported_as("probes --format lm-eval"):
        samples = lm_eval_samples(ids, benchmarks)
    if out:
        write_samples(out, samples)
    output_path = "lm-eval-out"
    command = lm_eval_command(out or json.dumps(samples, separators=(",", ":")), output_path,
                              list(samples))
    after = shlex.join(["routerrec", "add-model", "--model", str(model_dir), "--name", "NEW_LLM",
                        "--results", output_path] + (["--samples", str(out)] if out else []))
    rows = [{"prompt": i, "benchmark": b} for i, b in zip(ids, benchmarks)]
    emit({"strategy": strategy, "k": len(ids), "format": "lm-eval", "probes": rows, "out": out,
          "samples": samples, "command": command, "then": after}, as_json,
         (f"wrote {len(ids)} probes ({strategy}) over {len(samples)} task(s) to {out}\n" if out
          else "")
         + f"run them with lm-evaluation-harness (set --model/--model_args to your LLM):\n  {command}"
         + f"\nthen:\n  {after}")


@click.command("add-model")
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False),
              default=None, help="Model directory written by `routerrec fit` (required "
                                 "without --live).")
@click.option("--name", required=True, help="Id of the new LLM.")
@click.option("--results", type=click.Path(exists=True), default=None,
              help="The new LLM's answers: a CSV or Parquet with columns 'prompt' and 'score', or "
                   "lm-eval --log_samples output (the --output_path folder holding one model, "
                   "that model's folder, or one samples_<task>_<date>.jsonl).")
@click.option("--metric", default=None,
              help="lm-eval results: the per-doc metric to read (a comma-separated preference "
                   "list; default as the lm-eval reader: acc, exact_match, acc_norm, ...).")
@click.option("--samples", "samples_file", type=click.Path(exists=True, dir_okay=False),
              default=None,
              help="lm-eval results: the --samples file that was run (from `routerrec probes "
                   "--format lm-eval`); every doc must be one of them, and lm-eval versions that "
                   "logged the chosen docs as doc_id 0..k-1 are mapped back.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write the updated model here (default: only print the estimates).")
@click.option("--level", type=Real(0.5, 0.999), default=0.95, show_default=True,
              help="Level of the accuracy intervals.")
@live_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def add_model_command(model_dir, name, results, metric, samples_file, out, level, as_json, **live):
    """Fold a new LLM in from its probe answers and print its estimated accuracies.

    \b
    Example:
      routerrec probes --model out/als --k 50 --out probes.csv
      (run the new LLM on probes.csv, write scored.csv with columns prompt,score)
      routerrec add-model --model out/als --name my-llm --results scored.csv --out out/als2
    \b
    With lm-evaluation-harness (a model fitted on lm-eval records):
      routerrec probes --model out/lm --k 30 --format lm-eval --out probes.json
      (run the printed lm_eval command: it writes lm-eval-out/)
      routerrec add-model --model out/lm --name my-llm --results lm-eval-out --samples probes.json
    \b
    Into a running `routerrec serve --learn` (explored from the population prior):
      routerrec add-model --live --server http://127.0.0.1:8000 --name my-llm \\
          --base-url http://127.0.0.1:9001/v1 --api-key-env MY_LLM_KEY
    """
    from ..coldstart.foldin import fold_in_model

    if live.pop("live"):
        offline = [o for o, v in (("--model", model_dir), ("--results", results),
                                  ("--metric", metric), ("--samples", samples_file),
                                  ("--out", out)) if v is not None]
        if offline:
            fail(f"{offline[0]} is an option of the offline add-model; --live sends the new "
                 "model to a server")
        add_live(name, as_json=as_json, **live)
        return
    given = [o for o, v in live.items() if v is not None]
    if given:
        fail(f"--{given[0].replace('_', '-')} is an option of add-model --live")
    if model_dir is None or results is None:
        fail("--model and --results are required (or --live with --server and --base-url)")

    if out:
        check_out_dir(out)
    path = Path(results)
    lm_eval = _is_lm_eval(path)
    if lm_eval:
        answers = _lm_eval_answers(path, metric, samples_file)
    else:
        if metric or samples_file:
            fail(f"--metric and --samples read lm-eval results; --results {path} is a table "
                 "(columns prompt, score)")
        answers = _table_answers(path)
    model = load_cli_model(model_dir)
    known = set(model.prompts)
    unknown = [(row, p) for row, (p, _) in enumerate(answers, start=1) if p not in known]
    if unknown:
        where = path if lm_eval else f"{path}, column 'prompt', row {unknown[0][0]}"
        fail(f"{where}: unknown prompt id {unknown[0][1]!r} ({len(unknown)} unknown in all): "
             "the model was not fitted on it")
    seen = {}
    for row, (prompt, _) in enumerate(answers, start=1):  # lm-eval's reader refuses repeats itself
        if prompt in seen:
            fail(f"{path}, column 'prompt', row {row}: prompt id {prompt!r} repeats row {seen[prompt]}")
        seen[prompt] = row
    with reported_as("add-model"):
        result = fold_in_model(model, name, dict(answers), level=level)
    if out:
        result.model.save(out)
    rows = [{"benchmark": b, **v} for b, v in result.benchmarks.items()]
    text = (f"{name}: folded in from {result.n_probes} answers in "
            f"{1000 * result.seconds:.1f} ms; estimated accuracy ({level:.0%} interval):\n"
            + format_table(rows, ["benchmark", "estimate", "low", "high", "items", "probes"])
            + (f"\nsaved to {out}" if out else ""))
    emit({**result.to_dict(), "out": out}, as_json, text)


def _is_lm_eval(path: Path) -> bool:
    """lm-eval output is a folder or a samples_*.jsonl file; a table is anything else."""
    return path.is_dir() or (path.name.startswith("samples_") and path.suffix == ".jsonl")


def _lm_eval_answers(path: Path, metric, samples_file) -> list:
    """``[(prompt id, score)]`` of one model's lm-eval output, parsed by the lm-eval reader."""
    from ..data.readers.lm_eval import lm_eval_scores, read_samples

    if metric is not None and not metric.strip():
        fail("--metric: give a metric name, e.g. acc_norm")
    samples = read_samples(samples_file) if samples_file else None
    return list(lm_eval_scores(path, score=metric or "score", samples=samples).items())


def _table_answers(path: Path) -> list:
    """``[(prompt id, score)]`` per row of a CSV / Parquet with columns prompt and score."""
    import numpy as np
    import polars as pl

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
    return list(zip(frame["prompt"].cast(pl.String).to_list(), scores.tolist()))
