"""The per-group baselines from the command line: ``fit --router task-best`` / ``cluster-best``
say what they fitted (each group's model, the task classifier's held-out accuracy) and
``route`` gives each decision's reason (its group) in its JSON."""
from __future__ import annotations

import json

from cli_helpers import run_many, write_small_sample

PROMPTS = ["Solve for x: 3x + 7 = 22.", "Write a function that merges two sorted lists."]


def test_fit_and_route_task_best_and_cluster_best(tmp_path):
    data = write_small_sample(tmp_path)
    task, fitted, cluster = (done.stdout for done in run_many(  # independent: run at once
        ("fit", "--router", "task-best", "--data", data, "--out", tmp_path / "task", "--quiet"),
        ("fit", "--router", "task-best", "--data", data, "--out", tmp_path / "task2", "--quiet",
         "--json"),
        ("fit", "--router", "cluster-best", "--data", data, "--out", tmp_path / "cluster",
         "--quiet"), ok=True))
    assert "4 tasks: code → " in task and "math → " in task
    assert "accurate in 5-fold cross-validation on the training prompts" in task
    fitted = json.loads(fitted)
    assert fitted["by"] == "task" and sorted(fitted["group_best"]) == ["code", "math",
                                                                      "reasoning", "trivia"]
    assert 0 < fitted["classifier_accuracy"] <= 1
    routed, routed_by_cluster = (json.loads(done.stdout) for done in run_many(
        *[("route", "--router", tmp_path / name, "--json", *PROMPTS) for name in ("task", "cluster")],
        ok=True))
    for d in routed["decisions"]:
        task_name = d["why"].split("'")[1]
        assert d["why"].startswith("task '") and "classified from the text" in d["why"]
        assert d["model"] == fitted["group_best"][task_name]  # max quality: the task's best
    assert "k-means clusters: cluster 0 → " in cluster and "classifier" not in cluster
    assert all(d["why"].startswith("cluster ") for d in routed_by_cluster["decisions"])
