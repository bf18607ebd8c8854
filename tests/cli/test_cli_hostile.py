"""Issue 11's command-line cases, each run as the real ``routerrec`` command: a bad option or
file is one ``Error:`` line naming it (exit status 2, no traceback), checked before any data
is loaded or any model fitted, and nothing the user has is touched."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli_helpers import run, run_many, write_tiny


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    run("fit", "--data", write_tiny(folder), "--rank", 2, "--iterations", 2, "--out",
        folder / "m", "--quiet")
    return folder / "m"


def assert_clear_error(proc, *words) -> str:
    """``proc`` failed with status 2 and one ``Error:`` line holding ``words``; that line."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, proc.stderr
    assert proc.returncode == 2, proc.stderr
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]


FLOAT_CASES = [("--reg", "nan", "fit"), ("--reg", "inf", "fit"), ("--reg", "-inf", "fit"),
               ("--holdout", "nan", "fit"), ("--wtp", "nan", "route"), ("--wtp", "inf", "route"),
               ("--max-cost", "nan", "route"), ("--max-cost", "inf", "route")]


def test_float_options_must_be_finite(tmp_path):
    """Checked while parsing: the data file given does not exist and is never looked at."""
    def args(option, value, command):
        return ([*("fit", "--data", tmp_path / "absent.csv", "--out", tmp_path / "m")]
                if command == "fit" else ["route", "--router", tmp_path, "hello"]) + [option, value]

    procs = run_many(*(args(*case) for case in FLOAT_CASES))
    for (option, value, _), proc in zip(FLOAT_CASES, procs):
        line = assert_clear_error(proc, option, "finite", value)
        assert "absent.csv" not in line
    assert not (tmp_path / "m").exists()


def test_a_model_id_given_twice_is_refused(tmp_path):
    """Before the router or model is loaded (both are an empty folder here)."""
    for proc in run_many(["route", "--router", tmp_path, "hello", "--models", "acme-8b,z,acme-8b"],
                         ["predict", "--model", tmp_path, "--top", 1, "--models", "z,z"]):
        assert_clear_error(proc, "--models", "given more than once")


