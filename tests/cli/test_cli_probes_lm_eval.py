"""Adding a new LLM for real with lm-evaluation-harness, through the installed ``routerrec``:
fit on an lm-eval --log_samples folder -> ``probes --format lm-eval`` -> the new LLM's
per-doc outputs for exactly those docs, written in lm-eval's layout -> ``add-model --results``.

The folders are made here as lm-eval writes them: OUT/<model>/samples_<task>_<date>.jsonl,
one line per doc with doc_id, doc, filter, metrics and the metric values.
"""
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run, run_many, write_tiny

DATE = "2024-06-25T13-40-43.120421"
TASKS = {"arc_easy": 40, "gsm8k": 30}
NEW = "myorg__new-llm"


def _line(doc_id, task, acc) -> dict:
    return {"doc_id": doc_id, "doc": {"question": f"{task} question {doc_id}?"}, "target": "0",
            "resps": [[["-1.2", "False"]]], "filter": "none", "metrics": ["acc", "acc_norm"],
            "acc": acc, "acc_norm": 1.0 - acc}


def _write(folder: Path, task: str, lines, date=DATE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples_{task}_{date}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _planted() -> dict:
    """{model: {task: 0/1 per doc}} from a rank-2 logistic model: 15 models, the last the new LLM."""
    rng = np.random.default_rng(0)
    skill = rng.normal(size=(15, 2)) + [1.0, 0.0]
    truth = {}
    for task, n in TASKS.items():
        items = rng.normal(size=(n, 2))
        p = 1 / (1 + np.exp(-(items @ skill.T)))
        draws = (rng.random(p.shape) < p).astype(float)
        for m in range(15):
            name = NEW if m == 14 else f"org__m{m}"
            truth.setdefault(name, {})[task] = draws[:, m].tolist()
    return truth


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """(folder, truth of the new LLM, model dir, probes.json, the probes command's JSON)."""
    root = tmp_path_factory.mktemp("lmeval")
    truth = _planted()
    for model, tasks in truth.items():
        if model != NEW:
            for task, accs in tasks.items():
                _write(root / "out" / model, task, [_line(d, task, a) for d, a in enumerate(accs)])
    run("fit", "--data", root / "out", "--method", "als", "--out", root / "model")
    probes = root / "probes.json"
    shown = json.loads(run("probes", "--model", root / "model", "--k", "12", "--format", "lm-eval",
                           "--out", probes, "--json").stdout)
    return root, truth[NEW], root / "model", probes, shown


def _new_llm_outputs(folder: Path, samples: dict, truth: dict, renumbered=False) -> Path:
    """The new LLM's lm-eval output for exactly ``samples``; ``renumbered``: as lm-eval releases
    that logged the chosen docs as doc_id 0..k-1 wrote it."""
    for task, docs in samples.items():
        _write(folder / NEW, task, [_line(j if renumbered else d, task, truth[task][d])
                                    for j, d in enumerate(docs)])
    return folder


def test_probes_write_lm_eval_samples_and_the_command_that_runs_them(fitted):
    _, _, model, probes, shown = fitted
    samples = json.loads(probes.read_text())
    assert shown["format"] == "lm-eval" and shown["samples"] == samples and shown["k"] == 12
    assert set(samples) <= set(TASKS) and sum(map(len, samples.values())) == 12
    for row in shown["probes"]:  # every probe id is <task>-<doc index> and in the file
        task, index = row["prompt"].rsplit("-", 1)
        assert task == row["benchmark"] and int(index) in samples[task]
    words = shlex.split(shown["command"])
    assert words[0] == "lm_eval" and words[words.index("--samples") + 1] == str(probes)
    assert "--log_samples" in words and words[words.index("--tasks") + 1] == ",".join(samples)
    assert "--output_path" in words and "--limit" not in words  # lm-eval refuses --samples with --limit
    text = run("probes", "--model", model, "--k", "12", "--format", "lm-eval").stdout
    inline = shlex.split(text.splitlines()[1])  # without --out: the JSON goes on the command line
    assert json.loads(inline[inline.index("--samples") + 1]) == samples


def test_add_model_reads_the_lm_eval_output_of_the_probes(fitted, tmp_path):
    _, truth, model, probes, shown = fitted
    out = _new_llm_outputs(tmp_path / "lm-eval-out", shown["samples"], truth)
    one = next((out / NEW).glob("samples_*.jsonl"))
    base = ["add-model", "--model", model, "--name", "new-llm", "--results"]
    saved, text, folder, single = run_many(
        base + [out, "--samples", probes, "--out", tmp_path / "model2", "--json"], base + [out],
        base + [out / NEW, "--json"], base + [one, "--json"])
    res = json.loads(saved.stdout)
    assert res["n_probes"] == 12 and set(res["benchmarks"]) == set(shown["samples"]) | {"overall"}
    overall = res["benchmarks"]["overall"]
    true_mean = np.mean([a for accs in truth.values() for a in accs])
    assert overall["low"] <= true_mean <= overall["high"], (overall, true_mean)
    assert (tmp_path / "model2" / "manifest.json").exists()
    assert text.stdout.startswith("new-llm: folded in from 12 answers") and "overall" in text.stdout
    # the model's own folder and one samples file are read too, with the same parser
    assert json.loads(folder.stdout)["benchmarks"] == res["benchmarks"]
    task = next(t for t in shown["samples"] if one.name.startswith(f"samples_{t}_"))
    assert json.loads(single.stdout)["n_probes"] == len(shown["samples"][task])


def test_renumbered_doc_ids_of_older_lm_eval_are_mapped_back_with_the_samples_file(fitted, tmp_path):
    _, truth, model, probes, shown = fitted
    right = _new_llm_outputs(tmp_path / "right", shown["samples"], truth)
    old = _new_llm_outputs(tmp_path / "old", shown["samples"], truth, renumbered=True)
    runs = run_many(*[["add-model", "--model", model, "--name", "n", "--results", folder,
                       "--samples", probes, "--json"] for folder in (right, old)])
    assert json.loads(runs[0].stdout)["benchmarks"] == json.loads(runs[1].stdout)["benchmarks"]


def test_add_model_metric_names_the_per_doc_metric(fitted, tmp_path):
    _, truth, model, probes, shown = fitted
    out = _new_llm_outputs(tmp_path / "o", shown["samples"], truth)
    acc, norm = run_many(["add-model", "--model", model, "--name", "n", "--results", out, "--json"],
                         ["add-model", "--model", model, "--name", "n", "--results", out,
                          "--metric", "acc_norm", "--json"])  # acc_norm = 1 - acc here
    estimate = lambda proc: json.loads(proc.stdout)["benchmarks"]["overall"]["estimate"]
    assert estimate(norm) != estimate(acc)


def _refused(proc, *parts):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error:") and all(p in line for p in parts), line


def test_probes_refuse_ids_that_are_not_lm_eval_docs(tmp_path):
    run("fit", "--data", write_tiny(tmp_path), "--method", "als", "--rank", "1", "--out", tmp_path / "m")
    proc = run("probes", "--model", tmp_path / "m", "--k", "1", "--strategy", "random", "--format",
               "lm-eval", ok=False)
    _refused(proc, "prompt id", "is not an lm-eval id '<task>-<doc index>'", "--log_samples")
    assert not list(tmp_path.glob("*.json"))


def test_probes_refuse_data_with_the_lm_eval_format(fitted, tmp_path):
    _, _, model, _, _ = fitted
    proc = run("probes", "--model", model, "--format", "lm-eval", "--data", write_tiny(tmp_path),
               ok=False)
    _refused(proc, "--data", "--format lm-eval")


def test_add_model_errors_name_the_file_line_and_field(fitted, tmp_path):
    _, truth, model, probes, shown = fitted
    base = ["add-model", "--model", model, "--name", "n", "--results"]
    two = _new_llm_outputs(tmp_path / "two", shown["samples"], truth)
    _new_llm_outputs(tmp_path / "two" / "other", shown["samples"], truth)  # two/other/<NEW>
    (tmp_path / "two" / "other" / NEW).rename(two / "second-model")
    task, docs = next(iter(shown["samples"].items()))
    stray = [d for d in range(TASKS[task]) if d not in docs][0]
    bad = _write(tmp_path / "stray" / NEW, task,
                 [_line(d, task, 1.0) for d in docs[:-1]] + [_line(stray, task, 1.0)])
    broken = _write(tmp_path / "broken" / NEW, task, [_line(docs[0], task, 1.0)])
    broken.write_text(broken.read_text() + '{"doc_id": 1, \n')
    other = _write(tmp_path / "other" / NEW, "hellaswag", [_line(0, "hellaswag", 1.0)])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({task: ["a"]}))
    table = tmp_path / "scored.csv"
    table.write_text("prompt,score\n")
    cases = [  # (arguments after --results, what the one error line must say)
        ([two], ["two", "holds the outputs of 2 models", "give one model's folder"]),
        ([bad, "--samples", probes], [bad.name, "column 'doc_id'", f"row {len(docs)}",
                                      f"doc_id {stray} is not one of the {len(docs)} doc indices"]),
        ([bad, "--metric", "bleu"], [bad.name, "row 1", "none of the metric(s) bleu"]),
        ([broken], [broken.name, "row 2", "invalid JSON"]),
        ([other, "--samples", probes], [other.name, "task 'hellaswag' is not in the --samples"]),
        ([other], [other.name, "unknown prompt id 'hellaswag-0'"]),
        ([bad, "--samples", wrong], ["wrong.json", f"task {task!r}", "doc indices"]),
        ([table, "--metric", "acc"], ["--metric and --samples read lm-eval"]),
        ([tmp_path / "probes-like.jsonl"], ["probes-like.jsonl"]),
    ]
    for (args, parts), proc in zip(cases, run_many(*[base + args for args, _ in cases])):
        _refused(proc, *parts)
