"""``routerrec serve``: the router in the request path (docs/serve.md)."""
from __future__ import annotations

import json
import os
import socket
import sys

import click

from .options import LazyChoice, Real, fail, policy_names, reported_as

__all__ = ["serve"]

GRACEFUL_SECONDS = 30  # on SIGTERM, requests in flight get this long to finish
# a new worker loads the router before it answers the supervisor's ping (~20 s for auto on
# the sample on a busy machine; uvicorn's 5 s default aborted SIGHUP's restart there)
WORKER_READY_SECONDS = 120


@click.command()
@click.option("--router", "router_dir", required=True,
              type=click.Path(exists=True, file_okay=False),
              help="Router directory written by `routerrec fit --router` (required).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put auth in front).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: a free one; the address is printed).")
@click.option("--upstreams", type=click.Path(exists=True, dir_okay=False), default=None,
              help="YAML/JSON: model id -> base_url (+ api_key_env, model). Enables "
                   "/v1/chat/completions.")
@click.option("--feedback", "feedback_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of the durable feedback log. Enables /v1/feedback.")
@click.option("--api-key-env", default=None,
              help="Environment variable holding the key clients send as 'Authorization: "
                   "Bearer KEY' (every endpoint but /health).")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker processes (uvicorn's supervisor; reload them with SIGHUP to it).")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=4 * 1024 * 1024,
              show_default=True, help="Larger request bodies are refused with 413.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=256, show_default=True,
              help="Requests in flight per worker; more are refused with 503 + Retry-After.")
@click.option("--upstream-timeout", type=Real(min=0, min_open=True), default=60.0,
              show_default=True, help="Seconds for the connect, each read and each write of "
                                      "one upstream try before the next-best model is tried.")
@click.option("--learn", is_flag=True,
              help="Learn from feedback while serving: route with an OnlineRouter (--router: an "
                   "mf router or a saved OnlineRouter); enables /admin/models and /admin/save.")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="--learn: the records the mf router was fitted on (needed for refits).")
@click.option("--refit-every", type=click.IntRange(min=1), default=None,
              help="--learn: refit in the background every N feedback records (needs --data).")
@click.option("--max-explore-share", type=Real(0, 1), default=None,
              help="--learn: most share of decisions that may explore (default: OnlineRouter's).")
@click.option("--max-regret", type=Real(min=0), default=None,
              help="--learn: most expected score given up per exploring pick.")
@click.option("--max-regret-usd", type=Real(min=0), default=None,
              help="--learn: most extra predicted cost per exploring pick.")
@click.option("--learn-policy", type=LazyChoice(policy_names), default=None,
              help="--learn: the exploration policy (default: OnlineRouter's, directed; "
                   "routerrec.online.explore.POLICIES).")
@click.option("--learn-state", type=click.Path(file_okay=False), default=None,
              help="--learn: folder the online state is saved to on shutdown and POST "
                   "/admin/save, and resumed from at start when it holds one.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="Server log level (stderr).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the listening address as one JSON line ({\"url\", \"pid\", ...}).")
def serve(router_dir, host, port, upstreams, feedback_dir, api_key_env, workers, max_body_bytes,
          max_concurrency, upstream_timeout, learn, data, refit_every, max_explore_share,
          max_regret, max_regret_usd, learn_policy, learn_state, log_level, as_json):
    """Serve a fitted router over HTTP: a decision API and an OpenAI-compatible gateway.

    GET /health, POST /v1/route, POST /v1/chat/completions (with --upstreams), POST
    /v1/feedback (with --feedback), GET /metrics, POST /admin/reload (or SIGHUP). The first
    line on stdout is the address ("listening on http://HOST:PORT"); logs go to stderr.
    SIGTERM stops gracefully (requests in flight get 30 s).

    \b
    Example:
      routerrec fit --router --out out/auto
      routerrec serve --router out/auto --port 8000
      curl -s localhost:8000/v1/route -d '{"prompt": "Prove that 17 is prime."}'
      routerrec serve --router out/auto --upstreams upstreams.yaml --feedback out/feedback \\
          --api-key-env ROUTERREC_KEY --workers 2
      routerrec fit --router mf --out out/mf
      routerrec serve --learn --router out/mf --upstreams upstreams.yaml --learn-state out/live
    """
    from ..serve.config import CONFIG_ENV, ServeConfig
    from ..serve.learn import check_learn, gateway_upstreams, learn_source
    from ..serve.state import load_serving_router, router_models

    with reported_as("serve"):
        config = ServeConfig(router=router_dir, host=host, port=port, upstreams=upstreams,
                             feedback=feedback_dir, api_key_env=api_key_env, workers=workers,
                             max_body_bytes=max_body_bytes, max_concurrency=max_concurrency,
                             upstream_timeout=upstream_timeout, learn=learn, data=data,
                             refit_every=refit_every, max_explore_share=max_explore_share,
                             max_regret=max_regret, max_regret_usd=max_regret_usd,
                             learn_policy=learn_policy, learn_state=learn_state)
    with reported_as(f"--api-key-env {api_key_env}"):
        config.api_key()
    source = router_dir
    if learn:
        source = learn_source(config)
        with reported_as(f"--learn --router {router_dir}"):
            check_learn(config)
    with reported_as(f"--router {source}"):
        models = router_models(source)
        if workers > 1:  # each worker loads it again; a broken one must fail here, not in them
            load_serving_router(router_dir)
    with reported_as("--upstreams"):
        loaded_upstreams = gateway_upstreams(config, models)
    sock = listen(host, port)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
    click.echo(json.dumps({"url": url, "pid": os.getpid(), "router": router_dir,
                           "workers": workers}) if as_json else f"listening on {url}")
    sys.stdout.flush()
    if workers == 1:
        _run_one(config, loaded_upstreams, sock, log_level)
    else:
        os.environ[CONFIG_ENV] = config.to_env()
        _run_workers(config, sock, log_level)


def listen(host: str, port: int) -> socket.socket:
    """The bound socket (bound here, so a taken port is a one-line error and port 0 a known
    port before any worker starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})")
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app, config, log_level, **extra):
    """uvicorn's settings for ``app`` (benchmarks/serve_floor.py starts its server with them
    too, so the two servers it compares differ only in their routing)."""
    import uvicorn

    return uvicorn.Config(app, host=config.host, port=config.port, loop="uvloop",
                          http="httptools", lifespan="on", access_log=False,
                          log_level=log_level, server_header=False, proxy_headers=False,
                          timeout_graceful_shutdown=GRACEFUL_SECONDS, **extra)


def _run_one(config, upstreams, sock, log_level) -> None:
    """One process: the app built here, so a router that fails to load is reported here."""
    import uvicorn

    from ..serve.app import build_app

    app = build_app(config, upstreams=upstreams)
    server = uvicorn.Server(uvicorn_config(app, config, log_level))
    app.state.stop = lambda: setattr(server, "should_exit", True)
    server.run(sockets=[sock])
    error = app.state.server.state.load_error
    if error:
        fail(f"--router {config.router}: {error}")
    if not server.started:
        fail("the server did not start (see the log above)")


def _run_workers(config, sock, log_level) -> None:
    """uvicorn's supervisor: N processes share the socket; SIGHUP replaces them one by one
    (each loads --router anew and serves before the old one stops), SIGTERM stops them."""
    from uvicorn.supervisors import Multiprocess

    Multiprocess(uvicorn_config("routerrec.serve.app:app_from_env", config, log_level,
                                 factory=True, workers=config.workers,
                                 timeout_worker_healthcheck=WORKER_READY_SECONDS),
                 sockets=[sock]).run()
