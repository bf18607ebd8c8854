"""Issue 11, methods: bad parameters, bad records, too much memory, damaged model files and
bad fold-in answers each fail at once with one sentence naming what is wrong; nothing is
fitted, allocated or saved first. CLI cases run the real command in a subprocess."""
from __future__ import annotations

import functools
import inspect
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from commands import ROUTERREC, run_many
from planted import planted_records

import routerrec
from routerrec import methods
from routerrec.methods import als, knn
from routerrec.methods.model import Model, ModelFileError
from routerrec.methods.registry import METHODS, register_method
from routerrec.util.limits import MAX_BYTES_ENV

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def sample():
    return routerrec.load_sample()


@pytest.fixture(scope="module")
def graded():
    return planted_records(n_prompts=120, n_models=12, rank=2, seed=3)[0]


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([ROUTERREC, *map(str, args)], capture_output=True, text=True, timeout=120)


def refused(proc, *fragments):
    """The command failed with one `Error:` line holding every fragment, and no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert len(line) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in line[0], line[0]


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("method", sorted(m for m, s in METHODS.items()
                                          if "reg" in s.params["numba"]))
@pytest.mark.parametrize("reg", [NAN, INF, -INF])
def test_non_finite_reg_is_refused_by_every_method(sample, method, reg):
    """fit(reg=nan) returned all-NaN predictions; reg=inf passed the `> 0` check."""
    with pytest.raises(ValueError, match=rf"{method} parameter reg must be a finite number"):
        routerrec.fit(sample, method=method, reg=reg)


@pytest.mark.parametrize("rank", [2.5, True, "8", None, [8]])
def test_rank_that_is_not_an_int_is_a_type_error(sample, rank):
    for method in ("auto", "als"):  # auto checks the parameters every candidate shares
        with pytest.raises(TypeError, match=rf"{method} parameter rank must be an integer, got "):
            routerrec.fit(sample, method=method, rank=rank)


def test_every_way_to_reach_a_fitter_checks_its_parameters(sample):
    """routerrec.fit, METHODS[name](...) and the module's fit go through one checked wrapper."""
    for fit in (functools.partial(routerrec.fit, method="als"), METHODS["als"], als.fit):
        with pytest.raises(ValueError, match="reg must be a finite number > 0, got nan"):
            fit(sample, reg=NAN)
        with pytest.raises(TypeError, match="method als has no parameter 'rnak'; its "
                                            "parameters are rank, reg, iterations, seed, "
                                            "progress"):
            fit(sample, rnak=8)


@pytest.mark.parametrize("records", [[1, 2, 3], None, "records.csv",
                                     pl.DataFrame({"prompt": ["p"], "model": ["m"],
                                                   "score": [1.0]})])
def test_records_must_be_records(records):
    for method in ("auto", "als"):
        with pytest.raises(TypeError, match=rf"method '{method}' fits routerrec Records \(load_records"):
            routerrec.fit(records, method=method)


def test_numpy_scalars_are_valid_and_values_are_unchanged(graded):
    """Parameters from numpy (a tuned grid) pass; a valid fit gives the same numbers as ever."""
    a = routerrec.fit(graded, rank=np.int64(2), reg=np.float32(0.05), iterations=3)
    b = routerrec.fit(graded, rank=2, reg=float(np.float32(0.05)), iterations=3)
    assert type(a.params["rank"]) is int
    np.testing.assert_array_equal(a.predict(), b.predict())


def test_each_method_declares_every_parameter_next_to_its_defaults():
    """One declaration per method (module PARAMS beside DEFAULTS), complete for each engine,
    and a fitter with an undeclared parameter cannot be registered."""
    for name, spec in METHODS.items():
        for engine, fitter in spec.engines.items():
            signature = inspect.signature(inspect.unwrap(fitter)).parameters
            keywords = {k for k, p in signature.items() if p.kind is p.KEYWORD_ONLY}
            assert set(spec.params[engine]) == keywords, (name, engine)
    for module in (als, knn, methods.logistic, methods.sgd, methods.implicit, methods.lightfm):
        assert set(module.DEFAULTS) <= set(module.PARAMS), module.__name__
    with pytest.raises(ValueError, match="declared parameters .* are not the keyword"):
        register_method("undeclared", params={})(lambda records, *, rank=2, progress=False: 0)
    assert "undeclared" not in METHODS


