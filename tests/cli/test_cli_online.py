"""``routerrec evaluate online`` in a subprocess: the report, the plot and refused options."""
from __future__ import annotations

import json

from cli_helpers import run, run_many, write_small_sample


def test_evaluate_online_reports_and_plots(tmp_path):
    data = write_small_sample(tmp_path)
    png = tmp_path / "plots" / "online.png"
    same = ("evaluate", "online", "--data", data, "--text-col", "text", "--seed", "3",
            "--feedback-share", "0.5", "--feedback-delay", "4", "--policy", "ucb")
    proc, text = run_many((*same, "--plot", png, "--json"), same, ok=True)  # at once
    report = json.loads(proc.stdout)
    assert set(report["routers"]) == {"online", "fixed", "probe-50", "probe-matched"}
    assert report["settings"]["feedback_delay"] == 4 and report["settings"]["policy"] == "ucb"
    assert report["n_stream"] + report["n_train_prompts"] <= 286
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = text.stdout
    assert "cumulative regret vs oracle" in text
    for r, v in report["routers"].items():  # the same seed gives the same numbers
        assert f"| {r} | {v['regret']:.2f} |" in text


def test_evaluate_online_refuses_bad_options(tmp_path):
    (tmp_path / "f.txt").write_text("")
    cases = ((["--arrivals", "0.2,x"], "--arrivals"), (["--arrivals", "0.2,1.5"], "arrivals"),
             (["--new-models", "0"], "--new-models"), (["--policy", "eps"], "--policy"),
             (["--plot", tmp_path / "f.txt" / "x.png"], "--plot"))
    for (args, word), proc in zip(cases, run_many(*[("evaluate", "online", *args)
                                                    for args, _ in cases])):
        assert proc.returncode == 2, (args, proc.stderr)
        assert word in proc.stderr, proc.stderr


def test_evaluate_online_help_has_an_example():
    out = run("evaluate", "online", "--help").stdout
    assert "Example:" in out and "routerrec evaluate online" in out
