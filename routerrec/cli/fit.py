"""``routerrec fit`` (a completion model, or a router with ``--router``) and ``routerrec predict``."""
from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from .options import (SEED, LazyChoice, Real, check_out_dir, check_out_parent, emit, engine_names,
                      fail, format_table, text_router_names, load_cli_model, load_cli_records,
                      method_options, method_params, read_user_table, read_user_text,
                      records_options, reported_as, split_list)
from .route import fit_router
from ..util.files import atomic_write

__all__ = ["fit", "predict"]


@click.command()
@records_options
@method_options
@click.option("--holdout", type=Real(0, 0.9), default=None,
              help="Hold out this share of observed cells (seeded) and report held-out error "
                   "next to the global/model/prompt-mean baselines.")
@click.option("--holdout-seed", type=SEED, default=0, show_default=True)
@click.option("--engine", type=LazyChoice(engine_names), default="numba", show_default=True,
              help="Where --method als runs: routerrec's numba kernel, or Spark MLlib (docs/scale.md).")
@click.option("--master", default="local[2]", show_default=True,
              help="With --engine spark: the Spark master (local[N] or spark://host:port).")
@click.option("--feedback", type=click.Choice(["explicit", "implicit"]), default="explicit",
              show_default=True, help="explicit: scores (missing = unknown); implicit: a log of "
                                      "chosen models (missing = not chosen), for --method implicit.")
@click.option("--router", type=LazyChoice(text_router_names), default=None,
              is_flag=False, flag_value="auto",
              help="Fit a router for new prompts instead (docs/routing.md); --router alone "
                   "fits auto, the default (per task: learned routing only where it beat the "
                   "task's best model out of fold); mf uses --method.")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --router: your prompt vectors (Parquet: a 'prompt' id or 'text' column "
                   "and an embedding list column; or .npy + .ids.txt) instead of TF-IDF.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Model directory to write.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fit(**kw):
    """Fit a completion model on records and save it.

    \b
    Example:
      routerrec fit --holdout 0.1 --out out/model     # method auto (docs/methods.md)
      routerrec fit --method als --rank 32 --reg 0.01 --holdout 0.1 --out out/als
      routerrec fit --data ../shared/data/openllm-v1/records.parquet \\
          --prompt-col item --score-col correct --holdout 0.1 --out out/openllm
      routerrec fit --method als --engine spark --master local[2] --out out/spark-als
      routerrec fit --data kept.csv --feedback implicit --method implicit --out out/implicit
      routerrec fit --router mf --data ../shared/data/routerbench/mbpp_train.csv --out out/mf
      routerrec fit --router --out out/auto
      routerrec fit --router knn --embeddings vectors.parquet --out out/knn-own
    """
    from ..methods import fit as fit_method

    check_out_dir(kw["out"])
    params = method_params(kw)
    if kw["embeddings"] and not kw["router"]:
        fail("--embeddings is for fitting a router (--router NAME)")
    records = load_cli_records(kw)
    if kw["router"]:
        source = click.get_current_context().get_parameter_source("method")
        return fit_router(kw["router"], records, params=params, out=Path(kw["out"]),
                          method=None if source.name == "DEFAULT" else kw["method"],
                          as_json=kw["as_json"], embeddings=kw["embeddings"])
    method, holdout, out, as_json = kw["method"], kw["holdout"], Path(kw["out"]), kw["as_json"]
    if kw["feedback"] == "implicit":
        if holdout:
            fail("--holdout reports score error (RMSE, AUC), which implicit feedback has no "
                 "meaning for; fit without --holdout")
        records = records.with_feedback("implicit")
    if kw["engine"] == "spark":
        params["master"] = kw["master"]
    with reported_as(f"--holdout {holdout}"):
        train, test = (records.split_cells(holdout, kw["holdout_seed"]) if holdout
                       else (records, None))
    t0 = time.perf_counter()
    with reported_as(f"fit --method {method}"):
        model = fit_method(train, method=method, engine=kw["engine"],
                           progress=not (kw["quiet"] or as_json), **params)
    seconds = time.perf_counter() - t0
    chosen = model.method if method == model.method else f"{model.method} ({method})"
    payload = {"method": model.method, "params": model.params, "fit_seconds": seconds,
               "prompts": len(model.prompts), "models": len(model.models),
               "train_records": train.n_records, "out": str(out)}
    text = (f"fitted {chosen} on {train.n_records:,} records "
            f"({len(model.prompts):,} prompts x {len(model.models):,} models) in {seconds:.2f} s")
    if test is not None:
        from ..evaluation.metrics import heldout_report  # scikit-learn: only when needed

        report = heldout_report(model, train, test)
        model.metrics["heldout"] = {"share": holdout, "seed": kw["holdout_seed"], **report}
        payload["heldout"] = report
        cols = ["name", "n", "rmse", "mae"] + (["auc", "accuracy", "log_loss"]
                                               if test.score_kind == "binary" else [])
        text += (f"\nheld-out {holdout:.0%} of cells ({test.n_records:,}):\n"
                 + format_table([{"name": k, **v} for k, v in report.items()], cols))
    model.save(out)
    text += f"\nsaved to {out}"
    emit(payload, as_json, text)


@click.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="Model directory written by `routerrec fit`.")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False),
              help="Prompt ids to predict: a text file (one id a line) or CSV/Parquet with a "
                   "'prompt' column. Default: every prompt in the model.")