def test_check_params_validates_without_records():
    """What a command calls before it loads data or fits (--params, --param)."""
    assert methods.check_params("knn", {"k": np.int32(5), "kind": "prompt"}) == {
        "k": 5, "kind": "prompt"}
    with pytest.raises(TypeError, match="logistic parameter members must be an integer"):
        methods.check_params("logistic", {"members": "3"})
    with pytest.raises(ValueError, match=r"knn parameter kind must be one of 'model', "
                                         r"'prompt', got 'user'"):
        methods.check_params("knn", {"kind": "user"})
    with pytest.raises(TypeError, match=r"als \(engine spark\) has no parameter 'members'"):
        methods.check_params("als", {"members": 3}, engine="spark")
    with pytest.raises(ValueError, match="unknown method"):
        methods.check_params(["als"], {})
    assert methods.check_params("als", {"seed": 2**40}) == {"seed": 2**40}  # numpy: any size
    with pytest.raises(ValueError, match=r"lightfm parameter seed must be an integer >= 0 and "
                                         r"<= 4294967295"):  # RandomState: 32 bits
        methods.check_params("lightfm", {"seed": 2**40})


def test_cli_rejects_bad_parameters_before_fitting(tmp_path):
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"method": "als", "best": {"params": {"rank": "8"}}}))
    cases = [  # (arguments after fit, what the one error line must say); run at once
        (["--params", tuned, "--out", tmp_path / "a"], ["rank must be an integer, got str '8'"]),
        (["--param", "rank=2.5", "--out", tmp_path / "b"],
         ["rank must be an integer, got float 2.5"]),
        (["--param", "rnak=8", "--out", tmp_path / "c"],
         ["no parameter 'rnak'", "rank, reg, iterations"]),
        *[(["--reg", reg, "--out", tmp_path / "d"], ["reg", reg]) for reg in ("nan", "inf")]]
    for (_, fragments), proc in zip(cases, run_many(*[["fit", *args] for args, _ in cases])):
        refused(proc, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned.json"]


# ---------------------------------------------------------------------- memory


def test_a_huge_rank_is_refused_before_anything_is_allocated(sample):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"fitting method 'als' on 2,000 prompts x 20 models "
                                         r"would need .* TiB, above the limit .*; choose a "
                                         r"smaller rank than 100000"):
        routerrec.fit(sample, rank=100_000)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("method", ["logistic", "sgd", "lightfm"])
def test_every_factor_method_estimates_its_memory(sample, method):
    with pytest.raises(ValueError, match=f"fitting method '{method}' .* smaller rank"):
        routerrec.fit(sample, method=method, rank=10_000_000)


def test_knn_similarities_are_estimated_before_they_are_built(sample, monkeypatch):
    """knn keeps a dense columns x columns similarity (37 GiB for big data in the issue);
    here the same arithmetic with the limit lowered to 16 MiB: comparing 2,000 prompts needs
    more than that, comparing 20 models does not."""
    monkeypatch.setenv(MAX_BYTES_ENV, str(16 << 20))
    with pytest.raises(ValueError, match=r"knn compares every pair of the 2,000 prompts; use "
                                         r"kind='model'"):
        routerrec.fit(sample, method="knn", kind="prompt")
    assert routerrec.fit(sample, method="knn").similarity.shape == (20, 20)


def test_cli_refuses_a_huge_rank_with_advice(tmp_path):
    refused(cli("fit", "--rank", 100_000, "--out", tmp_path / "m"), "smaller rank",
            MAX_BYTES_ENV)
    assert not (tmp_path / "m").exists()


def huge_model(n_prompts=100_000, n_models=10_000) -> Model:
    """A model whose full prediction would be 7.5 GiB of float64 work (rank 1: cheap)."""
    return Model(method="als", params={"rank": 1}, prompts=[f"p{i}" for i in range(n_prompts)],
                 models=[f"m{j}" for j in range(n_models)], global_mean=0.5,
                 prompt_bias=np.zeros(n_prompts), model_bias=np.zeros(n_models),
                 prompt_factors=np.zeros((n_prompts, 1)), model_factors=np.zeros((n_models, 1)),
                 clip=(0.0, 1.0))


