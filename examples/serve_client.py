"""Call routerrec's OpenAI-compatible gateway with the ``openai`` client library: the client
names the policy ("router", "router:wtp=...", "router:max_cost=...") where it would name a
model, and the router picks the model per request. Start a gateway first:

    routerrec fit --router auto --out out/router
    routerrec serve --router out/router --upstreams upstreams.yaml --port 8000

then run:  .venv/bin/python examples/serve_client.py [GATEWAY_URL]
(default $ROUTERREC_GATEWAY or http://127.0.0.1:8000; $ROUTERREC_API_KEY when the gateway was
started with --api-key-env).
"""
import os
import sys

from openai import OpenAI

gateway = (sys.argv[1] if len(sys.argv) > 1
           else os.environ.get("ROUTERREC_GATEWAY", "http://127.0.0.1:8000"))
client = OpenAI(base_url=gateway.rstrip("/") + "/v1",
                api_key=os.environ.get("ROUTERREC_API_KEY", "no-key"), max_retries=0, timeout=30)
question = [{"role": "user", "content": "What is the derivative of x**3?"}]

# the default policy; the raw response carries the gateway's headers: who answered, and the
# request id that /v1/feedback takes
raw = client.chat.completions.with_raw_response.create(model="router", messages=question)
completion = raw.parse()
print(f"{raw.headers['x-routerrec-model']} answered (request {raw.headers['x-routerrec-request-id']},"
      f" {raw.headers['x-routerrec-fallback']} failed tries before): "
      f"{completion.choices[0].message.content}")

# a policy per request: cheaper picks below a willingness to pay, streamed chunk by chunk
stream = client.chat.completions.create(model="router:wtp=0.5", messages=question, stream=True)
chunks = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
print(f"streamed in {len(chunks)} chunks: {''.join(chunks)}")

# tools pass through to the picked model unchanged
tools = [{"type": "function", "function": {"name": "calculator", "parameters": {
    "type": "object", "properties": {"expression": {"type": "string"}}}}}]
completion = client.chat.completions.create(model="router:max_cost=0.01", messages=question,
                                            tools=tools)
calls = completion.choices[0].message.tool_calls or []
print(f"tool calls: {[call.function.name for call in calls]}")

# feedback on the first answer: the store learns which model did well
feedback = client.post("/feedback", cast_to=object,
                       body={"request_id": raw.headers["x-routerrec-request-id"],
                             "model": raw.headers["x-routerrec-model"], "score": 1.0})
print(f"feedback stored: {feedback}")
