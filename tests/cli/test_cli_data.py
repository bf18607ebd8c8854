"""``routerrec data info`` and ``routerrec data sample``."""
from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import SAMPLE, run, write_tiny


def test_data_info_text_and_json(tmp_path):
    tiny = write_tiny(tmp_path)
    info = json.loads(run("data", "info", tiny, "--json").stdout)
    assert info["n_prompts"] == 3 and info["n_models"] == 3 and info["n_records"] == 7
    assert info["score_kind"] == "binary"
    assert "n_records" in run("data", "info", tiny).stdout


def test_data_sample_regenerates_the_embedded_sample_byte_for_byte(tmp_path):
    payload = json.loads(run("data", "sample", "--out", tmp_path, "--json").stdout)
    for entry in payload["files"]:
        written = Path(entry["path"])
        assert written.read_bytes() == (SAMPLE / written.name).read_bytes(), written.name