def test_predicting_a_huge_grid_is_refused_with_what_to_do_instead():
    model = huge_model()
    with pytest.raises(ValueError, match=r"predicting 100,000 prompts x 10,000 models would "
                                         r"need 7.5 GiB.*predict fewer prompts at a time"):
        model.predict()
    assert model.predict(model.prompts[:1000]).shape == (1000, 10_000)  # in chunks: fine


def test_cli_predict_on_a_huge_model_refuses_and_top_works(tmp_path):
    huge_model().save(tmp_path / "huge")
    whole, top = run_many(  # independent: run at once
        ("predict", "--model", tmp_path / "huge", "--out", tmp_path / "p.parquet"),
        ("predict", "--model", tmp_path / "huge", "--top", 2, "--limit", 3))
    refused(whole, "would need 7.5 GiB", "--top")
    assert not (tmp_path / "p.parquet").exists()
    assert top.returncode == 0, top.stderr


# ------------------------------------------------------------------ model files


def _save(model, path: Path, *, manifest=None, arrays=None) -> Path:
    """Save ``model``, then change its manifest fields and arrays as a damaged file would."""
    model.save(path)
    if manifest:
        data = json.loads((path / "manifest.json").read_text())
        for key, value in manifest.items():
            target, _, field = key.rpartition(".")
            (data[target] if target else data)[field] = value
        (path / "manifest.json").write_text(json.dumps(data))  # NaN written as JSON's NaN
    if arrays:
        with np.load(path / "arrays.npz") as npz:
            saved = dict(npz)
        for name, change in arrays.items():
            change(saved[name])
        np.savez(path / "arrays.npz", **saved)
    return path


def _set(index, value):
    def change(array):
        array[index] = value
    return change


@pytest.fixture(scope="module")
def saved_kinds(sample):
    """One fitted model of each saved kind (factor, knn, lightfm)."""
    return {"factor": routerrec.fit(sample, rank=2, iterations=2),
            "knn": routerrec.fit(sample, method="knn"),
            "lightfm": routerrec.fit(sample, method="lightfm", rank=2, iterations=2)}


@pytest.mark.parametrize("kind", ["factor", "knn", "lightfm"])
@pytest.mark.parametrize("damage,where,message", [
    (dict(arrays={"prompt_bias": _set(7, NAN)}), "arrays.npz",
     "prompt_bias must hold finite numbers only, got nan at index 7"),
    (dict(manifest={"global_mean": NAN}), "manifest.json",
     "global_mean must be a finite number, got nan"),
    (dict(manifest={"global_mean": None}), "manifest.json", "global_mean must be a number"),
    (dict(manifest={"clip": [1.0, 0.0]}), "manifest.json",
     "clip must be [low, high] with low <= high, got [1.0, 0.0]"),
    (dict(manifest={"clip": [0.0, INF]}), "manifest.json", "clip[1] must be a finite number"),
    (dict(manifest={"noise_var": -1.0}), "manifest.json", "noise_var must be a finite number"),
    (dict(manifest={"link": "cubic"}), "manifest.json", "link must be one of"),
    (dict(manifest={"prompts": "p1"}), "manifest.json", "prompts must be a list of strings"),
    (dict(manifest={"models": [1, 2]}), "manifest.json", "models[0] must be a string"),
    (dict(manifest={"params": [1]}), "manifest.json", "params must be a JSON object"),
    (dict(manifest={"kind": "zzz"}), "manifest.json", "unknown model kind 'zzz'"),
    (dict(manifest={"prompt_benchmark": [[1]]}), "manifest.json", "prompt_benchmark must be"),
    (dict(manifest={"models": ["m"] * 20}), "manifest.json",
     "models must be unique ids, 'm' appears twice"),
])
def test_damaged_model_files_fail_at_load_naming_file_and_field(saved_kinds, tmp_path, kind,
                                                                damage, where, message):
    """NaN factors, a NaN global mean or an inverted clip range predicted NaN or a constant
    silently; every saved kind now refuses them at load."""
    path = _save(saved_kinds[kind], tmp_path / kind, **damage)
    with pytest.raises(ModelFileError) as info:
        routerrec.load_model(path)
    assert str(info.value).startswith(f"{path / where}: {message}"), str(info.value)


