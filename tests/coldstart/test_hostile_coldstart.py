"""Issue 11, cold start: a model that fits its training data almost exactly (noiseless data,
few models, a tiny reg) has a noise variance near 0; its posterior covariances came out
slightly indefinite and adaptive probing crashed with "Matrix is not positive definite"."""
import numpy as np
import pytest
from planted import planted_records

import routerrec
from routerrec import select_probes
from routerrec.coldstart.probes import ProbeSession


@pytest.fixture(scope="module")
def exact_fit():
    records, _ = planted_records(n_prompts=400, n_models=8, rank=2, noise=0.0, density=1.0,
                                 seed=1)
    model = routerrec.fit(records, rank=2, reg=1e-9, iterations=50)
    assert model.noise_var < 1e-10  # the condition the crash needed
    return model


def test_adaptive_probing_of_an_almost_exact_model_runs_to_its_budget(exact_fit):
    session = ProbeSession(exact_fit, budget=60)
    rng = np.random.default_rng(0)
    while not session.done:
        session.record(session.propose(), float(rng.random()))
    assert len(session.answers) == 60
    result = session.result("new-llm")
    assert all(np.isfinite(v["estimate"]) and np.isfinite(v["sd"])
               for v in result.benchmarks.values())


def test_adaptive_probe_list_of_an_almost_exact_model(exact_fit):
    probes = select_probes(exact_fit, 30, strategy="adaptive")
    assert len(set(probes)) == 30 and set(probes) <= set(exact_fit.prompts)


def test_public_arguments_are_checked_in_one_sentence(exact_fit):
    p0 = exact_fit.prompts[0]
    bad = [(lambda: select_probes(exact_fit, 2.5), TypeError, "k must be an integer"),
           (lambda: select_probes(exact_fit, "5"), TypeError, "k must be an integer"),
           (lambda: select_probes(exact_fit, 5, seed=-1), ValueError, "seed must be"),
           (lambda: select_probes(exact_fit, 5, cost_weight=float("nan")), ValueError,
            "cost_weight must be a finite number >= 0"),
           (lambda: select_probes(exact_fit, 5, costs=[1.0]), TypeError, "costs must be a dict"),
           (lambda: ProbeSession(exact_fit, budget="50"), TypeError, "budget must be an integer"),
           (lambda: ProbeSession(exact_fit, budget=0), ValueError,
            "budget must be an integer >= 1"),
           (lambda: ProbeSession(exact_fit, target_width=float("nan")), ValueError,
            "target_width must be a finite number > 0"),
           (lambda: ProbeSession(exact_fit, level=1.0), ValueError, "level must be a finite"),
           (lambda: routerrec.fold_in_model(exact_fit, "new", {p0: 0.5}, level=95), ValueError,
            "level must be a finite number > 0 and < 1"),
           (lambda: routerrec.fold_in_model("out/als", "new", {p0: 0.5}), TypeError,
            "cold start needs a fitted routerrec Model"),
           (lambda: select_probes(None, 5), TypeError, "cold start needs a fitted")]
    for call, error, message in bad:
        with pytest.raises(error, match=message):
            call()
