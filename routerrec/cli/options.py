"""What every ``routerrec`` command shares: output (``emit``, ``format_table``), errors
(``fail``), the records and method options and their parsing.

The command modules import from here and nothing here imports them, so dependencies run
one way: ``main`` -> command modules -> ``options``.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import click
import numpy as np

__all__ = ["emit", "fail", "format_table", "LazyChoice", "learned_router_names", "strategy_names", "engine_names",
           "duplicate_modes",
           "records_options", "load_cli_records", "load_cli_model", "method_options",
           "method_params", "read_tuned", "parse_value", "parse_seeds", "split_list"]

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
    """Stop with a clear one-line error and exit status 1 (no traceback for bad input)."""
    raise click.ClickException(message)


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


class LazyChoice(click.Choice):
    """A ``click.Choice`` whose values come from ``load()`` on first use, so a registry that
    imports numba (the methods, the routers) is not imported to build the command line."""

    def __init__(self, load, case_sensitive: bool = True):
        self._load = load
        self.case_sensitive = case_sensitive

    @functools.cached_property
    def choices(self) -> tuple:
        return tuple(self._load())


def _method_names() -> list[str]:
    from ..methods import METHODS

    return sorted(METHODS)


def engine_names() -> tuple[str, ...]:
    """The engines of ``routerrec.methods`` (where a method can run), imported on first use."""
    from ..methods import ENGINES

    return ENGINES


def duplicate_modes() -> tuple[str, ...]:
    """What ``load_records`` can do with repeated (prompt, model) pairs."""
    from ..data.load import DUPLICATE_MODES

    return DUPLICATE_MODES


def strategy_names() -> tuple[str, ...]:
    """The probe strategies of ``routerrec.coldstart.probes``, imported on first use."""
    from ..coldstart.probes import STRATEGIES

    return STRATEGIES


def learned_router_names() -> list[str]:
    """The routers ``fit --router`` and ``evaluate routerbench --routers`` accept (the registry's
    learned ones), imported on first use."""
    from ..routing.registry import learned_routers

    return learned_routers()


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
        click.option("--on-duplicate", type=LazyChoice(duplicate_modes),
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


def load_cli_model(model_dir):
    """The completion model saved in ``model_dir`` (a clear error when it is not one)."""
    from ..methods.model import ModelFileError, load_model

    try:
        return load_model(model_dir)
    except ModelFileError as exc:
        fail(str(exc))


def method_options(fn):
    """``--method`` and the shared hyper-parameters (each method's default when omitted)."""
    opts = [
        click.option("--method", type=LazyChoice(_method_names), default="als",
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


def method_params(kw: dict) -> dict:
    """The method parameters the user set (popping them from ``kw``)."""
    params_file = kw.pop("params_file", None)
    if params_file:
        return {**read_tuned(params_file, kw), **method_params(kw)}
    params = {k: kw.pop(k) for k in _METHOD_PARAMS if kw.get(k) is not None}
    for k in _METHOD_PARAMS:
        kw.pop(k, None)
    for item in kw.pop("extra", ()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = parse_value(value)
    return params


def read_tuned(path, kw: dict) -> dict:
    """The parameters in a ``routerrec tune`` file; sets ``kw["method"]`` to its method
    unless ``--method`` was given on the command line (then the two must agree)."""
    try:
        tuned = json.loads(Path(path).read_text())
        method, params = tuned["method"], dict(tuned["best"]["params"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        fail(f"--params {path}: not a file written by `routerrec tune` ({exc})")
    source = click.get_current_context().get_parameter_source("method")
    if source is click.core.ParameterSource.COMMANDLINE and kw["method"] != method:
        fail(f"--params {path} holds settings for --method {method}, not {kw['method']}")
    kw["method"] = method
    return params


def parse_value(text: str):
    """A ``KEY=VALUE`` option's value as int, float, bool or, failing those, the text."""
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


def split_list(text: str | None) -> list[str]:
    """A comma-separated option as its non-empty, stripped items ([] for none)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()]
