"""``routerrec add-model --live``: add a model to a running ``routerrec serve --learn`` through
``POST /admin/models`` (docs/serve.md, *Learning while serving*).

Plain ``urllib`` (the serve extra's HTTP client is not needed to talk to a server)."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import click

from .options import Real, emit, fail

__all__ = ["add_live", "live_options"]

SERVER_KEY_ENV = "ROUTERREC_API_KEY"  # the server's key, when it has one
TIMEOUT_SECONDS = 30


def live_options(fn):
    """The options of ``add-model --live`` (all None unless given)."""
    opts = [
        click.option("--live", is_flag=True, default=None,
                     help="Add the model to a running `routerrec serve --learn` (POST "
                          "/admin/models) instead of folding it in from probe answers."),
        click.option("--server", default=None, help="--live: the server's URL."),
        click.option("--base-url", default=None,
                     help="--live: the new model's OpenAI-compatible upstream "
                          "(POST {base-url}/chat/completions); leave out on a decision-only "
                          "server."),
        click.option("--api-key-env", default=None,
                     help="--live: variable, in the server's environment, holding the "
                          "upstream's key."),
        click.option("--upstream-model", default=None,
                     help="--live: the name the upstream knows the model by (default --name)."),
        click.option("--cost-per-call", type=Real(min=0), default=None,
                     help="--live: predicted cost of one call (default: the mean of its "
                          "observed costs)."),
        click.option("--server-key-env", default=None,
                     help=f"--live: variable holding the server's API key (default "
                          f"{SERVER_KEY_ENV} when set)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def add_live(name, *, server, base_url, api_key_env, upstream_model, cost_per_call,
             server_key_env, as_json) -> None:
    """Post the model and print the server's answer (its posterior summary)."""
    if not server or not server.startswith(("http://", "https://")):
        fail(f"--live needs --server http(s)://HOST:PORT (the running `routerrec serve "
             f"--learn`), got {server!r}")
    body = {"model": name}
    if base_url is not None:
        upstream = {"base_url": base_url}
        if api_key_env is not None:
            upstream["api_key_env"] = api_key_env
        if upstream_model is not None:
            upstream["model"] = upstream_model
        body["upstream"] = upstream
    elif api_key_env is not None or upstream_model is not None:
        fail("--api-key-env and --upstream-model describe the upstream: give --base-url too")
    if cost_per_call is not None:
        body["cost_per_call"] = cost_per_call
    headers = {"content-type": "application/json"}
    key = _server_key(server_key_env)
    if key:
        headers["authorization"] = f"Bearer {key}"
    url = server.rstrip("/") + "/admin/models"
    answer = _post(url, body, headers)
    emit(answer, as_json,
         f"added {answer['model']} to {server} (upstream {answer.get('upstream') or 'none'}): "
         f"prior mean score {answer['mean_score']:.3f}, 95% width {answer['width']:.3f}; it is "
         "explored until its width is small enough (GET /admin/models shows it)")


def _server_key(env: str | None) -> str | None:
    if env is None:
        return os.environ.get(SERVER_KEY_ENV) or None
    key = os.environ.get(env, "")
    if not key.strip():
        fail(f"--server-key-env {env}: the variable is not set or empty")
    return key


def _post(url: str, body: dict, headers: dict) -> dict:
    """The server's JSON answer; an error answer or no answer is a one-line failure."""
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        fail(f"--server {url}: the server refused the model ({exc.code}): {message}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(f"--server {url}: no answer ({getattr(exc, 'reason', exc)})")
