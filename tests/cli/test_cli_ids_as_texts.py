"""``--prompt-col instruction`` with no text column: the ids that are sentences are the texts
(``has_texts`` 1, not a silent 0); ``--text-col`` may repeat the prompt column for code ids."""
import json

import polars as pl

from cli_helpers import run_many


def test_sentence_ids_are_the_texts_through_the_cli(tmp_path):
    instr, codes = tmp_path / "instr.csv", tmp_path / "codes.csv"
    pl.DataFrame({"instruction": ["What is 2+2?", "Name a colour"], "model": ["a", "b"],
                  "correct": [1, 0]}).write_csv(instr)
    pl.DataFrame({"item": ["gsm8k.1", "gsm8k.2"], "model": ["a", "b"], "correct": [1, 0]}).write_csv(codes)
    *infos, proc = run_many(  # independent: run at once
        *[("data", "info", *a, "--score-col", "correct", "--json")
          for a in ((instr, "--prompt-col", "instruction"), (codes, "--prompt-col", "item"),
                    (codes, "--prompt-col", "item", "--text-col", "item"))],
        ("data", "info", codes, "--prompt-col", "item", "--model-col", "item", "--score-col",
         "correct"))
    for done in infos:
        assert done.returncode == 0, (done.args, done.stderr)
    assert [json.loads(done.stdout)["has_texts"] for done in infos] == [1.0, 0.0, 1.0]
    assert proc.returncode == 2 and "prompt= and model= both name the column 'item'" in proc.stderr
