"""The CLI's error handler: bad input is one ``Error:`` line and exit status 2, a bug is one
line saying so and exit status 1, ``routerrec --debug`` adds the traceback."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import routerrec.cli.fit
from cli_helpers import run
from routerrec.cli.errors import EXIT_BUG, EXIT_USER, user_message
from routerrec.cli.main import main
from routerrec.cli.options import emit, format_table
from routerrec.util.validate import real


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def test_fail_exits_2_with_one_line(tmp_path):
    proc = run("route", "--router", tmp_path, "--model", tmp_path, "x", ok=False)
    assert proc.returncode == EXIT_USER == 2
    assert error_lines(proc.stderr) == ["Error: --model is the old name of --router: give one "
                                        "of them"]
    assert "Traceback" not in proc.stderr


def _break_predict(monkeypatch):
    def broken(model_dir):
        return None.missing  # a bug: AttributeError inside routerrec

    monkeypatch.setattr(routerrec.cli.fit, "load_cli_model", broken)


def test_a_bug_is_one_line_asking_for_debug(monkeypatch, tmp_path):
    _break_predict(monkeypatch)
    res = CliRunner().invoke(main, ["predict", "--model", str(tmp_path), "--top", "1"])
    assert res.exit_code == EXIT_BUG == 1
    (line,) = error_lines(res.stderr)
    assert "internal error (AttributeError:" in line and "routerrec --debug" in line
    assert "Traceback" not in res.stderr


def test_debug_prints_the_traceback_then_the_line(monkeypatch, tmp_path):
    _break_predict(monkeypatch)
    res = CliRunner().invoke(main, ["--debug", "predict", "--model", str(tmp_path), "--top", "1"])
    assert res.exit_code == EXIT_BUG
    assert "Traceback" in res.stderr and "return None.missing" in res.stderr
    assert len(error_lines(res.stderr)) == 1
    bad = CliRunner().invoke(main, ["--debug", "fit", "--params", str(tmp_path / "absent.json"),
                                    "--data", str(tmp_path / "absent.csv"), "--out",
                                    str(tmp_path / "m")])
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr  # a usage error has none


def _raise(exc_type, message):
    try:
        raise exc_type(message)
    except exc_type as exc:
        return exc


def _caught(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no exception")


def test_errors_raised_on_purpose_are_messages_and_slips_are_bugs(tmp_path):
    from routerrec.data.records import RecordsError
    from routerrec.methods.model import ModelFileError

    assert user_message(_caught(real, "--reg", float("nan"))) == \
        "--reg must be a finite number, got nan"
    two_lines = _raise(RecordsError, "a.csv, row 2: bad\nscore")
    assert user_message(two_lines) == "a.csv, row 2: bad score"
    assert user_message(_raise(ModelFileError, "m: corrupt")) == "m: corrupt"
    missing = _caught(open, tmp_path / "absent.csv")
    assert user_message(missing) == f"{tmp_path / 'absent.csv'}: No such file or directory"
    assert user_message(MemoryError()).startswith("not enough memory")
    # the same classes raised by a slip inside routerrec or by a library are bugs
    assert user_message(_caught(format_table, [{"a": 1}], None)) is None  # in routerrec
    assert user_message(_caught(lambda: {}["error"])) is None
    assert user_message(_caught(len, None)) is None
    assert user_message(_caught(np.ones(2).reshape, 3)) is None
    assert user_message(_caught(lambda: None.write_ndjson())) is None


def test_json_output_is_strict(capsys):
    emit({"score": float("nan"), "cost": np.float32("inf"), "n": np.int64(3),
          "rows": np.array([1.0, math.nan])}, True, "")
    text = capsys.readouterr().out
    assert json.loads(text, parse_constant=pytest.fail) == {
        "score": None, "cost": None, "n": 3, "rows": [1.0, None]}