def test_damaged_parameters_and_arrays_of_each_kind(saved_kinds, tmp_path):
    cases = [("factor", dict(manifest={"params.reg": NAN}), "als parameter reg must be a finite"),
             ("factor", dict(arrays={"model_factors": _set((3, 1), -INF)}),
              "model_factors must hold finite numbers only, got -inf at index (3, 1)"),
             ("knn", dict(manifest={"params.kind": "user"}), "knn parameter kind must be one of"),
             ("knn", dict(manifest={"params.k": 2.5}), "knn parameter k must be an integer"),
             ("knn", dict(arrays={"similarity": _set((0, 1), NAN)}), "similarity must hold"),
             ("knn", dict(arrays={"res_indices": _set(0, 10**6)}),
              "res_indptr and res_indices are not a valid sparse matrix"),
             ("lightfm", dict(arrays={"prompt_factors": _set((0, 0), NAN)}),
              "prompt_factors must hold finite")]
    for i, (kind, damage, message) in enumerate(cases):
        path = _save(saved_kinds[kind], tmp_path / f"m{i}", **damage)
        with pytest.raises(ModelFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            routerrec.load_model(path)


@pytest.mark.parametrize("kind", ["factor", "knn", "lightfm"])
def test_arrays_larger_than_the_manifest_are_refused_before_reading(saved_kinds, tmp_path, kind):
    """read_artifact(expect=...) for every kind: the shapes follow from the manifest's ids."""
    model = saved_kinds[kind]
    path = _save(model, tmp_path / kind, manifest={"prompts": model.prompts[:-1],
                                                   "prompt_benchmark": model.prompt_benchmark[:-1]})
    with pytest.raises(ModelFileError, match="the manifest implies"):
        routerrec.load_model(path)
    if kind == "knn":
        big = np.zeros((5000, 5000), np.float32)
        path = _save(model, tmp_path / "sim", arrays={})
        with np.load(path / "arrays.npz") as npz:
            saved = {**dict(npz), "similarity": big}
        np.savez(path / "arrays.npz", **saved)
        with pytest.raises(ModelFileError, match=r"'similarity' has shape \(5000, 5000\); "
                                                 r"the manifest implies \(20, 20\)"):
            routerrec.load_model(path)


@pytest.mark.parametrize("directory,error", [(None, TypeError), (3, TypeError),
                                             ("", ValueError)])
def test_load_model_of_what_is_not_a_path(directory, error):
    with pytest.raises(error, match="load_model's directory must"):
        routerrec.load_model(directory)


def test_ids_and_directories_of_the_wrong_type_are_type_errors(fitted):
    for ids in (5, [["p"]], [{"p": 1}]):
        with pytest.raises(TypeError, match="prompts must be a list of ids"):
            fitted.predict(ids)
    with pytest.raises(TypeError, match="models must be a list of ids"):
        fitted.predict(models=iter(fitted.models))
    with pytest.raises(TypeError, match="save's directory must be a path"):
        fitted.save(None)


def test_a_saved_model_still_loads_and_predicts_the_same(saved_kinds, tmp_path):
    for kind, model in saved_kinds.items():
        loaded = routerrec.load_model(model.save(tmp_path / kind))
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.predict(), model.predict())


# --------------------------------------------------------------------- fold-in


@pytest.fixture(scope="module")
def fitted(sample):
    return routerrec.fit(sample, rank=2, iterations=3)


