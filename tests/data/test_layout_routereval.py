"""RouterEval / tinyBenchmarks pickles, made here in exactly the published structure (numpy
arrays inside a dict, pickled); read only with trust_pickle, recognised without unpickling."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from routerrec.data.load import load_records
from routerrec.data.readers.registry import layout_for
from layout_helpers import load_error


def _published(models=("m1", "m2", "m3")):
    return {
        "data": {
            "harness_arc_challenge_25": {"correctness": np.array([[1.0, 0.0, 1.0], [0.0, np.nan, 1.0]]),
                                         "predictions": [[0.1, 0.9]]},
            "harness_gsm8k_5": {"correctness": np.array([[True, True, False]])},
        },
        "models": list(models),
    }


def _pickle(path: Path, obj, protocol=pickle.HIGHEST_PROTOCOL) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_the_published_structure_is_recognised_and_read_with_trust(tmp_path, protocol):
    path = _pickle(tmp_path / "lb.pickle", _published(), protocol)
    assert layout_for(path).name == "routereval"
    err = load_error(path)
    assert err.path == str(path) and "trust_pickle=True" in str(err) and "arbitrary code" in str(err)
    rec = load_records(path, trust_pickle=True)
    assert rec.models == ["m1", "m2", "m3"] and rec.n_records == 8  # the NaN cell is not evaluated
    assert rec.prompts == ["harness_arc_challenge_25-0", "harness_arc_challenge_25-1", "harness_gsm8k_5-0"]
    assert rec.prompt_benchmark["harness_gsm8k_5-0"] == "harness_gsm8k_5"
    cells = {(r["prompt"], r["model"]): r["score"] for r in rec.table.iter_rows(named=True)}
    assert cells[("harness_arc_challenge_25-1", "m3")] == 1.0 and cells[("harness_gsm8k_5-0", "m3")] == 0.0
    assert ("harness_arc_challenge_25-1", "m2") not in cells


class _Marker:
    """Unpickling this touches a file: proof of whether anything was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_recognising_and_refusing_never_unpickle(tmp_path):
    marker = tmp_path / "unpickled"
    obj = {"data": {"x": {"correctness": np.ones((2, 1))}}, "models": ["m"], "z": _Marker(marker)}
    path = _pickle(tmp_path / "evil.pkl", obj)
    assert layout_for(path).name == "routereval"
    load_error(path)
    assert not marker.exists()
    load_records(path, trust_pickle=True)
    assert marker.exists()  # the trusted read does run the file's code: that is why it is refused


def test_other_pickles_are_left_to_the_routerbench_pickle_reader(tmp_path):
    assert layout_for(_pickle(tmp_path / "list.pkl", [1, 2, 3])).name == "routerbench-pkl"
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"\x00not a pickle at all")
    assert layout_for(garbage).name == "routerbench-pkl"
    err = load_error(garbage, format="routereval", trust_pickle=True)
    assert err.path == str(garbage) and "cannot be read as a pickle" in str(err)


@pytest.mark.parametrize("change, column, row, words", [
    (lambda d: d["data"]["harness_gsm8k_5"].update(correctness=np.ones((1, 2))), "data['harness_gsm8k_5']",
     None, "has shape (1, 2), expected (items, 3)"),
    (lambda d: d["data"]["harness_gsm8k_5"].pop("correctness"), "data['harness_gsm8k_5']", None,
     "'correctness' array"),
    (lambda d: d["data"]["harness_gsm8k_5"].update(correctness=[["a", "b", "c"]]), "data['harness_gsm8k_5']",
     None, "not an array of numbers"),
    (lambda d: d.update(models=["m1", "m1", "m3"]), "models", None, "listed twice"),
    (lambda d: d.pop("models"), "models", None, "non-empty list of model names"),
    (lambda d: d["data"]["harness_arc_challenge_25"]["correctness"].__setitem__((1, 2), np.inf),
     "harness_arc_challenge_25/m3", 2, "score is not a finite number: inf"),
    (lambda d: d.update(data={}), "data", None, "no sub-benchmarks"),
])
def test_bad_structures_name_the_file_and_the_part(tmp_path, change, column, row, words):
    obj = _published()
    change(obj)
    path = _pickle(tmp_path / "bad.pkl", obj)
    err = load_error(path, format="routereval", trust_pickle=True)
    assert (err.path, err.column, err.row) == (str(path), column, row)
    assert words in str(err)


def test_a_pickle_that_is_not_a_dict_is_named(tmp_path):
    path = _pickle(tmp_path / "list.pkl", [1, 2])
    err = load_error(path, format="routereval", trust_pickle=True)
    assert "pickle holds a list without a 'data' dict" in str(err)
    assert "is a directory" in str(load_error(tmp_path, format="routereval", trust_pickle=True))
