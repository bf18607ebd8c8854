"""``routerrec route``, ``routerrec evaluate routerbench`` and ``routerrec fit --router``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from .main import emit, fail, format_table, load_cli_records, records_options, split_list
from ..util.files import atomic_write
from ..util.progress import progress_bar

__all__ = ["route", "routerbench", "fit_router", "LEARNED"]

LEARNED = ("mf", "lightfm", "knn", "linear", "ensemble")
_BATCH = 4096


def fit_router(name: str, records, *, method: str | None, params: dict, out: Path,
               as_json: bool) -> None:
    """Body of ``routerrec fit --router NAME``: fit, save, report."""
    from ..routing.registry import make_router

    kwargs = {}
    if name == "mf":
        kwargs = {"method": method, "method_params": params or None}
    elif params:
        kwargs = params
    t0 = time.perf_counter()
    try:
        router = make_router(name, **kwargs).fit(records)
    except (ValueError, TypeError) as exc:
        fail(f"fit --router {name}: {exc}")
    seconds = time.perf_counter() - t0
    router.save(out)
    payload = {**router.summary(), "fit_seconds": seconds, "prompts": records.n_prompts,
               "models": router.models_, "out": str(out)}
    emit(payload, as_json, f"fitted {name} router on {records.n_prompts:,} prompts x "
                           f"{len(router.models_):,} models in {seconds:.2f} s "
                           f"(cost model: {router.cost_model_.kind_}); saved to {out}")


def _read_prompts(path: Path) -> tuple[list, list]:
    """(ids, texts) from a .jsonl file (``text`` or ``prompt`` field, optional ``id``) or .txt."""
    if path.suffix in (".jsonl", ".ndjson"):
        fast = _read_jsonl_fast(path)
        if fast is not None:
            return fast
        ids, texts = [], []
        for row, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                fail(f"{path}, row {row}: invalid JSON ({exc})")
            if not isinstance(obj, dict):
                fail(f"{path}, row {row}: expected a JSON object with a 'text' field")
            text = obj.get("text", obj.get("prompt"))
            if not isinstance(text, str):
                fail(f"{path}, row {row}, column 'text': missing or not a string")
            ids.append(obj.get("id", len(ids)))
            texts.append(text)
        return ids, texts
    if path.suffix == ".txt":
        texts = [line for line in path.read_text().splitlines() if line.strip()]
        return list(range(len(texts))), texts
    fail(f"--prompts {path}: use a .jsonl file (one {{\"text\": ...}} a line) or a .txt file "
         "(one prompt a line)")


def _read_jsonl_fast(path: Path):
    """(ids, texts) read by polars (Rust), or None when the file needs the row-by-row reader
    (invalid JSON, no string ``text``/``prompt`` column, a missing text): that one names the row."""
    import polars as pl

    try:
        frame = pl.read_ndjson(path)
    except Exception:  # noqa: BLE001 - any parse problem: the slow path reports the row
        return None
    col = "text" if "text" in frame.columns else "prompt"
    if col not in frame.columns or frame.schema[col] != pl.String or frame[col].null_count():
        return None
    if "text" in frame.columns and "prompt" in frame.columns and frame["text"].null_count():
        return None
    texts = frame[col].to_list()
    if "id" in frame.columns and not frame["id"].null_count():
        return frame["id"].to_list(), texts
    return (list(range(len(texts))), texts) if "id" not in frame.columns else None


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--model", "router_dir", type=click.Path(exists=True, file_okay=False), required=True,
              help="Router directory written by `routerrec fit --router`.")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False),
              help="Batch: .jsonl ({\"id\":..., \"text\":...} a line) or .txt (one prompt a line).")
@click.option("--wtp", type=click.FloatRange(min=0), default=None,
              help="Willingness to pay λ: pick argmax λ·score − cost.")
@click.option("--max-cost", type=click.FloatRange(min=0), default=None,
              help="Budget per prompt: best predicted score among models predicted to cost less.")
@click.option("--models", default=None, help="Comma-separated candidate pool (default: all).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="With --prompts: write the decisions (JSONL, one a line) here, not to stdout.")
@click.option("--n-jobs", type=click.IntRange(min=1), default=None,
              help="Threads for featurising prompts (default: all cores). Same output for any value.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def route(texts, router_dir, prompts_file, wtp, max_cost, models, out, n_jobs, as_json, quiet):
    """Route prompts to models with a fitted router.

    Each decision lists the chosen model and the predicted score and cost of every candidate.

    \b
    Example:
      routerrec fit --router mf --out out/mf
      routerrec route --model out/mf "Prove that 17 is prime." --wtp 1000
      routerrec route --model out/mf "Write a sort in C" --max-cost 0.001 --models acme-8b,acme-70b
      routerrec route --model out/mf --prompts prompts.jsonl --out decisions.jsonl --n-jobs 2
    """
    from ..routing.cost import choose
    from ..routing.base import RouterFileError
    from ..routing.registry import load_router

    if wtp is not None and max_cost is not None:
        fail("give --wtp or --max-cost, not both")
    if bool(texts) == bool(prompts_file):
        fail("give prompt texts as arguments, or a batch file with --prompts (not both)")
    if out and not prompts_file:
        fail("--out is for batch routing with --prompts")
    try:
        router = load_router(router_dir)
    except RouterFileError as exc:
        fail(str(exc))
    if hasattr(getattr(router, "encoder_", None), "n_jobs"):
        router.encoder_.n_jobs = n_jobs
    pool = split_list(models) or None
    try:
        names = router.candidates(pool)
    except (KeyError, ValueError) as exc:
        fail(f"--models: {exc.args[0]}")
    ids, texts = _read_prompts(Path(prompts_file)) if prompts_file else (list(range(len(texts))), list(texts))
    if not all(isinstance(i, int) for i in ids):
        ids = [str(i) for i in ids]  # one JSON type for the id column
    parts = []
    with progress_bar(len(texts), "routing", enabled=not (quiet or as_json) and len(texts) > _BATCH,
                      unit="prompt") as bar:
        for s in range(0, len(texts), _BATCH):
            chunk = texts[s:s + _BATCH]
            scores = router.predict(chunk, models=pool)
            costs = router.predict_cost(chunk, models=pool)
            parts.append(_decisions(ids[s:s + _BATCH], names, scores, costs,
                                    choose(scores, costs, wtp=wtp, max_cost=max_cost)))
            bar.update(len(chunk))
    import polars as pl

    frame = pl.concat(parts) if parts else None
    if out:
        atomic_write(Path(out), lambda tmp: frame.write_ndjson(tmp))
        emit({"out": out, "prompts": frame.height}, as_json,
             f"routed {frame.height:,} prompts; decisions in {out}")
    elif prompts_file:
        click.echo(frame.write_ndjson(), nl=False)
    else:
        decisions = frame.to_dicts()
        rows = [{"prompt": t[:40], "model": d["model"],
                 "score": d["candidates"][d["model"]]["score"],
                 "cost": d["candidates"][d["model"]]["cost"]} for t, d in zip(texts, decisions)]
        emit({"decisions": decisions}, as_json,
             format_table(rows, ["prompt", "model", "score", "cost"]))


def _decisions(ids, names, scores, costs, picks):
    """Decisions as a polars frame (written as NDJSON in Rust: the batch path stays fast)."""
    import polars as pl

    cands = [pl.struct(pl.Series("score", np.round(scores[:, k].astype(np.float64), 6)),
                       pl.Series("cost", costs[:, k].astype(np.float64))).alias(m)
             for k, m in enumerate(names)]
    return pl.DataFrame({"id": ids, "model": [names[j] for j in picks]}).with_columns(
        pl.struct(cands).alias("candidates"))


@click.command("routerbench")
@click.option("--train", "train_files", multiple=True, type=click.Path(dir_okay=False),
              help="Training records (repeat). RouterBench wide CSVs or any records file.")
@click.option("--test", "test_files", multiple=True, type=click.Path(dir_okay=False),
              help="Test records (repeat). Without --test, --data is split per eval.")
@records_options
@click.option("--test-fraction", type=click.FloatRange(0.05, 0.9), default=0.3, show_default=True,
              help="With --data only: seeded per-eval share of prompts held out (RouterBench: 30%).")
@click.option("--routers", default="mf,knn,linear,lightfm", show_default=True,
              help="Comma-separated learned routers.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=200, show_default=True,
              help="Bootstrap resamples of the test prompts for intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Split and bootstrap seed.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for report.json, report.md and one PNG per eval.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def routerbench(train_files, test_files, test_fraction, routers, bootstrap, seed, out, as_json,
                quiet, **kw):
    """RouterBench-style evaluation: cost-quality hulls, zero router, oracle, AIQ.

    \b
    Example:
      routerrec evaluate routerbench --train ../shared/data/routerbench/mbpp_train.csv \\
          --test ../shared/data/routerbench/mbpp_test.csv --routers mf,knn --out out/rb
      routerrec evaluate routerbench --data records.parquet --test-fraction 0.3 --out out/rb
    """
    from ..evaluation.routerbench import evaluate_routerbench, write_report
    from ..routing.registry import ROUTERS

    names = split_list(routers)
    bad = [r for r in names if r not in LEARNED]
    if bad:
        fail(f"--routers: unknown learned router(s) {bad}; choose from {', '.join(LEARNED)} "
             f"(reference routers {sorted(set(ROUTERS) - set(LEARNED))} are always reported)")
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
    try:
        report = evaluate_routerbench(train, test, routers=names, bootstrap=bootstrap, seed=seed,
                                      progress=not (quiet or as_json))
    except ValueError as exc:
        fail(f"evaluate routerbench: {exc}")
    files = write_report(report, Path(out))
    rows = []
    for ev, e in report["evals"].items():
        for r, a in e["aiq"].items():
            rows.append({"eval": ev, "router": r, "aiq_code": a["code"], "aiq_paper": a["paper"],
                         "gap_closed": e["gap_closed"][r]["share"] if r in e["gap_closed"] else ""})
    emit({"summary": report["summary"], "files": {k: [str(p) for p in v] if isinstance(v, list)
                                                  else str(v) for k, v in files.items()}},
         as_json, format_table(rows, ["eval", "router", "aiq_code", "aiq_paper", "gap_closed"])
         + f"\nwrote {files['json']}, {files['markdown']} and {len(files['plots'])} plot(s)")
