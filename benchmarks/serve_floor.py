"""`routerrec serve` whose decisions cost nothing: what a /v1/route request costs the server
besides routing (bench_serve.py's floor for a routed POST, next to /health's for a GET).

    python benchmarks/serve_floor.py --router DIR [--port 0]   # prints "listening on URL"

The app, its middleware, the micro-batching and uvicorn's settings are the real command's
(`routerrec.cli.serve`); only the loaded router's `decide` is replaced, by one that answers
the router's first model for every prompt at once.
"""
from __future__ import annotations

import argparse

from routerrec.cli.serve import listen, uvicorn_config
from routerrec.serve.app import build_app
from routerrec.serve.config import ServeConfig
from routerrec.serve.state import load_serving_router


class FreeDecisions:
    """A loaded router whose ``decide`` costs nothing: its first model for every prompt."""

    def __init__(self, router):
        self.name, self.models_ = router.name, router.models_

    def decide(self, texts, **options):
        return [[(self.models_[0], 0.5, 0.0)] for _ in texts]


def main(argv=None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", required=True, help="a fitted router directory")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    config = ServeConfig(router=args.router, port=args.port)
    app = build_app(config)
    app.state.server.state.loader = lambda directory, upstream_models: FreeDecisions(
        load_serving_router(directory, upstream_models))
    sock = listen(config.host, config.port)
    print(f"listening on http://{config.host}:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn_config(app, config, "warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
