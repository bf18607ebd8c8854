"""``--prompt-col instruction`` with no text column: the ids that are sentences are the texts
(``has_texts`` 1, not a silent 0); ``--text-col`` may repeat the prompt column for code ids."""
import json

import polars as pl

from cli_helpers import run


def test_sentence_ids_are_the_texts_through_the_cli(tmp_path):
    instr, codes = tmp_path / "instr.csv", tmp_path / "codes.csv"
    pl.DataFrame({"instruction": ["What is 2+2?", "Name a colour"], "model": ["a", "b"],
                  "correct": [1, 0]}).write_csv(instr)
    pl.DataFrame({"item": ["gsm8k.1", "gsm8k.2"], "model": ["a", "b"], "correct": [1, 0]}).write_csv(codes)
    info = lambda *a: json.loads(run("data", "info", *a, "--score-col", "correct", "--json").stdout)
    assert info(instr, "--prompt-col", "instruction")["has_texts"] == 1.0
    assert info(codes, "--prompt-col", "item")["has_texts"] == 0.0
    assert info(codes, "--prompt-col", "item", "--text-col", "item")["has_texts"] == 1.0
    proc = run("data", "info", codes, "--prompt-col", "item", "--model-col", "item", "--score-col",
               "correct", ok=False)
    assert proc.returncode == 2 and "prompt= and model= both name the column 'item'" in proc.stderr
