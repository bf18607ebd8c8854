"""``routerrec data info`` and ``routerrec data sample``."""
from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import SAMPLE, run, run_many, write_tiny


def test_data_info_text_and_json(tmp_path):
    tiny = write_tiny(tmp_path)
    shown, text = run_many(("data", "info", tiny, "--json"), ("data", "info", tiny), ok=True)
    info = json.loads(shown.stdout)
    assert info["n_prompts"] == 3 and info["n_models"] == 3 and info["n_records"] == 7
    assert info["score_kind"] == "binary"
    assert "n_records" in text.stdout


def test_data_sample_regenerates_the_embedded_sample_byte_for_byte(tmp_path):
    payload = json.loads(run("data", "sample", "--out", tmp_path, "--json").stdout)
    for entry in payload["files"]:
        written = Path(entry["path"])
        assert written.read_bytes() == (SAMPLE / written.name).read_bytes(), written.name


def test_published_layouts_from_the_command_line(tmp_path):
    """An lm-eval folder, a forced layout, benchmarks from file names and costs from prices."""
    for model, answers in (("org__m1", (1.0, 0.0)), ("org__m2", (0.0, 1.0))):
        folder = tmp_path / "lm" / model
        folder.mkdir(parents=True)
        lines = [json.dumps({"doc_id": i, "doc": {"question": f"Question {i}?"}, "acc": a})
                 for i, a in enumerate(answers)]
        (folder / "samples_arc_easy_2024-06-25T13-40-43.jsonl").write_text("\n".join(lines))
    rows = [{"question": "What is 2+2?", "scores": {"m1": 1, "m2": 0}}]
    (tmp_path / "mmlu_train.json").write_text(json.dumps(rows))
    (tmp_path / "prices.csv").write_text("model,input_price,output_price\nm1,1,2\nm2,0.5,1\n")
    lm, scores, bad = run_many(  # independent: run at once
        ("data", "info", tmp_path / "lm", "--json"),
        ("data", "info", tmp_path / "mmlu_train.json", "--layout", "scores-json",
         "--benchmark-from-name", "--prices", tmp_path / "prices.csv", "--json"),
        ("data", "info", tmp_path / "mmlu_train.json", "--layout", "matrix"))
    for done in (lm, scores):
        assert done.returncode == 0, (done.args, done.stderr)
    info = json.loads(lm.stdout)
    assert (info["n_prompts"], info["n_models"]) == (2, 2) and list(info["benchmarks"]) == ["arc_easy"]
    info = json.loads(scores.stdout)
    assert list(info["benchmarks"]) == ["mmlu"] and info["cost_coverage"] == 1.0
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "mmlu_train.json" in bad.stderr