def test_fold_in_scores_outside_the_score_range_name_the_prompt(fitted, sample):
    """add-model with scores 5 and -3 reported 'overall 0.4911' as accuracy and saved."""
    p = fitted.prompts
    for add in (fitted.add_model, lambda n, r: routerrec.fold_in_model(fitted, n, r)):
        with pytest.raises(ValueError, match=rf"the score on prompt '{p[1]}' must be a finite "
                                             r"number >= 0.0 and <= 1.0, got -3"):
            add("new-llm", {p[0]: 1.0, p[1]: -3, p[2]: 5})
    with pytest.raises(ValueError, match=rf"the score on model '{fitted.models[0]}' must be"):
        fitted.add_prompt("new-prompt", {fitted.models[0]: 5.0})
    with pytest.raises(TypeError, match="the score on prompt .* must be a number, got str"):
        fitted.add_model("new-llm", {p[0]: "0.5"})
    with pytest.raises(TypeError, match=r"add_model takes \{prompt id: score\} \(a dict\)"):
        fitted.add_model("new-llm", [(p[0], 1.0)])
    for method in ("mean", "knn", "logistic"):  # every model of 0/1 scores, whatever its link
        other = routerrec.fit(sample, method=method, **({"members": 1, "rank": 2}
                                                          if method == "logistic" else {}))
        assert other.score_range == (0.0, 1.0)
        with pytest.raises(ValueError, match="must be a finite number >= 0.0 and <= 1.0"):
            other.add_model("new-llm", {p[0]: 5.0})


def test_unbounded_scores_fold_in_beyond_the_training_range(graded):
    """A new model may score beyond the training range of unbounded scores: only finite."""
    model = routerrec.fit(graded, rank=2, iterations=3)
    assert model.score_range is None
    high = model.clip[1] + 10
    assert model.add_model("new", {model.prompts[0]: high}).models[-1] == "new"
    with pytest.raises(ValueError, match="must be a finite number, got inf"):
        model.add_model("new", {model.prompts[0]: INF})


@pytest.mark.parametrize("name,error", [("", ValueError), ("a,b", ValueError),
                                        (" padded", ValueError), ("two\nlines", ValueError),
                                        (None, TypeError), (7, TypeError)])
def test_names_that_could_not_be_selected_again_are_refused(fitted, sample, name, error):
    answers = {fitted.prompts[0]: 1.0}
    knn_model = routerrec.fit(sample, method="knn")
    calls = [lambda: fitted.add_model(name, answers),
             lambda: fitted.add_model_row(name, np.zeros(2, np.float32), 0.0),
             lambda: routerrec.fold_in_model(fitted, name, answers),
             lambda: knn_model.add_model(name, answers)]
    for call in calls:
        with pytest.raises(error, match="the new model's name"):
            call()
    for model in (fitted, knn_model):
        with pytest.raises(error, match="the new prompt's name"):
            model.add_prompt(name, {model.models[0]: 1.0})
    with pytest.raises(ValueError, match="already in the model"):
        fitted.add_model(fitted.models[0], answers)


def test_cli_add_model_with_scores_outside_the_range_saves_nothing(tmp_path, fitted):
    fitted.save(tmp_path / "m")
    before = (tmp_path / "m" / "manifest.json").read_bytes()
    answers = tmp_path / "answers.csv"
    pl.DataFrame({"prompt": fitted.prompts[:3], "score": [1.0, 5.0, -3.0]}).write_csv(answers)
    out_of_range, commas = run_many(  # independent: run at once
        ("add-model", "--model", tmp_path / "m", "--name", "new-llm", "--results", answers,
         "--out", tmp_path / "m2"),
        ("add-model", "--model", tmp_path / "m", "--name", "a,b", "--results", answers))
    refused(out_of_range, f"the score on prompt '{fitted.prompts[1]}'", "got 5")
    refused(commas, "'a,b'", "commas")
    assert not (tmp_path / "m2").exists()
    assert (tmp_path / "m" / "manifest.json").read_bytes() == before


def test_spark_engine_settings_are_checked_before_a_session_starts():
    for params, error in ((dict(master=float("nan")), TypeError), (dict(master=""), ValueError),
                          (dict(tmp_dir=3), TypeError)):
        with pytest.raises(error, match="master|tmp_dir"):
            routerrec.methods.check_params("als", params, engine="spark")


def test_lightfm_prompt_features_are_checked_by_the_declaration():
    for value, error in ((float("nan"), TypeError), ("words", TypeError),
                         (np.ones(3), ValueError), (np.full((2, 2), np.nan), ValueError)):
        with pytest.raises(error, match="prompt_features"):
            routerrec.methods.check_params("lightfm", dict(prompt_features=value))
