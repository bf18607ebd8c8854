"""``routerrec route`` and the body of ``routerrec fit --router``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from .options import (Real, check_out_parent, emit, fail, format_table, read_user_text,
                      reported_as, split_list)
from ..util.files import atomic_write
from ..util.progress import progress_bar

__all__ = ["route", "fit_router", "read_prompts", "load_cli_router", "routing_keys"]

_BATCH = 4096


def fit_router(name: str, records, *, method: str | None, params: dict, out: Path,
               as_json: bool, embeddings: str | None = None) -> None:
    """Body of ``routerrec fit --router NAME``: fit, save, report (``embeddings``: a vectors
    file for the ``precomputed`` encoder)."""
    from ..routing.registry import make_router

    kwargs = {}
    if name == "mf":
        kwargs = {"method": method, "method_params": params or None}
    elif params:
        kwargs = params
    if embeddings:
        kwargs.update(encoder="precomputed", encoder_params={"path": str(embeddings)})
    t0 = time.perf_counter()
    with reported_as(f"fit --router {name}"):
        router = make_router(name, **kwargs).fit(records)
    seconds = time.perf_counter() - t0
    router.save(out)
    payload = {**router.summary(), "fit_seconds": seconds, "prompts": records.n_prompts,
               "models": router.models_, "out": str(out)}
    emit(payload, as_json, f"fitted {name} router on {records.n_prompts:,} prompts x "
                           f"{len(router.models_):,} models in {seconds:.2f} s "
                           f"(cost model: {router.cost_model_.kind_}); saved to {out}"
                           + _groups_line(payload))


def _groups_line(summary: dict) -> str:
    """What a per-group router (task-best, cluster-best) says about its groups: each one's
    model and the task classifier's held-out accuracy (unlabeled prompts are classified)."""
    if "group_best" not in summary:
        return ""
    kind = "tasks" if summary["by"] == "task" else "k-means clusters"
    acc = summary["classifier_accuracy"]
    return (f"\n{len(summary['group_best'])} {kind}: "
            + ", ".join(f"{g} → {m}" for g, m in summary["group_best"].items())
            + (f"\ntask classifier (for prompts without a task label): {acc:.1%} accurate in "
               "5-fold cross-validation on the training prompts" if acc is not None else ""))


def read_prompts(path: Path) -> tuple[list, list]:
    """(ids, texts) from a .jsonl file (``text`` or ``prompt`` field, optional ``id``) or .txt;
    a file that is not UTF-8 or holds no prompt is refused, naming it."""
    if path.suffix not in (".jsonl", ".ndjson", ".txt"):
        fail(f"--prompts {path}: use a .jsonl file (one {{\"text\": ...}} a line) or a .txt "
             "file (one prompt a line)")
    content = read_user_text(path, "--prompts")
    if not content.strip():
        fail(f"--prompts {path}: no prompts (the file is empty or holds only blank lines)")
    if path.suffix == ".txt":
        texts = [line for line in content.splitlines() if line.strip()]
        return list(range(len(texts))), texts
    fast = _read_jsonl_fast(path)
    if fast is not None:
        return fast
    ids, texts = [], []
    for row, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            fail(f"--prompts {path}, row {row}: invalid JSON ({type(exc).__name__}: {exc})")
        if not isinstance(obj, dict):
            fail(f"--prompts {path}, row {row}: expected a JSON object with a 'text' field")
        text = obj.get("text", obj.get("prompt"))
        if not isinstance(text, str):
            fail(f"--prompts {path}, row {row}, column 'text': missing or not a string")
        ident = obj.get("id", len(ids))
        if isinstance(ident, bool) or not isinstance(ident, (str, int)):
            fail(f"--prompts {path}, row {row}, column 'id': must be a string or an integer, "
                 f"got {json.dumps(ident)[:60]}")
        ids.append(ident)
        texts.append(text)
    return ids, texts


def _read_jsonl_fast(path: Path):
    """(ids, texts) read by polars (Rust), or None when the file needs the row-by-row reader
    (invalid JSON, no string ``text``/``prompt`` column, a missing text, an id that is not a
    string or an integer): that one names the row."""
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
        kind = frame.schema["id"]
        return (frame["id"].to_list(), texts) if kind == pl.String or kind.is_integer() else None
    return (list(range(len(texts))), texts) if "id" not in frame.columns else None


def load_cli_router(router_dir, *, embeddings=None, n_jobs=None):
    """The router of ``--router DIR``, knowing the vectors of ``--embeddings FILE`` (only for a
    router fitted with ``--embeddings``), featurising on ``n_jobs`` threads."""
    from ..routing.encoders import PrecomputedEncoder
    from ..routing.registry import load_router

    router = load_router(router_dir)
    encoder = getattr(router, "encoder_", None)
    if embeddings:
        if not isinstance(encoder, PrecomputedEncoder):
            fail(f"--embeddings {embeddings}: the router in {router_dir} uses the "
                 f"{getattr(encoder, 'name', 'no')} encoder, which reads prompt texts; "
                 "--embeddings is for routers fitted with --embeddings")
        with reported_as(f"--embeddings {embeddings}"):
            router.encoder_ = encoder.add_vectors(embeddings)
    if hasattr(encoder, "n_jobs"):
        encoder.n_jobs = n_jobs
    return router


