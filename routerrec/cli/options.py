"""What every ``routerrec`` command shares: output (``emit``, ``format_table``), errors
(``fail``, from ``errors``), the option types that check values before any work (``Real``,
``SEED``), reading the user's small files, the records and method options and their parsing.

The command modules import from here and nothing here imports them, so dependencies run
one way: ``main`` -> command modules -> ``options``.
"""
from __future__ import annotations

import collections
import functools
import json
import math
from pathlib import Path

import click

from .errors import fail, reported_as
from ..util.files import strict_json
from ..util.validate import real

__all__ = ["emit", "fail", "reported_as", "format_table", "Real", "SEED", "LazyChoice",
           "learned_router_names", "text_router_names", "strategy_names", "engine_names",
           "duplicate_modes", "read_user_text", "read_user_table", "check_out_parent",
           "check_out_dir",
           "records_options", "load_cli_records", "load_cli_model", "method_options",
           "method_params", "read_tuned", "parse_value", "parse_seeds", "split_list"]

# Method options shared by every command that fits a completion model. None = method default.
_METHOD_PARAMS = ("rank", "reg", "iterations", "seed")


def emit(payload: dict, as_json: bool, text: str) -> None:
    """Print ``payload`` as strict JSON (for machines: NaN/inf as null, as in every file
    routerrec writes) or ``text`` (for people)."""
    if as_json:
        click.echo(json.dumps(strict_json(payload), indent=1, allow_nan=False, default=str))
    else:
        click.echo(text)


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain aligned text table: floats to 4 decimals, or 3 significant digits below 0.001
    (a cost of $0.00003 a call must not print as 0.0000)."""
    def cell(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            return f"{v:.3g}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"
        return str(v)
    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c)
              for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
    return "\n".join(lines)


class Real(click.FloatRange):
    """A float option checked by ``util.validate.real``: finite and within the bounds
    (``click.FloatRange`` lets nan through every bound, and inf through an upper-open one)."""

    def convert(self, value, param, ctx):
        number = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass  # real() names the option and the text
        name = param.opts[0] if param is not None else "value"
        try:
            return real(name, number, low=self.min, high=self.max, low_open=self.min_open,
                        high_open=self.max_open)
        except (TypeError, ValueError) as exc:
            raise click.UsageError(str(exc), ctx) from None


# A seed option: numpy's legacy and numba's generators take 0 .. 2**32 - 1.
SEED = click.IntRange(0, 2**32 - 1)


class LazyChoice(click.Choice):
    """A ``click.Choice`` whose values come from ``load()`` on first use, so a registry that
    imports numba (the methods, the routers) is not imported to build the command line."""

    def __init__(self, load, case_sensitive: bool = True):
        self._load = load
        self.case_sensitive = case_sensitive

    @functools.cached_property
    def choices(self) -> tuple:
        return tuple(self._load())

    def convert(self, value, param, ctx):
        if param is not None and value is param.default:
            return value  # ours: checked by the tests, not worth importing the registry for
        return super().convert(value, param, ctx)


def _method_names() -> list[str]:
    from ..methods import AUTO, METHODS

    return [AUTO, *sorted(METHODS)]


def layout_names() -> tuple[str, ...]:
    """The record layouts ``load_records`` reads (``format=``), imported on first use."""
    from ..data.readers.registry import layouts

    return tuple(layouts())


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


def policy_names() -> list[str]:
    """The online router's exploration policies (``online.explore.POLICIES``), imported on
    first use."""
    from ..online.explore import POLICIES

    return sorted(POLICIES)


def learned_router_names() -> list[str]:
    """The routers ``evaluate routerbench --routers`` accepts (the registry's learned ones),
    imported on first use."""
    from ..routing.registry import learned_routers

    return learned_routers()


def text_router_names() -> list[str]:
    """The routers ``fit --router`` accepts: those that route a new prompt from its text (the
    learned ones and the per-group baselines task-best and cluster-best)."""
    from ..routing.registry import text_routers

    return text_routers()


def read_user_text(path, option: str) -> str:
    """The UTF-8 text of a file the user named with ``option`` (a clear error otherwise)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        fail(f"{option} {path}: cannot read ({exc.strerror or exc})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{option} {path}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); "
             "save it as UTF-8")


def read_user_table(path, option: str):
    """A small CSV or Parquet file the user named with ``option``, as a polars frame."""
    import polars as pl

    path = Path(path)
    try:
        return pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - polars raises several types for unreadable files
        fail(f"{option} {path}: cannot read as {path.suffix.lstrip('.') or 'CSV'} "
             f"({type(exc).__name__}: {exc})")


def check_out_parent(path, option: str = "--out") -> None:
    """Refuse, before any work, an output path that cannot be created: one whose nearest
    existing ancestor is not a directory (``--out notes.txt/model``)."""
    ancestor = Path(path).absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{option} {path}: cannot be created, {ancestor} is not a directory")


def check_out_dir(path) -> None:
    """Refuse, before any loading or fitting, an ``--out`` that a save must not replace (a
    file, or a directory that is not routerrec's; an empty one is fine) or cannot create."""
    from ..util.artifacts import ArtifactError, check_target

    check_out_parent(path)
    try:
        check_target(path)
    except ArtifactError as exc:
        fail(f"--out {exc}")


def records_options(fn):
    """``--data`` plus column mapping options; resolved by ``load_cli_records``."""
    opts = [
        click.option("--data", "data", multiple=True, type=click.Path(),
                     help="Records file (long CSV/Parquet/JSONL, RouterBench wide, scores-json, "
                          "matrix, RouterEval pickle), an lm-eval --log_samples folder or a "
                          "routerrec serve --feedback folder; repeat for several. Default: the "
                          "embedded sample."),
        click.option("--layout", type=LazyChoice(layout_names), default=None,
                     help="Read --data as this layout (default: detected from each file)."),
        click.option("--benchmark-from-name", is_flag=True,
                     help="Each file's benchmark is its name (mmlu_train.json -> mmlu)."),
        click.option("--prices", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Per-model USD per million input/output tokens (LLMRouter's llm.json or "
                          "CSV model,input_price,output_price): costs from token counts estimated "
                          "from the prompt texts (docs/records.md)."),
        click.option("--prompt-col", default="prompt", show_default=True,
                     help="Column with prompt ids. Without a text column, ids that are "
                          "sentences (half of them or more hold a space) are also the texts."),
        click.option("--model-col", default="model", show_default=True,
                     help="Column with model ids."),
        click.option("--score-col", default="score", show_default=True,
                     help="Column with scores."),
        click.option("--cost-col", default=None, help="Column with costs (default: 'cost' if present)."),
        click.option("--benchmark-col", default=None,
                     help="Column with benchmark names (default: 'benchmark' if present)."),
        click.option("--text-col", default=None,
                     help="Column with prompt texts (default: 'text' if present); may be the "
                          "--prompt-col column."),
        click.option("--on-duplicate", type=LazyChoice(duplicate_modes),
                     default="error", show_default=True,
                     help="What to do with repeated (prompt, model) pairs."),
        click.option("--trust-pickle", is_flag=True,
                     help="Allow reading a RouterBench or RouterEval pickle (unpickling runs code: "
                          "only files you trust)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def load_cli_records(kw: dict):
    """Load the records named by ``records_options`` (popping its keys from ``kw``)."""
    from ..data.load import load_records
    from ..data.sample import load_sample

    data, prices = kw.pop("data"), kw.pop("prices", None)  # commands may offer fewer options
    mapping = dict(prompt=kw.pop("prompt_col"), model=kw.pop("model_col"),
                   score=kw.pop("score_col"), cost=kw.pop("cost_col"),
                   benchmark=kw.pop("benchmark_col"), text=kw.pop("text_col"),
                   on_duplicate=kw.pop("on_duplicate"), trust_pickle=kw.pop("trust_pickle"),
                   format=kw.pop("layout", None),
                   benchmark_from_name=kw.pop("benchmark_from_name", False))
    records = (load_records(list(data) if len(data) > 1 else data[0], **mapping) if data
               else load_sample())
    if prices:
        from ..data.prices import with_prices

        records = with_prices(records, prices)
    return records


def load_cli_model(model_dir):
    """The completion model saved in ``model_dir`` (``ModelFileError``, reported in one line
    by ``errors.ReportingGroup``, when it is not one)."""
    from ..methods.model import load_model

    return load_model(model_dir)


def method_options(fn):
    """``--method`` and the shared hyper-parameters (each method's default when omitted)."""
    opts = [
        click.option("--method", type=LazyChoice(_method_names), default="auto",
                     show_default=True,
                     help="Completion method; auto picks by score kind and data size "
                          "(docs/methods.md, Defaults)."),
        click.option("--rank", type=click.IntRange(min=1), default=None, help="Latent dimensions."),
        click.option("--reg", type=Real(min=0, min_open=True), default=None,
                     help="Regularisation strength."),
        click.option("--iterations", type=click.IntRange(min=1), default=None,
                     help="Sweeps / epochs."),
        click.option("--seed", type=SEED, default=None, help="Random seed."),
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
    """The method parameters the user set (popping them from ``kw``): a ``--params`` file's,
    then the options'. When ``kw`` names the ``method`` (and no ``router``, whose parameters
    its constructor checks) they are checked against the method's declaration here, before
    any data is loaded: an unknown name or a bad value is one line naming it."""
    params_file = kw.pop("params_file", None)
    params = read_tuned(params_file, kw) if params_file else {}
    params.update({k: kw[k] for k in _METHOD_PARAMS if kw.get(k) is not None})
    for k in _METHOD_PARAMS:
        kw.pop(k, None)
    for item in kw.pop("extra", ()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = parse_value(value)
    if "method" in kw and not kw.get("router"):
        from ..methods import check_params
        from ..methods.registry import DEFAULT_ENGINE

        with reported_as(f"--params {params_file}" if params_file else f"--method {kw['method']}"):
            check_params(kw["method"], params, engine=kw.get("engine", DEFAULT_ENGINE))
    return params


def read_tuned(path, kw: dict) -> dict:
    """The parameters in a ``routerrec tune`` file; sets ``kw["method"]`` to its method
    unless ``--method`` was given on the command line (then the two must agree)."""
    try:
        tuned = json.loads(read_user_text(path, "--params"))
        method, params = tuned["method"], tuned["best"]["params"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:
        fail(f"--params {path}: not a file written by `routerrec tune` "
             f"({type(exc).__name__}: {exc})")
    if not isinstance(method, str) or method not in _method_names():
        fail(f"--params {path}: 'method' must be one of {', '.join(_method_names())}, "
             f"got {method!r}")
    if not isinstance(params, dict):
        fail(f"--params {path}: 'best.params' must be a JSON object, got {params!r}")
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
    if isinstance(seeds, list) and not all(SEED.min <= x <= SEED.max for x in seeds):
        raise ValueError(f"seeds must be integers from {SEED.min} to {SEED.max}, got {text!r}")
    return seeds


def split_list(text: str | None, option: str) -> list[str]:
    """A comma-separated ``option`` as its non-empty, stripped items ([] for none); an item
    given twice is refused (``--models a,a`` is a typo, not a request)."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    twice = sorted(t for t, n in collections.Counter(items).items() if n > 1)
    if twice:
        fail(f"{option}: {', '.join(map(repr, twice))} given more than once")
    return items
