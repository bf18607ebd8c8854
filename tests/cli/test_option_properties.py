"""Property suite for the command line's option parsers: whatever text a user types as an
option value, routerrec takes a checked value or stops with one ``Error:`` line and exit
status 2, never a traceback, before any data is read.

Runs the ``properties.PROFILE`` (200 cases per property in the normal run,
``HYPOTHESIS_PROFILE=long`` 20,000); the count is printed in the terminal summary.
"""
from __future__ import annotations

import json
import math

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from properties import PROFILE, json_values

from routerrec.cli.errors import CliError
from routerrec.cli.main import main
from routerrec.cli.options import SEED, Real, parse_seeds, parse_value, split_list

# what a user might type: numbers in every spelling, the non-finite words, and any text
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(-10**30, 10**30).map(str),
                    st.sampled_from(["nan", "NaN", "-nan", "inf", "-Infinity", "1e39", "1e-400",
                                     "0x10", "1_000", " 2 ", "", "0.", ".5", "1e", "--1"]))
typed = numbers | st.text(max_size=12)
bounds = st.sampled_from([dict(min=0, min_open=True), dict(min=0), dict(min=0, max=0.9),
                          dict(min=0.01, max=0.9), dict(min=0.5, max=0.999)])


@PROFILE
@given(text=typed, kw=bounds)
def test_real_options_are_finite_numbers_within_bounds_or_one_usage_error(generated_cases,
                                                                          text, kw):
    generated_cases["float options"] += 1
    option = click.Option(["--value"], type=Real(**kw))
    ctx = click.Context(click.Command("cmd", params=[option]))
    try:
        value = option.type.convert(text, option, ctx)
    except click.UsageError as exc:
        assert exc.message.startswith("--value must be a ")
        assert "\n" not in exc.message
        return
    assert isinstance(value, float) and math.isfinite(value)
    assert value == float(text)
    assert (value > kw["min"]) if kw.get("min_open") else (value >= kw["min"])
    assert value <= kw.get("max", math.inf)


@PROFILE
@given(text=st.text(max_size=40) | st.lists(st.sampled_from(["a", "b", " c ", "", " "]),
                                            max_size=6).map(",".join))
def test_lists_are_stripped_unique_items_or_one_error(generated_cases, text):
    generated_cases["list options"] += 1
    try:
        items = split_list(text, "--models")
    except CliError as exc:
        assert exc.message.startswith("--models: ") and "more than once" in exc.message
        return
    assert len(set(items)) == len(items)
    assert all(item and item == item.strip() and "," not in item for item in items)


@PROFILE
@given(text=numbers | st.lists(numbers, max_size=4).map(",".join) | st.text(max_size=10))
def test_seeds_are_a_positive_count_or_seeds_in_range(generated_cases, text):
    generated_cases["seed lists"] += 1
    try:
        seeds = parse_seeds(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
        return
    if isinstance(seeds, int):
        assert seeds >= 1
    else:
        assert seeds and all(SEED.min <= s <= SEED.max for s in seeds)


@PROFILE
@given(text=typed)
def test_param_values_always_parse(generated_cases, text):
    generated_cases["--param values"] += 1
    assert isinstance(parse_value(text), (int, float, bool, str))


def assert_one_error(result) -> None:
    """Exit status 2, one ``Error:`` line, and no exception but the exit."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert sum(line.startswith("Error:") for line in result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("empty")


@PROFILE
@given(reg=typed, holdout=typed, rank=typed, seed=typed,
       params=st.lists(st.tuples(st.sampled_from(["rank", "reg", "iterations", "seed", "bogus",
                                                  ""]), typed), max_size=3),
       tuned=st.none() | json_values(
           text=st.text(max_size=6), keys=st.sampled_from(["method", "best", "params", "rank", "x"]),
           max_leaves=10))
def test_fit_options_never_reach_a_traceback(generated_cases, empty_dir, reg, holdout, rank,
                                             seed, params, tuned):
    """Every value is refused in one line, or accepted and then the absent data file is."""
    generated_cases["fit command lines"] += 1
    args = ["fit", "--data", str(empty_dir / "absent.csv"), "--out", str(empty_dir / "m"),
            "--reg", reg, "--holdout", holdout, "--rank", rank, "--seed", seed]
    for key, value in params:
        args += ["--param", f"{key}={value}"]
    if tuned is not None:
        (empty_dir / "best.json").write_text(json.dumps(tuned))
        args += ["--params", str(empty_dir / "best.json")]
    assert_one_error(CliRunner().invoke(main, args))
    assert not (empty_dir / "m").exists()


@PROFILE
@given(wtp=st.none() | typed, max_cost=st.none() | typed,
       models=st.none() | st.text(max_size=20), texts=st.lists(st.text(max_size=8), max_size=2))
def test_route_options_never_reach_a_traceback(generated_cases, empty_dir, wtp, max_cost, models,
                                               texts):
    """``--router`` is an empty folder: after the options, loading it is refused in one line."""
    generated_cases["route command lines"] += 1
    args = ["route", "--router", str(empty_dir)]
    for option, value in (("--wtp", wtp), ("--max-cost", max_cost), ("--models", models)):
        if value is not None:
            args += [option, value]
    assert_one_error(CliRunner().invoke(main, [*args, "--", *texts]))