def routing_keys(router, ids, texts, *, from_file: bool) -> list:
    """What the router looks prompts up by: their texts, or their ids for a router fitted with
    embeddings keyed by prompt id (those need a --prompts .jsonl file with ids)."""
    if getattr(getattr(router, "encoder_", None), "keyed_by", "text") != "id":
        return texts
    if not from_file:
        fail("this router looks prompts up by id (it was fitted with --embeddings keyed by "
             "prompt id): give --prompts FILE.jsonl with an \"id\" per prompt")
    return [str(i) for i in ids]


@click.command()
@click.argument("texts", nargs=-1)
@click.option("--router", "router_dir", type=click.Path(exists=True, file_okay=False),
              help="Router directory written by `routerrec fit --router` (required).")
@click.option("--model", "old_router_dir", type=click.Path(exists=True, file_okay=False),
              hidden=True, help="The old name of --router (it takes a router, not a model).")
@click.option("--prompts", "prompts_file", type=click.Path(exists=True, dir_okay=False),
              help="Batch: .jsonl ({\"id\":..., \"text\":...} a line) or .txt (one prompt a line).")
@click.option("--wtp", type=Real(min=0), default=None,
              help="Willingness to pay λ: pick argmax λ·score − cost.")
@click.option("--max-cost", type=Real(min=0), default=None,
              help="Budget per prompt: best predicted score among models predicted to cost less.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The wtp (and pool) from `routerrec calibrate --out FILE`, in place of --wtp.")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Vectors of new prompts (Parquet/.npy) for a router fitted with --embeddings.")
@click.option("--models", default=None, help="Comma-separated candidate pool (default: all).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="With --prompts: write the decisions (JSONL, one a line) here, not to stdout.")
@click.option("--n-jobs", type=click.IntRange(min=1), default=None,
              help="Threads for featurising prompts (default: all cores). Same output for any value.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def route(texts, router_dir, old_router_dir, prompts_file, wtp, max_cost, calibration, embeddings,
          models, out, n_jobs, as_json, quiet):
    """Route prompts to models with a fitted router.

    Each decision lists the chosen model and the predicted score and cost of every candidate.

    \b
    Example:
      routerrec fit --router mf --out out/mf
      routerrec route --router out/mf "Prove that 17 is prime." --wtp 1000
      routerrec route --router out/mf "Write a sort in C" --max-cost 0.001 --models acme-8b,acme-70b
      routerrec route --router out/mf --prompts prompts.jsonl --out decisions.jsonl --n-jobs 2
      routerrec route --router out/mf --prompts prompts.jsonl --calibration calibration.json
    """

    if router_dir and old_router_dir:
        fail("--model is the old name of --router: give one of them")
    router_dir = router_dir or old_router_dir
    if not router_dir:
        raise click.MissingParameter(param_hint="'--router'", param_type="option")
    if sum(x is not None for x in (wtp, max_cost, calibration)) > 1:
        fail("give one of --wtp, --max-cost and --calibration")
    if bool(texts) == bool(prompts_file):
        fail("give prompt texts as arguments, or a batch file with --prompts (not both)")
    if out and not prompts_file:
        fail("--out is for batch routing with --prompts")
    if out:
        check_out_parent(out)
    pool = split_list(models, "--models") or None
    if calibration:
        from ..routing.calibrate import read_calibration

        wtp, calibrated = read_calibration(calibration, router_dir)
        if pool is not None and pool != calibrated:
            fail(f"--models {models}: {calibration} was calibrated on "
                 f"{'the pool ' + ','.join(calibrated) if calibrated else 'every model'}; "
                 "leave out --models (the calibration's pool is used)")
        pool = calibrated
    ids, texts = (read_prompts(Path(prompts_file)) if prompts_file
                  else (list(range(len(texts))), list(texts)))
    router = load_cli_router(router_dir, embeddings=embeddings, n_jobs=n_jobs)
    keys = routing_keys(router, ids, texts, from_file=bool(prompts_file))
    with reported_as("--models"):
        names = router.candidates(pool)
    if not all(isinstance(i, int) for i in ids):
        ids = [str(i) for i in ids]  # one JSON type for the id column
    parts = []
    with progress_bar(len(texts), "routing", enabled=not (quiet or as_json) and len(texts) > _BATCH,
                      unit="prompt") as bar:
        for s in range(0, len(texts), _BATCH):
            chunk = keys[s:s + _BATCH]
            scores = router.predict(chunk, models=pool)
            costs = router.predict_cost(chunk, models=pool)
            parts.append(_decisions(ids[s:s + _BATCH], names, scores, costs,
                                    router.choose(scores, costs, wtp=wtp, max_cost=max_cost),
                                    router.explain(chunk) if hasattr(router, "explain") else None))
            bar.update(len(chunk))
    import polars as pl

    frame = pl.concat(parts)
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


def _decisions(ids, names, scores, costs, picks, why=None):
    """Decisions as a polars frame (written as NDJSON in Rust: the batch path stays fast);
    ``why``: a router's reason per prompt (``auto``'s group decision), when it gives one."""
    import polars as pl

    cands = [pl.struct(pl.Series("score", np.round(scores[:, k].astype(np.float64), 6)),
                       pl.Series("cost", costs[:, k].astype(np.float64))).alias(m)
             for k, m in enumerate(names)]
    frame = pl.DataFrame({"id": ids, "model": [names[j] for j in picks]}).with_columns(
        pl.struct(cands).alias("candidates"))
    return frame if why is None else frame.with_columns(pl.Series("why", why, dtype=pl.String))
