"""``routerrec tune --holdout F --holdout-seed S`` chooses on cells disjoint from the test cells of
``fit --holdout F --holdout-seed S`` and says so, in text and in --json."""
import json

from cli_helpers import run_many, write_small_sample

from routerrec.data.load import load_records


def test_tune_says_which_cells_it_chose_on_and_that_fit_holdout_is_disjoint(tmp_path):
    data = write_small_sample(tmp_path)
    records = load_records(data)

    def tune(name, *options):  # each run writes a file of its own: they run at once
        return ["tune", "--data", data, "--method", "als", "--grid", "rank=2", "--grid",
                "reg=0.1,1", "--param", "iterations=3", "--out", tmp_path / f"{name}.json", *options]
    chosen, default, everything, text = run_many(
        tune("chosen", "--holdout", "0.2", "--holdout-seed", "7", "--json"),
        tune("default", "--json"), tune("everything", "--holdout", "0", "--json"),
        tune("text", "--holdout", "0.2", "--holdout-seed", "7"), ok=True)
    out = json.loads(chosen.stdout)
    _, held = records.split_cells(0.2, 7)  # exactly the cells `fit --holdout 0.2 --holdout-seed 7` scores on
    assert out["excluded_holdout"]["cells"] == held.n_records
    assert out["tuning_cells"]["cells"] == records.n_records - held.n_records
    assert out["tuning_cells"]["disjoint_from"] == "fit --holdout 0.2 --holdout-seed 7"
    assert "disjoint from them" in out["tuning_cells"]["note"]
    default = json.loads(default.stdout)  # the default matches fit's documented --holdout 0.1
    assert default["tuning_cells"]["disjoint_from"] == "fit --holdout 0.1 --holdout-seed 0"
    everything = json.loads(everything.stdout)
    assert everything["excluded_holdout"] is None and everything["tuning_cells"]["disjoint_from"] is None
    assert everything["tuning_cells"]["cells"] == records.n_records
    text = text.stdout
    assert (f"of the {records.n_records - held.n_records} cells left after setting aside the "
            f"{held.n_records} test cells of `fit --holdout 0.2 --holdout-seed 7`: disjoint from them") in text


def test_tune_refuses_a_bad_holdout_before_any_work(tmp_path):
    values = ("0.95", "-0.1", "nan")
    for proc in run_many(*[("tune", "--method", "als", "--holdout", value, "--out",
                            tmp_path / "b.json") for value in values]):
        assert proc.returncode == 2 and "--holdout" in proc.stderr
        assert not (tmp_path / "b.json").exists()