PROMPT_FILES = [
    ("latin1.txt", "caf\xe9\n".encode("latin-1"), ["not UTF-8", "byte 3"]),
    ("utf16.jsonl", '{"text": "hi"}\n'.encode("utf-16"), ["not UTF-8"]),
    ("empty.txt", b"", ["no prompts"]),
    ("blank.txt", b"\n   \n\t\n", ["no prompts"]),
    ("blank.jsonl", b"\n\n  \n", ["no prompts"]),
    ("list-id.jsonl", b'{"id": ["a"], "text": "hi"}\n', ["row 1", "'id'"]),
    ("deep.jsonl", b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", ["row 1"]),
]


def test_route_prompts_files_without_prompts_are_named(tmp_path):
    """The file is read before the router is loaded (``--router`` here is an empty folder)."""
    for name, content, _ in PROMPT_FILES:
        (tmp_path / name).write_bytes(content)
    procs = run_many(*(["route", "--router", tmp_path, "--prompts", tmp_path / name]
                       for name, _, _ in PROMPT_FILES))
    for (name, _, words), proc in zip(PROMPT_FILES, procs):
        assert_clear_error(proc, "--prompts", name, *words)


def test_predict_prompts_that_are_not_text_are_named(tmp_path):
    (tmp_path / "ids.txt").write_bytes(b"\xff\xfe")
    (tmp_path / "blank.txt").write_text("\n \n")
    cases = (("ids.txt", "not UTF-8"), ("blank.txt", "no prompt ids"))
    procs = run_many(*(["predict", "--model", tmp_path, "--prompts", tmp_path / name, "--top", 1]
                       for name, _ in cases))
    for (name, word), proc in zip(cases, procs):
        assert_clear_error(proc, "--prompts", name, word)


def test_fit_out_onto_a_directory_that_is_not_a_model_is_refused_before_loading(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    proc = run("fit", "--data", tmp_path / "absent.csv", "--out", mine, ok=False)
    assert_clear_error(proc, "--out", "mine", "not a routerrec directory")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "keep me"


def test_fit_out_onto_an_empty_directory_is_accepted(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run("fit", "--data", write_tiny(tmp_path), "--rank", 2, "--iterations", 2, "--out", empty,
        "--quiet")
    assert (empty / "manifest.json").exists()


def test_method_parameters_are_checked_before_loading(tmp_path):
    """The data file given does not exist: the parameters are refused before it is read."""
    absent = tmp_path / "absent.csv"
    files = {"string-rank.json": {"method": "als", "best": {"params": {"rank": "8"}}},
             "a-list.json": [1, 2], "params-list.json": {"method": "als", "best": {"params": [1]}}}
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    (tmp_path / "latin1.json").write_bytes(b"\xff{}")
    procs = run_many(
        *(["fit", "--params", tmp_path / name, "--data", absent, "--out", tmp_path / "m"]
          for name in [*files, "latin1.json"]),
        ["evaluate", "coldstart", "--param", "bogus=1", "--data", absent, "--out", tmp_path / "cs"])
    assert_clear_error(procs[0], "--params", "string-rank.json", "rank", "'8'")
    assert_clear_error(procs[1], "--params", "a-list.json", "not a file written by")
    assert_clear_error(procs[2], "--params", "params-list.json", "must be a JSON object")
    assert_clear_error(procs[3], "--params", "latin1.json", "not UTF-8")
    assert_clear_error(procs[4], "--method auto", "no parameter 'bogus'")
    assert not (tmp_path / "m").exists() and not (tmp_path / "cs").exists()


def test_coldstart_budget_beyond_the_prompts_is_a_clear_error(tmp_path):
    proc = run("evaluate", "coldstart", "--rank", 2, "--iterations", 1, "--budgets", 100000,
               "--out", tmp_path / "cs", "--quiet", ok=False)
    assert_clear_error(proc, "100000")
    assert not (tmp_path / "cs").exists()


def test_outputs_that_cannot_be_created_are_refused_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    under = tmp_path / "notes.txt" / "out"
    absent = tmp_path / "absent.csv"
    for proc in run_many(["fit", "--data", absent, "--out", under],
                         ["tune", "--method", "als", "--data", absent, "--out", under],
                         ["evaluate", "coldstart", "--data", absent, "--out", under]):
        assert_clear_error(proc, "--out", "notes.txt", "not a directory")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_predict_names_the_prompts_file_of_an_unknown_id(tiny_model, tmp_path):
    (tmp_path / "ids.txt").write_text("a\nnope\n")
    proc = run("predict", "--model", tiny_model, "--prompts", tmp_path / "ids.txt", "--top", 1,
               ok=False)
    assert_clear_error(proc, "--prompts", "ids.txt", "unknown prompt id 'nope'")


def test_predict_json_is_strict_even_for_a_damaged_model(tiny_model, tmp_path):
    """A model file with NaN factors printed bare ``NaN`` under ``--json``: now it is either
    refused in one line or printed as strict JSON."""
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    with np.load(model / "arrays.npz") as saved:
        arrays = dict(saved)
    arrays["prompt_factors"][0] = np.nan
    np.savez(model / "arrays.npz", **arrays)
    proc = run("predict", "--model", model, "--top", 2, "--json", ok=False)
    if proc.returncode == 0:
        json.loads(proc.stdout, parse_constant=pytest.fail)
    else:
        assert_clear_error(proc, "m")


def test_negative_seeds_are_refused_while_parsing(tmp_path):
    for proc in run_many(["fit", "--seed", -1, "--out", tmp_path / "m"],
                         ["evaluate", "pools", "--data", tmp_path, "--seeds", "1,-2",
                          "--out", tmp_path / "p"]):
        assert_clear_error(proc, "--seed")