@click.option("--models", default=None, help="Comma-separated model ids. Default: all.")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Instead of writing a file, print the top K models per prompt.")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="With --top: how many prompts to show.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write predictions (one row a prompt, one column a model) to .parquet or .csv.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def predict(model_dir, prompts_file, models, top, limit, out, as_json):
    """Predict scores of prompts x models from a fitted model.

    \b
    Example:
      routerrec predict --model out/als --out predictions.parquet
      routerrec predict --model out/als --models acme-70b,zeta-8b --top 2
    """
    import polars as pl

    if top is None and out is None:
        fail("give --out FILE.parquet|csv to write predictions, or --top K to print them")
    if out is not None and Path(out).suffix not in (".parquet", ".csv"):
        fail(f"--out {out}: use a .parquet or .csv file name")
    if out is not None:
        check_out_parent(out)
    model_ids = split_list(models, "--models") or None
    prompts = _read_prompt_ids(Path(prompts_file)) if prompts_file else None
    model = load_cli_model(model_dir)
    if top is not None:
        prompts = (prompts or model.prompts)[:limit]
    source = "predict" + (f" --prompts {prompts_file}" if prompts_file else "")
    with reported_as(source + (f" --models {models}" if model_ids else "")):
        scores = model.predict(prompts, model_ids)
    prompts = prompts if prompts is not None else model.prompts
    model_ids = model_ids or model.models
    if top is not None:
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
        rows = [{"prompt": p, "top": [{"model": model_ids[j], "score": float(scores[i, j])}
                                      for j in order[i]]} for i, p in enumerate(prompts)]
        text = "\n".join(f"{r['prompt']}: " + ", ".join(f"{t['model']} ({t['score']:.3f})"
                                                       for t in r["top"]) for r in rows)
        emit({"prompts": rows}, as_json, text)
        return
    out_path = Path(out)
    frame = pl.DataFrame({"prompt": prompts}).hstack(
        pl.DataFrame(scores, schema=[str(m) for m in model_ids], orient="row"))
    atomic_write(out_path, (lambda p: frame.write_parquet(p)) if out_path.suffix == ".parquet"
                 else (lambda p: frame.write_csv(p)))
    emit({"out": str(out_path), "prompts": len(prompts), "models": len(model_ids)}, as_json,
         f"wrote {len(prompts):,} prompts x {len(model_ids):,} models to {out_path}")


def _read_prompt_ids(path: Path) -> list[str]:
    """The prompt ids of ``--prompts``: a CSV/Parquet 'prompt' column, or a text file."""
    import polars as pl

    if path.suffix in (".csv", ".parquet"):
        frame = read_user_table(path, "--prompts")
        if "prompt" not in frame.columns:
            fail(f"--prompts {path}: no 'prompt' column (columns: {', '.join(frame.columns)})")
        ids = frame["prompt"].cast(pl.Utf8).to_list()
    else:
        ids = [line.strip() for line in read_user_text(path, "--prompts").splitlines()]
    ids = [i for i in ids if i]
    if not ids:
        fail(f"--prompts {path}: no prompt ids (the file is empty or holds only blank lines)")
    return ids
