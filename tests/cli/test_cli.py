"""The command line as a whole: every command documented, errors without tracebacks, a light
start-up."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest

from cli_helpers import run, run_many
from routerrec.cli.main import main


def _leaf_commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _leaf_commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,)


def test_every_command_has_help_with_an_example_and_json():
    leaves = list(_leaf_commands(main))
    assert {("fit",), ("predict",), ("data", "info")} <= set(leaves)
    assert "Example" in run("--help").stdout
    for path, helped in zip(leaves, run_many(*[(*path, "--help") for path in leaves], ok=True)):
        text = helped.stdout
        assert "Example" in text, path
        assert "--json" in text, path


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,model,score\na,x,1\nb,x,oops\n")
    proc = run("fit", "--data", bad, "--out", tmp_path / "m", ok=False)
    assert proc.returncode != 0
    assert "bad.csv" in proc.stderr and "score" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()
    missing = run("data", "info", tmp_path / "absent.csv", ok=False)
    assert missing.returncode != 0 and "absent.csv" in missing.stderr


def test_building_the_command_line_does_not_import_numba():
    """--method, --router and --strategy load their registries on first use (numba costs ~1 s
    of every command's start-up otherwise)."""
    code = "import sys, routerrec.cli.main; print('numba' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_parse_seeds_reads_a_count_or_a_list():
    from routerrec.cli.options import parse_seeds
    assert parse_seeds("3") == 3 and parse_seeds("100,101") == [100, 101]
    for bad in ("0", "x", ",", "1.5"):
        with pytest.raises(ValueError, match="count or comma-separated"):
            parse_seeds(bad)


def test_tables_show_small_costs_with_significant_digits():
    from routerrec.cli.options import format_table
    table = format_table([{"model": "m", "cost": 3.2e-05, "score": 0.91234}], ["model", "cost", "score"])
    assert "3.2e-05" in table and "0.9123" in table and "0.0000" not in table
