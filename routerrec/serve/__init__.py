"""``routerrec serve``: the router in the request path (decision API, OpenAI-compatible gateway,
durable feedback). See docs/serve.md."""
