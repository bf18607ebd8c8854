"""The upstreams file of ``routerrec serve --upstreams``: where each model the router may pick
is served (an OpenAI-compatible ``base_url``), the env var holding its key, and the name that
upstream knows it by. YAML or JSON (by suffix: ``.json`` is JSON, anything else YAML)::

    models:
      gpt-4:                                  # the router's model id
        base_url: https://api.example.com/v1  # POST {base_url}/chat/completions
        api_key_env: EXAMPLE_API_KEY          # optional: sent as "Authorization: Bearer ..."
        model: gpt-4-0613                     # optional: the upstream's name (default: the id)
      llama-3-8b:
        base_url: http://127.0.0.1:9001/v1

The mapping under ``models`` may also stand alone at the top level (a file that starts with
the model ids). The whole file is checked before the server starts: every problem is one
sentence naming the file, the model and the field, so a typo never surfaces as a failed
request at run time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ..util import validate

__all__ = ["Upstream", "load_upstreams", "upstream_from_entry"]

FIELDS = ("base_url", "api_key_env", "model")


@dataclass(frozen=True)
class Upstream:
    """One model's OpenAI-compatible endpoint (``base_url`` without a trailing slash)."""
    model: str
    base_url: str
    api_key_env: str | None = None
    upstream_model: str | None = None

    def entry(self) -> dict:
        """This upstream as an upstreams-file entry (``upstream_from_entry`` reads it back):
        the key variable's name, never the key."""
        return {"base_url": self.base_url,
                **({"api_key_env": self.api_key_env} if self.api_key_env else {}),
                **({"model": self.upstream_model} if self.upstream_model else {})}

    @property
    def name_upstream(self) -> str:
        """The ``model`` field the upstream receives."""
        return self.upstream_model or self.model


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key written twice (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _unique_pairs(pairs):
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"key {twice[0]!r} appears twice")
    return dict(pairs)


def _parse(path: Path):
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique_pairs)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except (ValueError, yaml.YAMLError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise ValueError(f"upstreams file {path} is not valid {kind}: "
                         f"{' '.join(str(error).split())}") from None


def _url(where: str, value) -> str:
    url = validate.string(f"{where} base_url", value).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where} base_url must be an http:// or https:// URL with a host "
                         f"(e.g. http://127.0.0.1:9001/v1), got {value!r}")
    return url


def upstream_from_entry(where: str, model: str, entry) -> Upstream:
    """One model's entry checked (``where`` starts every error); also ``POST /admin/models``."""
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping with base_url (and optionally api_key_env, "
                         f"model), got {type(entry).__name__} {entry!r}")
    validate.fields(where, entry, FIELDS)
    if "base_url" not in entry:
        raise ValueError(f"{where} has no base_url (the upstream's OpenAI-compatible root, "
                         "e.g. http://127.0.0.1:9001/v1)")
    key_env = entry.get("api_key_env")
    if key_env is not None:
        validate.name(f"{where} api_key_env", key_env)
        if key_env not in os.environ:
            raise ValueError(f"{where} api_key_env names {key_env}, which is not set in the "
                             "environment")
    upstream_model = entry.get("model")
    if upstream_model is not None:
        validate.string(f"{where} model", upstream_model)
    return Upstream(model, _url(where, entry["base_url"]), key_env, upstream_model)


def load_upstreams(path, models) -> dict[str, Upstream]:
    """The upstreams of ``path`` by router model id; ``models`` are the router's ids (an id the
    router does not know is refused: it could never be picked). ValueError names what is wrong."""
    path = validate.path("upstreams", path)
    known = validate.texts("models", models)
    if not path.is_file():
        raise ValueError(f"upstreams file {path} does not exist")
    data = _parse(path)
    if isinstance(data, dict) and "models" in data:
        extra = sorted(set(data) - {"models"})
        if extra:
            raise ValueError(f"upstreams file {path} has unknown top-level key {extra[0]!r}; "
                             "it holds only 'models'")
        data = data["models"]
    if not isinstance(data, dict) or not data:
        raise ValueError(f"upstreams file {path} must map at least one model id to its "
                         f"upstream (see docs/serve.md), got {type(data).__name__} {data!r}"[:300])
    upstreams = {}
    for model, entry in data.items():
        where = f"upstreams file {path}: model {model!r}"
        try:
            validate.name(f"upstreams file {path}: model id", model)
            if model not in known:
                raise ValueError(f"{where} is not one of the router's models "
                                 f"({', '.join(sorted(known))})")
            upstreams[model] = upstream_from_entry(where, model, entry)
        except TypeError as error:  # a number where a string belongs: still a bad file
            raise ValueError(str(error)) from None
    return upstreams
