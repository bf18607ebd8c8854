"""The boundary checks every entry point uses: the right exception and one sentence naming
the argument, for each kind of bad value."""
from pathlib import Path

import numpy as np
import pytest

from routerrec.util.validate import (choice, finite, flag, fraction, instance, integer, integers,
                                     name, path, real, reals, texts)


@pytest.mark.parametrize("value", [2.5, True, "8", None])
def test_integer_refuses_what_is_not_an_int(value):
    with pytest.raises(TypeError, match="rank must be an integer"):
        integer("rank", value, low=1)


def test_integer_bounds_and_numpy_ints():
    assert integer("rank", np.int64(4), low=1) == 4
    with pytest.raises(ValueError, match=r"rank must be an integer >= 1 and <= 10, got 11"):
        integer("rank", 11, low=1, high=10)


def test_integers_names_the_bad_item_and_refuses_none_or_one():
    assert integers("budgets", (10, np.int64(25)), low=1) == [10, 25]
    with pytest.raises(ValueError, match=r"budgets\[1\] must be an integer >= 1, got 0"):
        integers("budgets", [10, 0], low=1)
    with pytest.raises(TypeError, match=r"budgets\[0\] must be an integer, got float 2.5"):
        integers("budgets", [2.5], low=1)
    with pytest.raises(ValueError, match="budgets must hold at least one integer"):
        integers("budgets", [], low=1)
    for one in (10, "10"):
        with pytest.raises(TypeError, match="budgets must be a list of integers"):
            integers("budgets", one)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_real_refuses_non_finite_and_out_of_range(value):
    with pytest.raises(ValueError, match="reg must be a finite number > 0"):
        real("reg", value, low=0, low_open=True)


@pytest.mark.parametrize("value", ["10", True, None, [1.0]])
def test_real_refuses_non_numbers(value):
    with pytest.raises(TypeError, match="wtp must be a number"):
        real("wtp", value)


@pytest.mark.parametrize("value", [0.0, 1.0, float("nan")])
def test_fraction_leaves_both_sides_non_empty(value):
    with pytest.raises(ValueError, match="holdout must be a finite number > 0 and < 1"):
        fraction("holdout", value)


def test_texts_refuses_one_string_and_names_the_bad_item():
    assert texts("texts", ("a", "b")) == ["a", "b"]
    with pytest.raises(TypeError, match=r"for one prompt pass \[text\]"):
        texts("texts", "hello world")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string, got NoneType"):
        texts("texts", ["a", None])
    with pytest.raises(TypeError, match=r"texts\[0\] must be a string, got int 123"):
        texts("texts", [123])


@pytest.mark.parametrize("value,error", [("", ValueError), ("   ", ValueError), ("a,b", ValueError),
                                         (" a", ValueError), ("a\nb", ValueError),
                                         (None, TypeError), (3, TypeError)])
def test_name_refuses_ids_that_could_not_be_selected_again(value, error):
    with pytest.raises(error, match="name"):
        name("name", value)


def test_reals_checks_every_value_in_one_pass_and_names_the_first_bad_one():
    got = reals("max_cost", np.array([0, 2], dtype=np.int32), length=2, low=0)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 2.0]
    with pytest.raises(ValueError, match=r"max_cost\[2\] must be a finite number >= 0, got nan"):
        reals("max_cost", [1.0, 2.0, float("nan"), -1.0], low=0)
    with pytest.raises(ValueError, match=r"max_cost\[0\] must be a finite number >= 0, got -1.0"):
        reals("max_cost", [-1.0], low=0)
    with pytest.raises(ValueError, match="max_cost must have 2 values, got 3"):
        reals("max_cost", [1, 2, 3], length=2)
    with pytest.raises(ValueError, match=r"flat list of numbers, got shape \(2, 1\)"):
        reals("max_cost", [[1], [2]])


@pytest.mark.parametrize("value", ["10", [1, "2"], [1, None], [True, False], [[1], [2, 3]], None])
def test_reals_refuses_what_is_not_a_list_of_numbers(value):
    with pytest.raises(TypeError, match="max_cost must be a list of numbers"):
        reals("max_cost", value)


@pytest.mark.parametrize("value,error", [(None, TypeError), (3, TypeError), (b"x.csv", TypeError),
                                         (["x.csv"], TypeError), ("", ValueError)])
def test_path_refuses_what_is_not_a_path(value, error):
    with pytest.raises(error, match="records must (be a path|not be an empty path)"):
        path("records", value)


def test_path_takes_str_and_pathlike():
    assert path("records", "x.csv") == path("records", Path("x.csv")) == Path("x.csv")


def test_choice_takes_one_of_the_strings():
    assert choice("kind", "model", ("model", "prompt")) == "model"
    with pytest.raises(ValueError, match="kind must be one of 'model', 'prompt', got 'user'"):
        choice("kind", "user", ("model", "prompt"))
    with pytest.raises(ValueError, match="got None"):
        choice("kind", None, ("model", "prompt"))


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_flag_takes_bools_only(value):
    assert flag("deterministic", np.bool_(False)) is False
    with pytest.raises(TypeError, match="deterministic must be True or False"):
        flag("deterministic", value)


def test_instance_names_the_class_wanted_how_to_make_one_and_what_was_given():
    assert instance("records", p := Path("x"), Path) is p
    with pytest.raises(TypeError, match=r"records must be Path or str \(load_records\), got "
                                        r"list \[1, 2, 3\]"):
        instance("records", [1, 2, 3], (Path, str), how="load_records")


def test_finite_names_the_first_bad_value_by_index():
    a = np.zeros((3, 2), np.float32)
    assert finite("prompt_factors", a) is a
    a[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"prompt_factors must hold finite numbers only, got inf "
                                         r"at index \(2, 1\)"):
        finite("prompt_factors", a)
    with pytest.raises(ValueError, match="got nan at index 1"):
        finite("bias", [0.0, float("nan")])
    with pytest.raises(TypeError, match="numeric array, got dtype <U1"):
        finite("bias", ["a"])


def test_choices_is_a_non_empty_list_of_options_each_named_by_position():
    from routerrec.util.validate import choices
    assert choices("groups", ("a", "b"), ("a", "b", "c")) == ["a", "b"]
    with pytest.raises(ValueError, match=r"groups must name at least one of \['a', 'b'\]"):
        choices("groups", [], ("a", "b"))
    with pytest.raises(ValueError, match=r"groups\[1\] must be one of 'a', 'b', got 'z'"):
        choices("groups", ["a", "z"], ("a", "b"))


def test_string_is_a_non_empty_str():
    from routerrec.util.validate import string
    assert string("master", "local[2]") == "local[2]"
    with pytest.raises(TypeError, match="master must be a string, got float nan"):
        string("master", float("nan"))
    with pytest.raises(ValueError, match="master must not be empty"):
        string("master", " ")


def test_fields_names_the_first_unknown_field_and_the_allowed_ones():
    from routerrec.util.validate import fields

    body = {"score": 1, "model": "a"}
    assert fields("the feedback", body, ("model", "score", "cost")) is body
    with pytest.raises(ValueError, match=r"^the feedback has unknown field 'scor'; the fields "
                                         r"are model, score$"):
        fields("the feedback", {"model": "a", "scor": 1}, ("model", "score"))
