"""Prompt ids that are the prompts themselves (``prompt="instruction"``, no text column) are
also the texts; ids that are codes stay ids only; ``text=`` may name the prompt column."""
import polars as pl
import pytest

from routerrec.data.load import load_records, records_from_frame
from routerrec.data.readers.columns import ids_are_texts
from routerrec.data.records import RecordsError


def _frame(ids):
    return pl.DataFrame({"instruction": ids, "model": ["a"] * len(ids), "correct": [1, 0, 1][:len(ids)]})


@pytest.mark.parametrize("ids, texts", [
    (["What is 2+2?", "Name a colour", "Hi"], True),  # two of three hold a space
    (["What is 2+2?", "gsm8k.1"], True),  # half
    (["gsm8k.1", "mmlu.anatomy.7", "Name a colour"], False),
    (["arc_easy-0", "arc_easy-1"], False),
    (["line\tbreak", "x"], True),  # any white space
])
def test_ids_are_texts_when_half_or_more_hold_white_space(ids, texts):
    assert ids_are_texts(pl.Series(ids)) is texts


def test_sentence_ids_become_the_texts_in_files_and_frames(tmp_path):
    path = tmp_path / "instr.csv"
    _frame(["What is 2+2?", "Name a colour", "What is 2+2? "]).write_csv(path)
    for rec in (load_records(path, prompt="instruction", score="correct", on_duplicate="mean"),
                records_from_frame(pl.read_csv(path), prompt="instruction", score="correct",
                                   on_duplicate="mean")):
        assert rec.info()["has_texts"] == 1.0
        assert rec.text_of(rec.prompts) == rec.prompts == ["Name a colour", "What is 2+2?"]


def test_code_ids_stay_ids_unless_text_names_the_prompt_column(tmp_path):
    path = tmp_path / "codes.csv"
    _frame(["gsm8k.1", "gsm8k.2"]).write_csv(path)
    assert load_records(path, prompt="instruction", score="correct").info()["has_texts"] == 0.0
    rec = load_records(path, prompt="instruction", score="correct", text="instruction")
    assert rec.text_of(rec.prompts) == ["gsm8k.1", "gsm8k.2"]


def test_a_text_column_wins_and_other_options_still_may_not_share_a_column(tmp_path):
    path = tmp_path / "both.csv"
    _frame(["What is 2+2?", "Name a colour"]).with_columns(text=pl.Series(["t1", "t2"])).write_csv(path)
    rec = load_records(path, prompt="instruction", score="correct")
    assert rec.text_of(["What is 2+2?"]) == ["t1"]
    with pytest.raises(RecordsError, match="model= and text= both name the column 'model'"):
        load_records(path, prompt="instruction", score="correct", text="model")
