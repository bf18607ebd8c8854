"""The cases of ``bench_hostile.py``: hostile input to the ``routerrec`` command and the API.

Each case runs in its own folder (its cwd) in a fresh process. ``setup(folder)`` writes the
files it needs there; the fixtures (small records, a fitted model, a fitted router) are built
once in ``FIX`` and only read. ``expect`` is "error" (one clear line is the right answer),
"ok", or "any" (success or a clear error are both right: the point is no traceback, hang or
loss). ``names`` are words the error line must hold (the option, file or parameter).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

import hostile_setup as fx
from hostile_setup import (bit_flip, both, copy_of, csv_file, edit_arrays, edit_manifest, fifo,
                           foreign_dir, frame, huge_header, lying_zip, nan_first,
                           parquet_list_ids, set_field, truncate, truncated_parquet, webapp_dir,
                           write)


@dataclass
class Case:
    name: str
    group: str
    argv: list | None = None       # routerrec arguments ("{fix}" is the fixtures folder)
    code: str | None = None        # Python run by the API harness (FIX is the fixtures path)
    expect: str = "error"
    names: tuple = ()
    setup: Callable[[Path], None] | None = None
    may_change: tuple = ()         # paths (in the case folder) the command may rewrite
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the cases

TINY, SMALL, CONT = "{fix}/tiny.csv", "{fix}/small.parquet", "{fix}/cont.csv"
NOCOST, MODEL, ROUTER = "{fix}/nocost.csv", "{fix}/model", "{fix}/router"
STRING_RANK = json.dumps({"method": "als", "best": {"params": {"rank": "8"}}})


def _fit(*args, data=TINY):
    return ["fit", "--data", data, "--rank", "2", "--iterations", "2", "--quiet", *args]


def _fit_params(name: str) -> list:
    """``fit --params name`` without --rank / --iterations (the options would win)."""
    return ["fit", "--data", TINY, "--quiet", "--out", "m", "--params", name]


def _options(group: str, command: list, table: list) -> list[Case]:
    """Cases ``command + args`` from rows (name, args, words the error must hold)."""
    return [Case(name, group, [*command, *args], names=words) for name, args, words in table]


def option_cases() -> list[Case]:
    fit_values = [("--reg", "nan"), ("--reg", "inf"), ("--reg", "-1"), ("--reg", "0"),
                  ("--reg", "abc"), ("--holdout", "nan"), ("--holdout", "1.0"),
                  ("--holdout", "-0.1"), ("--rank", "0"), ("--rank", "2.5"), ("--iterations", "0"),
                  ("--seed", "-1"), ("--holdout-seed", "-5")]
    cases = [Case(f"fit {option} {value}", "options", _fit("--out", "m", option, value),
                  names=(option,)) for option, value in fit_values]
    cases.append(Case("fit --rank 100000 on the sample", "options",
                      ["fit", "--rank", "100000", "--iterations", "1", "--out", "m", "--quiet"],
                      names=("rank",)))
    for item, word in [("rank=abc", "rank"), ("bogus=1", "bogus"), ("reg=nan", "reg"),
                       ("rank=true", "rank"), ("noequals", "--param")]:
        cases.append(Case(f"fit --param {item}", "options", _fit("--out", "m", "--param", item),
                          names=(word,)))
    for name, text in [("string-rank", STRING_RANK), ("a-list", "[1, 2]"),
                       ("unknown-method", '{"method": "nope", "best": {"params": {}}}'),
                       ("inf-rank", '{"method": "als", "best": {"params": {"rank": 1e400}}}'),
                       ("latin-1", b"\xff{}"), ("empty", b"")]:
        cases.append(Case(f"fit --params {name}", "options", _fit_params(f"{name}.json"),
                          setup=write(f"{name}.json", text), names=(f"{name}.json",)))
    cases += [
        Case("fit --engine spark --method knn", "options",
             _fit("--out", "m", "--engine", "spark", "--method", "knn")),
        Case("fit --feedback implicit --holdout 0.1", "options",
             _fit("--out", "m", "--feedback", "implicit", "--holdout", "0.1"),
             names=("--holdout",)),
        Case("fit --holdout 0.5 on tiny data", "options", _fit("--out", "m", "--holdout", "0.5"),
             expect="any"),
        Case("fit --holdout 0.5 on one-prompt data", "options",
             _fit("--out", "m", "--holdout", "0.5", data="one.csv"), expect="any",
             setup=frame("one.csv", prompt=["a"] * 4, model=list("wxyz"), score=[1.0, 0, 1, 0])),
        Case("fit --holdout 0.5 on one-model data", "options",
             _fit("--out", "m", "--holdout", "0.5", data="one.csv"), expect="any",
             setup=frame("one.csv", prompt=list("abcd"), model=["x"] * 4, score=[1.0, 0, 1, 0])),
        Case("fit --router linear --param alpha=-1", "options",
             ["fit", "--router", "linear", "--data", SMALL, "--param", "alpha=-1", "--out", "r"],
             names=("alpha",)),
        Case("route an empty prompt", "options", ["route", "--router", ROUTER, ""], expect="any"),
        Case("probes --k 1000000", "options", ["probes", "--model", MODEL, "--k", "1000000"],
             expect="any"),
        Case("tune on a tiny validation set", "options",
             ["tune", "--method", "als", "--data", TINY, "--validation", "0.01", "--grid",
              "rank=2", "--param", "iterations=1", "--out", "t.json", "--quiet"], expect="any"),
        Case("coldstart --params string rank", "options",
             ["evaluate", "coldstart", "--params", "p.json", "--out", "cs", "--quiet"],
             setup=write("p.json", STRING_RANK), names=("rank",)),
    ]
    cases += _options("options", ["route", "--router", ROUTER, "hi"], [
        ("route --wtp nan", ["--wtp", "nan"], ("--wtp",)),
        ("route --wtp inf", ["--wtp", "inf"], ("--wtp",)),
        ("route --wtp -1", ["--wtp", "-1"], ("--wtp",)),
        ("route --max-cost nan", ["--max-cost", "nan"], ("--max-cost",)),
        ("route --max-cost -1", ["--max-cost", "-1"], ("--max-cost",)),
        ("route --wtp and --max-cost", ["--wtp", "1", "--max-cost", "1"], ("--max-cost",)),
        ("route --models twice", ["--models", "acme-8b,acme-8b"], ("--models",)),
        ("route --models unknown", ["--models", "nope"], ("nope",)),
        ("route --n-jobs 0", ["--n-jobs", "0"], ("--n-jobs",))])
    cases.append(Case("route without prompts", "options", ["route", "--router", ROUTER]))
    cases += _options("options", ["predict", "--model", MODEL], [
        ("predict --models twice", ["--top", "1", "--models", "acme-8b,acme-8b"], ("--models",)),
        ("predict --models unknown", ["--top", "1", "--models", "nope"], ("nope",)),
        ("predict --out .txt", ["--out", "p.txt"], ("p.txt",)),
        ("predict --top 0", ["--top", "0"], ("--top",)),
        ("predict without --out or --top", [], ("--out",))])
    cases += _options("options", ["probes", "--model", MODEL], [
        ("probes --k 0", ["--k", "0"], ("--k",)),
        ("probes --benchmarks bogus", ["--benchmarks", "bogus"], ("bogus",))])
    cases += _options("options", ["tune", "--method", "als", "--out", "t.json", "--quiet"], [
        ("tune --metric auc on continuous scores", ["--data", CONT, "--metric", "auc", "--grid",
                                                    "rank=2", "--param", "iterations=1"],
         ("auc",)),
        ("tune --grid rank=a", ["--data", TINY, "--grid", "rank=a"], ("rank",)),
        ("tune --validation nan", ["--data", TINY, "--validation", "nan"], ("--validation",)),
        ("tune --method bogus", ["--data", TINY, "--method", "bogus"], ("bogus",))])
    cases += _options("options", ["evaluate", "coldstart", "--rank", "2", "--iterations", "1",
                                  "--out", "cs", "--quiet"], [
        ("coldstart --budgets 100000", ["--budgets", "100000"], ("100000",)),
        ("coldstart --param bogus=1", ["--param", "bogus=1"], ("bogus",)),
        ("coldstart --budgets 0", ["--budgets", "0"], ("--budgets",)),
        ("coldstart --budgets abc", ["--budgets", "abc"], ("--budgets",)),
        ("coldstart --holdout-models nan", ["--holdout-models", "nan"], ("--holdout-models",)),
        ("coldstart --strategies bogus", ["--strategies", "bogus"], ("bogus",))])
    cases += _options("options", ["evaluate", "routerbench", "--out", "rb", "--quiet"], [
        ("routerbench --routers bogus", ["--data", SMALL, "--routers", "bogus"], ("bogus",)),
        ("routerbench --test-fraction nan", ["--data", SMALL, "--test-fraction", "nan"],
         ("--test-fraction",))])
    # records without costs are evaluated at maximum quality (no AIQ): a success
    cases.append(Case("routerbench without costs", "options",
                      ["evaluate", "routerbench", "--out", "rb", "--quiet", "--data", NOCOST,
                       "--routers", "linear", "--bootstrap", "0"], expect="ok"))
    cases += _options("options", ["evaluate", "pools", "--out", "p", "--quiet"], [
        ("pools --pools abc", ["--data", SMALL, "--pools", "abc"], ("--pools",)),
        ("pools --seeds 0", ["--data", SMALL, "--seeds", "0"], ("--seeds",)),
        ("pools on records without benchmarks", ["--data", TINY], ("benchmark",))])
    return cases


def record_cases() -> list[Case]:
    """Bad records files of every layout, read by ``data info`` and ``fit``."""
    head = "prompt,model,score\n"
    files = [
        ("no score column", "r.csv", csv_file("r.csv", "prompt,model\na,x\n"), ("score",)),
        ("text score", "r.csv", csv_file("r.csv", head + "a,x,1\nb,x,oops\n"), ("row",)),
        ("nan score", "r.csv", csv_file("r.csv", head + "a,x,1\nb,x,nan\n"), ("row",)),
        ("inf score", "r.csv", csv_file("r.csv", head + "a,x,1\nb,x,inf\n"), ("row",)),
        ("score 1e39", "r.csv", csv_file("r.csv", head + "a,x,1\nb,x,1e39\n"), ("row",)),
        ("cost 1e39", "r.csv", csv_file("r.csv", "prompt,model,score,cost\na,x,1,1e39\n"),
         ("row",)),
        ("utf-16 csv", "r.csv", csv_file("r.csv", head + "a,x,1\n", "utf-16"), ("UTF-8",)),
        ("latin-1 csv", "r.csv", csv_file("r.csv", head + "caf\xe9,x,1\n", "latin-1"), ("UTF-8",)),
        ("empty csv", "r.csv", write("r.csv", b""), ()),
        ("header only", "r.csv", csv_file("r.csv", head), ()),
        ("binary garbage csv", "r.csv", write("r.csv", bytes(range(256)) * 8), ()),
        ("ids 'p1' and 'p1 '", "r.csv", csv_file("r.csv", head + "p1,x,1\np1 ,x,0\n"), ("p1",)),
        ("an all-space id", "r.csv", csv_file("r.csv", head + "   ,x,1\nb,x,0\n"), ("row",)),
        ("jsonl list ids", "r.jsonl",
         write("r.jsonl", '{"prompt": ["a"], "model": "x", "score": 1}\n'), ("row",)),
        ("jsonl object model", "r.jsonl",
         write("r.jsonl", '{"prompt": "a", "model": {"m": 1}, "score": 1}\n'), ("row",)),
        ("jsonl deep nesting", "r.jsonl",
         write("r.jsonl", '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n"), ()),
        ("jsonl invalid line", "r.jsonl",
         write("r.jsonl", '{"prompt": "a", "model": "x", "score": 1}\n{oops\n'), ("2",)),
        ("jsonl array line", "r.jsonl", write("r.jsonl", "[1, 2, 3]\n"), ()),
        ("empty jsonl", "r.jsonl", write("r.jsonl", b""), ()),
        ("parquet list ids", "r.parquet", parquet_list_ids, ("prompt",)),
        ("truncated parquet", "r.parquet", truncated_parquet, ()),
        ("random bytes parquet", "r.parquet", write("r.parquet", os.urandom(4096)), ()),
        ("routerbench text score", "rb.csv",
         csv_file("rb.csv", "sample_id,prompt,eval_name,m1,m1|total_cost\n"
                            "s1,\"['hi']\",e,abc,0.1\n"),
         ("m1",)),
        ("routerbench pickle untrusted", "rb.pkl", write("rb.pkl", b"\x80\x04N."), ("pickle",)),
        ("scores-json text score", "s.json",
         write("s.json", '[{"question": "q", "scores": {"m1": "abc", "m2": 1}}]'), ("m1",)),
        ("scores-json scores not an object", "s.json",
         write("s.json", '[{"question": "q", "scores": [1, 2]}]'), ()),
        ("matrix text cell", "mx.csv",
         csv_file("mx.csv", "item,m1,m2\n" + "".join(f"q{i},1,0\n" for i in range(200))
                  + "qx,abc,1\n"),
         ("m1",)),
        ("unknown suffix", "r.xyz", csv_file("r.xyz", head + "a,x,1\n"), ("r.xyz",)),
    ]
    cases = [Case(f"data info: {label}", "records", ["data", "info", name], setup=setup,
                  names=(name, *words)) for label, name, setup, words in files]
    cases += [Case(f"fit: {label}", "records", _fit("--out", "m", data=name), setup=setup,
                   names=(name,)) for label, name, setup, words in files[:6]]
    cases += [
        Case("data info: missing file", "records", ["data", "info", "absent.csv"],
             names=("absent.csv",)),
        Case("data info: a directory", "records", ["data", "info", "."]),
        Case("data info: --prompt-col absent", "records",
             ["data", "info", TINY, "--prompt-col", "item"], names=("item",)),
    ]
    return cases


def prompt_cases() -> list[Case]:
    """``route --prompts`` and ``predict --prompts`` files."""
    files = [("latin-1.txt", "caf\xe9\n".encode("latin-1")),
             ("utf-16.jsonl", '{"text": "hi"}\n'.encode("utf-16")),
             ("empty.txt", b""), ("blank.txt", b"\n  \n\t\n"), ("blank.jsonl", b"\n\n"),
             ("list-id.jsonl", b'{"id": ["a"], "text": "hi"}\n'),
             ("deep.jsonl", b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"),
             ("invalid.jsonl", b'{"text": "hi"}\n{oops\n'),
             ("null-text.jsonl", b'{"text": null}\n'), ("p.csv", b"text\nhi\n")]
    cases = [Case(f"route --prompts {name}", "prompts",
                  ["route", "--router", ROUTER, "--prompts", name],
                  setup=write(name, data), names=(name,)) for name, data in files]
    cases += [Case(f"predict --prompts {name}", "prompts",
                   ["predict", "--model", MODEL, "--prompts", name, "--top", "1"],
                   setup=write(name, data), names=(name,))
              for name, data in [("latin-1.txt", b"caf\xe9\n"), ("blank.txt", b"\n \n"),
                                 ("unknown.txt", b"no-such-prompt\n"), ("ids.csv", b"id\na\n")]]
    return cases


def _add(*args) -> list:
    return ["add-model", "--model", MODEL, *args]


def _results(scores: list, prompts: list | None = None, repeat: bool = False):
    """A setup writing res.csv: ``scores`` for ``prompts`` (default: the model's first ones;
    with ``repeat``, its first one each time)."""
    def setup(folder: Path) -> None:
        known = pl.read_parquet(fx.FIX / "small.parquet")["prompt"].unique(maintain_order=True)
        ids = prompts or ([known[0]] * len(scores) if repeat else known.to_list()[: len(scores)])
        pl.DataFrame({"prompt": ids, "score": scores}).write_csv(folder / "res.csv")
    return setup


def add_model_cases() -> list[Case]:
    return [
        Case("add-model scores 5 and -3", "add-model",
             _add("--name", "new", "--results", "res.csv"),
             setup=_results([5.0, -3.0]), names=("score",)),
        Case("add-model --name ''", "add-model", _add("--name", "", "--results", "res.csv"),
             setup=_results([1.0, 0.0])),
        Case("add-model --name a,b", "add-model", _add("--name", "a,b", "--results", "res.csv"),
             setup=_results([1.0, 0.0]), names=("a,b",)),
        Case("add-model --name ' x'", "add-model", _add("--name", " x", "--results", "res.csv"),
             setup=_results([1.0, 0.0])),
        Case("add-model --name of a known model", "add-model",
             _add("--name", "acme-8b", "--results", "res.csv"), setup=_results([1.0, 0.0]),
             names=("acme-8b",)),
        Case("add-model text scores", "add-model", _add("--name", "new", "--results", "res.csv"),
             setup=_results(["a", "b"]), names=("score",)),
        Case("add-model unknown prompt", "add-model", _add("--name", "new", "--results", "res.csv"),
             setup=_results([1.0], prompts=["nope"]), names=("nope",)),
        Case("add-model repeated prompt", "add-model",
             _add("--name", "new", "--results", "res.csv"),
             setup=_results([1.0, 0.0], repeat=True), names=("res.csv", "repeated")),
        Case("add-model no answers", "add-model", _add("--name", "new", "--results", "res.csv"),
             setup=write("res.csv", "prompt,score\n")),
        Case("add-model --level 1.5", "add-model",
             _add("--name", "new", "--results", "res.csv", "--level", "1.5"),
             setup=_results([1.0, 0.0]), names=("--level",)),
    ]


def out_dir_cases() -> list[Case]:
    """Saving onto what the user has: refused (and untouched) or replaced whole, no litter."""
    return [
        Case("fit --out a directory of the user's", "out dir", _fit("--out", "mine"),
             setup=foreign_dir, names=("--out", "mine")),
        Case("fit --out a web app with its own manifest.json", "out dir", _fit("--out", "app"),
             setup=webapp_dir, names=("app",)),
        Case("fit --router --out a directory of the user's", "out dir",
             ["fit", "--router", "linear", "--data", SMALL, "--out", "mine"], setup=foreign_dir,
             names=("mine",)),
        Case("add-model --out a directory of the user's", "out dir",
             _add("--name", "new", "--results", "res.csv", "--out", "mine"),
             setup=both(foreign_dir, _results([1.0, 0.0])), names=("mine",)),
        Case("fit --out an empty directory", "out dir", _fit("--out", "empty"),
             setup=lambda f: (f / "empty").mkdir(), expect="ok", may_change=("empty",)),
        Case("fit --out over a model", "out dir", _fit("--out", "d"), setup=copy_of("model"),
             expect="ok", may_change=("d",)),
        Case("fit --reg nan --out over a model", "out dir", _fit("--out", "d", "--reg", "nan"),
             setup=copy_of("model"), names=("--reg",)),
        Case("fit --out a file", "out dir", _fit("--out", "f"), setup=write("f", "mine")),
        Case("fit --out under a file", "out dir", _fit("--out", "f/m"), setup=write("f", "mine"),
             names=("--out", "not a directory")),
        Case("fit bad data --out over a model", "out dir", _fit("--out", "d", data="r.csv"),
             setup=both(copy_of("model"), csv_file("r.csv", "prompt,model,score\na,x,oops\n")),
             names=("r.csv",)),
    ]


def _huge_dims(manifest: dict) -> None:
    manifest["state"]["encoder"]["params"].update(dim=1_000_000_000, n_features=1 << 40)


DAMAGES = [
    ("truncated arrays.npz", truncate), ("bit-flipped arrays.npz", bit_flip),
    ("arrays.npz a FIFO", fifo), ("npy header claiming 745 GiB", huge_header),
    ("zip claiming 3 GB", lying_zip), ("manifest not JSON", edit_manifest(text="{oops")),
    ("manifest deeply nested", edit_manifest(text="[" * 100_000 + "]" * 100_000)),
    ("format version 99", edit_manifest(set_field(("format_version",), 99))),
    ("no manifest", lambda d: (d / "manifest.json").unlink()),
    ("empty directory", lambda d: [p.unlink() for p in d.iterdir()]),
    ("arrays.npz a directory", lambda d: ((d / "arrays.npz").unlink(), (d / "arrays.npz").mkdir())),
]
MODEL_DAMAGES = [
    ("NaN factors", edit_arrays(nan_first("prompt_factors"))),
    ("NaN global mean", edit_manifest(set_field(("global_mean",), float("nan")))),
    ("inverted clip range", edit_manifest(set_field(("clip",), [1.0, 0.0]))),
    ("fewer prompt ids than rows", edit_manifest(lambda m: m["prompts"].pop())),
]
ROUTER_DAMAGES = [
    ("manifest claiming huge feature dims", edit_manifest(_huge_dims)),
    ("NaN weights", edit_arrays(nan_first("weights"))),
    ("unknown router name", edit_manifest(set_field(("router",), "bogus"))),
]


def directory_cases() -> list[Case]:
    cases = [Case(f"predict --model: {label}", "model dir",
                  ["predict", "--model", "d", "--top", "1"],
                  setup=copy_of("model", damage)) for label, damage in DAMAGES + MODEL_DAMAGES]
    cases += [Case(f"route --router: {label}", "router dir", ["route", "--router", "d", "hi"],
                   setup=copy_of("router", damage)) for label, damage in DAMAGES + ROUTER_DAMAGES]
    cases += [
        Case("route --router a model", "router dir", ["route", "--router", MODEL, "hi"]),
        Case("predict --model a router", "model dir", ["predict", "--model", ROUTER, "--top", "1"]),
    ]
    return cases


# API calls: each snippet runs after these lines; an error must be a sentence raised on purpose.
API_PRELUDE = """
import math, numpy as np, routerrec
records = routerrec.load_records(FIX + "/tiny.csv")
"""
_MODEL = "model = routerrec.load_model(FIX + '/model')\n"
_ROUTER = "router = routerrec.load_router(FIX + '/router')\n"
API = [
    ("fit([1, 2, 3])", "routerrec.fit([1, 2, 3])"),
    ("fit(rank=2.5)", "routerrec.fit(records, rank=2.5)"),
    ("fit(rank=True)", "routerrec.fit(records, rank=True)"),
    ("fit(reg=nan)", "routerrec.fit(records, reg=math.nan)"),
    ("fit(reg=-1)", "routerrec.fit(records, reg=-1.0)"),
    ("fit(bogus=1)", "routerrec.fit(records, bogus=1)"),
    ("fit(method='nope')", "routerrec.fit(records, method='nope')"),
    ("load_model(None)", "routerrec.load_model(None)"),
    ("load_records(None)", "routerrec.load_records(None)"),
    ("load_router(None)", "routerrec.load_router(None)"),
    ("split_prompts(1.0)", "records.split_prompts(1.0)"),
    ("split_cells(1.0)", "records.split_cells(1.0)"),
    ("split_cells(0.0)", "records.split_cells(0.0)"),
    ("split_cells(nan)", "records.split_cells(math.nan)"),
    ("route('hello world')", _ROUTER + "router.route('hello world')"),
    ("route([123])", _ROUTER + "router.route([123])"),
    ("route(['a', None])", _ROUTER + "router.route(['a', None])"),
    ("route(wtp='10')", _ROUTER + "router.route(['a'], wtp='10')"),
    ("route(wtp=nan)", _ROUTER + "router.route(['a'], wtp=math.nan)"),
    ("route(max_cost=nan)", _ROUTER + "router.route(['a'], max_cost=math.nan)"),
    ("route(max_cost=-1)", _ROUTER + "router.route(['a'], max_cost=-1)"),
    ("route(max_cost of the wrong length)",
     _ROUTER + "router.route(['a', 'b'], max_cost=np.ones(5))"),
    ("predict('abc')", _ROUTER + "router.predict('abc')"),
    ("make_router('linear', bogus=1)", "routerrec.make_router('linear', bogus=1)"),
    ("make_router('nope')", "routerrec.make_router('nope')"),
    ("add_model('', ...)", _MODEL + "model.add_model('', {model.prompts[0]: 1.0})"),
    ("add_model('a,b', ...)", _MODEL + "model.add_model('a,b', {model.prompts[0]: 1.0})"),
    ("add_model(None, ...)", _MODEL + "model.add_model(None, {model.prompts[0]: 1.0})"),
    ("add_model scores 5 and -3", _MODEL + "model.add_model('n', {model.prompts[0]: 5.0, "
                                           "model.prompts[1]: -3.0})"),
    ("fold_in_model scores 5",
     _MODEL + "routerrec.fold_in_model(model, 'n', {model.prompts[0]: 5.0})"),
    ("predict unknown prompt", _MODEL + "model.predict(['nope'])"),
    ("select_probes(model, 0)", _MODEL + "routerrec.select_probes(model, 0)"),
    ("select_probes(strategy='bogus')",
     _MODEL + "routerrec.select_probes(model, 3, strategy='bogus')"),
    ("evaluate_coldstart(budgets=(100000,))",
     "routerrec.evaluate_coldstart(routerrec.load_sample(), budgets=(100000,), "
     "params={'rank': 2})"),
]


def api_cases() -> list[Case]:
    return [Case(f"API {label}", "api", code=API_PRELUDE + code) for label, code in API]


def all_cases() -> list[Case]:
    return (option_cases() + record_cases() + prompt_cases() + add_model_cases()
            + out_dir_cases() + directory_cases() + api_cases())
