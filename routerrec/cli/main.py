"""The ``routerrec`` command line. Every command has ``--help`` with an example and ``--json``.

Commands of later features live in their own modules and are added to ``main`` at the
bottom of this file, so this module stays the one place that lists the commands.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import click
import numpy as np

from .. import __version__
from ..util.files import atomic_write

# Method options shared by every command that fits a completion model. None = method default.
_METHOD_PARAMS = ("rank", "reg", "iterations", "seed")


def emit(payload: dict, as_json: bool, text: str) -> None:
    """Print ``payload`` as JSON (for machines) or ``text`` (for people)."""
    if as_json:
        click.echo(json.dumps(payload, indent=1, default=_json_default))
    else:
        click.echo(text)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def fail(message: str) -> None:
    """Stop with a clear one-line error and exit status 2 (no traceback for bad input)."""
    raise click.ClickException(message)


def records_options(fn):
    """``--data`` plus column mapping options; resolved by ``load_cli_records``."""
    opts = [
        click.option("--data", "data", multiple=True, type=click.Path(dir_okay=False),
                     help="Records file (CSV, Parquet, JSONL or RouterBench wide CSV); "
                          "repeat for several. Default: the embedded sample."),
        click.option("--prompt-col", default="prompt", show_default=True,
                     help="Column with prompt ids."),
        click.option("--model-col", default="model", show_default=True,
                     help="Column with model ids."),
        click.option("--score-col", default="score", show_default=True,
                     help="Column with scores."),
        click.option("--cost-col", default=None, help="Column with costs (default: 'cost' if present)."),
        click.option("--benchmark-col", default=None,
                     help="Column with benchmark names (default: 'benchmark' if present)."),
        click.option("--text-col", default=None, help="Column with prompt texts (default: 'text' if present)."),
        click.option("--on-duplicate", type=click.Choice(["error", "mean", "last"]),
                     default="error", show_default=True,
                     help="What to do with repeated (prompt, model) pairs."),
        click.option("--trust-pickle", is_flag=True,
                     help="Allow reading a RouterBench .pkl (unpickling runs code: only files you trust)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def load_cli_records(kw: dict):
    """Load the records named by ``records_options`` (popping its keys from ``kw``)."""
    from ..data.load import load_records
    from ..data.records import RecordsError
    from ..data.sample import load_sample

    data = kw.pop("data")
    mapping = dict(prompt=kw.pop("prompt_col"), model=kw.pop("model_col"),
                   score=kw.pop("score_col"), cost=kw.pop("cost_col"),
                   benchmark=kw.pop("benchmark_col"), text=kw.pop("text_col"),
                   on_duplicate=kw.pop("on_duplicate"), trust_pickle=kw.pop("trust_pickle"))
    try:
        if not data:
            return load_sample()
        return load_records(list(data) if len(data) > 1 else data[0], **mapping)
    except RecordsError as exc:
        fail(str(exc))


def method_options(fn):
    """``--method`` and the shared hyper-parameters (each method's default when omitted)."""
    from ..methods import METHODS

    opts = [
        click.option("--method", type=click.Choice(sorted(METHODS)), default="als",
                     show_default=True, help="Completion method."),
        click.option("--rank", type=click.IntRange(min=1), default=None, help="Latent dimensions."),
        click.option("--reg", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Regularisation strength."),
        click.option("--iterations", type=click.IntRange(min=1), default=None,
                     help="Sweeps / epochs."),
        click.option("--seed", type=int, default=None, help="Random seed."),
        click.option("--param", "extra", multiple=True, metavar="KEY=VALUE",
                     help="Any other method parameter, e.g. --param kind=prompt for --method mean."),
        click.option("--params", "params_file", type=click.Path(exists=True, dir_okay=False),
                     default=None, help="Settings written by `routerrec tune` (its method and "
                                        "best parameters; options given here win)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def split_list(text: str | None) -> list[str]:
    """A comma-separated option as its non-empty, stripped items ([] for none)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def method_params(kw: dict) -> dict:
    """The method parameters the user set (popping them from ``kw``)."""
    params_file = kw.pop("params_file", None)
    if params_file:
        from .tune import read_tuned
        return {**read_tuned(params_file, kw), **method_params(kw)}
    params = {k: kw.pop(k) for k in _METHOD_PARAMS if kw.get(k) is not None}
    for k in _METHOD_PARAMS:
        kw.pop(k, None)
    for item in kw.pop("extra", ()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = _parse_value(value)
    return params


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_seeds(text: str) -> int | list:
    """``"3"`` -> 3 (seeds 0, 1, 2); ``"100,101"`` -> [100, 101] (the CLI's ``--seeds``)."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()] if "," in text else int(text)
    except ValueError:
        raise ValueError(f"expected a count or comma-separated integers, got {text!r}") from None
    if seeds == [] or (isinstance(seeds, int) and seeds < 1):
        raise ValueError(f"expected a positive count or comma-separated integers, got {text!r}")
    return seeds


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain aligned text table (floats to 4 decimals)."""
    def cell(v):
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4f}"
        return str(v)
    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="routerrec")
def main():
    """routerrec: LLM routing as a recommender-system problem.

    \b
    Example:
      routerrec fit --method als --holdout 0.1 --out out/als
      routerrec predict --model out/als --top 3
    """


@main.command()
@records_options
@method_options
@click.option("--holdout", type=click.FloatRange(0, 0.9), default=None,
              help="Hold out this share of observed cells (seeded) and report held-out error "
                   "next to the global/model/prompt-mean baselines.")
@click.option("--holdout-seed", type=int, default=0, show_default=True)
@click.option("--engine", type=click.Choice(["numba", "spark"]), default="numba", show_default=True,
              help="Where --method als runs: routerrec's numba kernel, or Spark MLlib (docs/scale.md).")
@click.option("--master", default="local[2]", show_default=True,
              help="With --engine spark: the Spark master (local[N] or spark://host:port).")
@click.option("--feedback", type=click.Choice(["explicit", "implicit"]), default="explicit",
              show_default=True, help="explicit: scores (missing = unknown); implicit: a log of "
                                      "chosen models (missing = not chosen), for --method implicit.")
@click.option("--router", type=click.Choice(["mf", "lightfm", "knn", "linear"]), default=None,
              help="Fit a router for new prompts instead (docs/routing.md); mf uses --method.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Model directory to write.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def fit(**kw):
    """Fit a completion model on records and save it.

    \b
    Example:
      routerrec fit --method als --rank 32 --reg 0.01 --holdout 0.1 --out out/als
      routerrec fit --data ../shared/data/openllm-v1/records.parquet \\
          --prompt-col item --score-col correct --holdout 0.1 --out out/openllm-als
      routerrec fit --method als --engine spark --master local[2] --out out/spark-als
      routerrec fit --data kept.csv --feedback implicit --method implicit --out out/implicit
      routerrec fit --router mf --data ../shared/data/routerbench/mbpp_train.csv --out out/mf
    """
    from ..methods import fit as fit_method
    from ..evaluation.metrics import heldout_report

    records = load_cli_records(kw)
    params = method_params(kw)
    if kw["router"]:
        from .route import fit_router
        source = click.get_current_context().get_parameter_source("method")
        return fit_router(kw["router"], records, params=params, out=Path(kw["out"]),
                          method=None if source.name == "DEFAULT" else kw["method"],
                          as_json=kw["as_json"])
    method, holdout, out, as_json = kw["method"], kw["holdout"], Path(kw["out"]), kw["as_json"]
    if kw["feedback"] == "implicit":
        if holdout:
            fail("--holdout reports score error (RMSE, AUC), which implicit feedback has no "
                 "meaning for; fit without --holdout")
        records = records.with_feedback("implicit")
    if kw["engine"] == "spark":
        if method != "als":
            fail(f"--engine spark runs --method als only (got --method {method})")
        params["master"] = kw["master"]
    train, test = (records.split_cells(holdout, kw["holdout_seed"]) if holdout
                   else (records, None))
    t0 = time.perf_counter()
    try:
        model = fit_method(train, method=method, engine=kw["engine"],
                           progress=not (kw["quiet"] or as_json), **params)
    except (ValueError, TypeError) as exc:
        fail(f"fit --method {method}: {exc}")
    seconds = time.perf_counter() - t0
    payload = {"method": method, "params": model.params, "fit_seconds": seconds,
               "prompts": len(model.prompts), "models": len(model.models),
               "train_records": train.n_records, "out": str(out)}
    text = (f"fitted {method} on {train.n_records:,} records "
            f"({len(model.prompts):,} prompts x {len(model.models):,} models) in {seconds:.2f} s")
    if test is not None:
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


@main.command()
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

    from ..methods.model import ModelFileError, load_model

    try:
        model = load_model(model_dir)
    except ModelFileError as exc:
        fail(str(exc))
    prompts = _read_prompt_ids(Path(prompts_file)) if prompts_file else None
    model_ids = split_list(models) or None
    if top is None and out is None:
        fail("give --out FILE.parquet|csv to write predictions, or --top K to print them")
    if top is not None:
        prompts = (prompts or model.prompts)[:limit]
    try:
        scores = model.predict(prompts, model_ids)
    except KeyError as exc:
        fail(str(exc.args[0]))
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
    if out_path.suffix not in (".parquet", ".csv"):
        fail(f"--out {out}: use a .parquet or .csv file name")
    frame = pl.DataFrame({"prompt": prompts}).hstack(
        pl.DataFrame(scores, schema=[str(m) for m in model_ids], orient="row"))
    atomic_write(out_path, (lambda p: frame.write_parquet(p)) if out_path.suffix == ".parquet"
                 else (lambda p: frame.write_csv(p)))
    emit({"out": str(out_path), "prompts": len(prompts), "models": len(model_ids)}, as_json,
         f"wrote {len(prompts):,} prompts x {len(model_ids):,} models to {out_path}")


def _read_prompt_ids(path: Path) -> list[str]:
    import polars as pl

    if path.suffix in (".csv", ".parquet"):
        frame = pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)
        if "prompt" not in frame.columns:
            fail(f"{path}: no 'prompt' column (columns: {', '.join(frame.columns)})")
        return frame["prompt"].cast(pl.Utf8).to_list()
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@main.group()
def data():
    """Inspect record files."""


@data.command("sample")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder to write (default: data/sample in the repository).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the sample's own).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_sample(out, seed, as_json):
    """Regenerate the embedded synthetic sample (deterministic for a seed).

    \b
    Example:
      routerrec data sample                  # rewrites data/sample/ byte for byte
      routerrec data sample --out /tmp/sample --seed 7
    """
    from ..data import sample

    paths = sample.write(Path(out) if out else None, sample.SEED if seed is None else seed)
    emit({"files": [{"path": str(p), "bytes": p.stat().st_size} for p in paths]}, as_json,
         "\n".join(f"wrote {p} ({p.stat().st_size:,} bytes)" for p in paths))


@data.command("info")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@records_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_info(path, **kw):
    """Summarise a records file: sizes, density, score kind, benchmarks, costs.

    \b
    Example:
      routerrec data info ../shared/data/routerbench/mbpp_train.csv
      routerrec data info ../shared/data/openllm-v1/records.parquet --prompt-col item --score-col correct --json
    """
    as_json = kw.pop("as_json")
    if path:
        kw["data"] = (path, *kw["data"])
    records = load_cli_records(kw)
    info = records.info()
    lines = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, dict)]
    for k, v in info.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines += [f"  {kk}: {vv}" for kk, vv in v.items()]
    emit(info, as_json, "\n".join(lines))


@main.group()
def evaluate():
    """Evaluate routers and fold-in the way the field does (RouterBench, RouterEval, cold start).

    \b
    Example:
      routerrec evaluate --help
    """


# Commands of later features: each lives in its own module and is registered here.
from .tune import tune_command as _tune  # noqa: E402
main.add_command(_tune)
from .pools import pools as _pools  # noqa: E402
evaluate.add_command(_pools)
from .route import route as _route, routerbench as _routerbench  # noqa: E402
main.add_command(_route)
evaluate.add_command(_routerbench)
from .probes import add_model_command as _add_model, coldstart_command as _coldstart, probes as _probes  # noqa: E402,E501
main.add_command(_probes)
main.add_command(_add_model)
evaluate.add_command(_coldstart)
