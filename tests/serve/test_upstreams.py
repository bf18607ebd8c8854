"""The upstreams file: both shapes load, every bad file is refused naming file, model, field."""
from __future__ import annotations

import json

import pytest

from routerrec.serve.upstreams import Upstream, load_upstreams

MODELS = ["gpt-4", "llama-3-8b", "mixtral"]


def write(tmp_path, text: str, name: str = "upstreams.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_models_mapping(tmp_path, monkeypatch):
    monkeypatch.setenv("EXAMPLE_KEY", "secret")
    path = write(tmp_path, """
models:
  gpt-4:
    base_url: https://api.example.com/v1/
    api_key_env: EXAMPLE_KEY
    model: gpt-4-0613
  llama-3-8b:
    base_url: http://127.0.0.1:9001/v1
""")
    assert load_upstreams(path, MODELS) == {
        "gpt-4": Upstream("gpt-4", "https://api.example.com/v1", "EXAMPLE_KEY", "gpt-4-0613"),
        "llama-3-8b": Upstream("llama-3-8b", "http://127.0.0.1:9001/v1"),
    }
    assert load_upstreams(path, MODELS)["llama-3-8b"].name_upstream == "llama-3-8b"


def test_json_and_flat_mapping_load_the_same(tmp_path):
    entries = {"mixtral": {"base_url": "http://127.0.0.1:9002/v1", "model": "mixtral-8x7b"}}
    flat = write(tmp_path, json.dumps(entries), "flat.json")
    nested = write(tmp_path, json.dumps({"models": entries}), "nested.json")
    yaml_flat = write(tmp_path, "mixtral: {base_url: 'http://127.0.0.1:9002/v1', "
                                "model: mixtral-8x7b}\n", "flat.yml")
    expected = {"mixtral": Upstream("mixtral", "http://127.0.0.1:9002/v1", None, "mixtral-8x7b")}
    assert load_upstreams(flat, MODELS) == load_upstreams(nested, MODELS) == expected
    assert load_upstreams(yaml_flat, MODELS) == expected


@pytest.mark.parametrize("text, name, message", [
    ("models:\n  gpt-5:\n    base_url: http://x/v1\n", "upstreams.yaml",
     r"model 'gpt-5' is not one of the router's models \(gpt-4, llama-3-8b, mixtral\)"),
    ("models:\n  gpt-4:\n    api_key_env: K\n", "upstreams.yaml", r"model 'gpt-4' has no base_url"),
    ("models:\n  gpt-4:\n    base_url: ftp://x/v1\n", "upstreams.yaml",
     r"model 'gpt-4' base_url must be an http:// or https:// URL"),
    ("models:\n  gpt-4:\n    base_url: http:///v1\n", "upstreams.yaml", r"URL with a host"),
    ("models:\n  gpt-4:\n    base_url: 12\n", "upstreams.yaml",
     r"model 'gpt-4' base_url must be a string"),
    ("models:\n  gpt-4:\n    base_url: http://x/v1\n    url: http://y\n", "upstreams.yaml",
     r"model 'gpt-4' has unknown field 'url'; the fields are base_url, api_key_env, model"),
    ("models:\n  gpt-4:\n    base_url: http://x/v1\n    api_key_env: NOT_SET_ANYWHERE_1\n",
     "upstreams.yaml", r"model 'gpt-4' api_key_env names NOT_SET_ANYWHERE_1, which is not set"),
    ("models:\n  gpt-4:\n    base_url: http://x/v1\n    model: ''\n", "upstreams.yaml",
     r"model 'gpt-4' model must not be empty"),
    ("models:\n  gpt-4: http://x/v1\n", "upstreams.yaml",
     r"model 'gpt-4' must be a mapping with base_url"),
    ("models:\n  gpt-4: {base_url: 'http://x/v1'}\n  gpt-4: {base_url: 'http://y/v1'}\n",
     "upstreams.yaml", r"not valid YAML: .*key 'gpt-4' appears twice"),
    ('{"gpt-4": {"base_url": "http://x/v1"}, "gpt-4": {"base_url": "http://y/v1"}}',
     "upstreams.json", r"not valid JSON: key 'gpt-4' appears twice"),
    ("models: [gpt-4\n", "upstreams.yaml", r"not valid YAML"),
    ("{'gpt-4': 1}", "upstreams.json", r"not valid JSON"),
    ("", "upstreams.yaml", r"must map at least one model id to its upstream"),
    ("models: {}\n", "upstreams.yaml", r"must map at least one model id"),
    ("- gpt-4\n", "upstreams.yaml", r"must map at least one model id .* got list"),
    ("models: {}\nextra: 1\n", "upstreams.yaml", r"unknown top-level key 'extra'"),
    ("12: {base_url: 'http://x/v1'}\n", "upstreams.yaml", r"model id must be a string, got int"),
])
def test_bad_files_are_refused_naming_file_model_field(tmp_path, text, name, message):
    path = write(tmp_path, text, name)
    with pytest.raises(ValueError, match=message) as error:
        load_upstreams(path, MODELS)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"upstreams file .*nowhere.yaml does not exist"):
        load_upstreams(tmp_path / "nowhere.yaml", MODELS)
