"""`routerrec serve` under load on loopback: /v1/route next to /health, the gateway's added latency.

    python benchmarks/bench_serve.py [--router DIR] [--repeats 3] [--requests 5000] [--seconds 4]

The server under test is the real CLI (`routerrec serve`, one worker) with the default router
fitted on the embedded sample (`routerrec fit --router auto`, or `--router DIR` to reuse one).

* Route vs floor: at each concurrency (1, 8, 32 connections) the load generator sends
  `/health` (the framework's floor: routing, middleware, JSON) and `/v1/route` with one
  sample prompt per request, interleaved within each repeat so all see the same machine
  load; each run stops after `--requests` requests or `--seconds`. Throughput and p50/p99
  latency per run; medians over the repeats. Goal: route throughput >= 70% of health's.
  The same `/v1/route` requests also go to a second server whose decisions cost nothing
  (benchmarks/serve_floor.py: the real app with `Router.decide` answering at once): what a
  routed POST costs besides the routing itself.
* Proxy overhead: a chat completion sent straight to the stub upstream
  (tests/serve/stub_upstream.py) vs through the gateway (`--upstreams` naming the stub for
  every model), sequentially, in alternating blocks; p50/p99 of each and their difference.
  The gateway's time includes the routing decision on the prompt. Goal: p50 overhead <= 2 ms.
* Feedback: `/v1/feedback` appends (each fsync'd before the answer) at 1 and 8 connections.

The client is a minimal keep-alive HTTP/1.1 client on asyncio (uvloop when installed), not
httpx: on 2 shared cores the client competes with the server, and a heavier client would
measure itself. Every non-200 answer and every failed request counts as an error (goal: 0).
Writes benchmarks/results/serve.json, serve.md and serve.png.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path[:0] = [str(ROOT / "tests" / "serve"), str(ROOT / "tests")]  # server.py imports commands
from server import start_server  # noqa: E402  (the tests' helpers start the real processes)
from stub_upstream import start_stub  # noqa: E402

FLOOR_SERVER = (sys.executable, str(ROOT / "benchmarks" / "serve_floor.py"))  # decisions free
CONCURRENCY = (1, 8, 32)
REQUEST_TIMEOUT = 30.0
GOALS = {"route_vs_health_throughput": 0.70, "proxy_p50_overhead_ms": 2.0, "errors": 0}


class Connection:
    """One keep-alive HTTP/1.1 connection doing the least client work per request."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.reader = self.writer = None

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                          .encode("latin-1") + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
        if not chunked:
            return status, await self.reader.readexactly(length)
        parts = []
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        await self.reader.readline()  # the blank line after the last chunk
        return status, b"".join(part[:-2] for part in parts)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, calls: list, concurrency: int, max_requests: int, max_seconds: float,
               pid: int | None = None) -> dict:
    """Send ``calls`` ((method, path, body) round robin) over ``concurrency`` connections until
    ``max_requests`` were sent or ``max_seconds`` passed; throughput and latency percentiles,
    and with ``pid`` the CPU time that process spent per request (what the machine's other
    load does not change: a single-worker server's capacity is 1 / that)."""
    counter = itertools.count()
    latencies, errors = [], []
    deadline = time.perf_counter() + max_seconds

    async def client():
        connection = await Connection(url).open()
        try:
            while (i := next(counter)) < max_requests and time.perf_counter() < deadline:
                method, path, body = calls[i % len(calls)]
                start = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(connection.request(method, path, body),
                                                            REQUEST_TIMEOUT)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                    errors.append(f"{type(e).__name__}: {e}")
                    connection.close()
                    connection = await Connection(url).open()
                    continue
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"{status}: {answer[:200].decode('utf-8', 'replace')}")
        finally:
            connection.close()

    cpu = cpu_seconds(pid) if pid else None
    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    ms = np.array(latencies) * 1e3
    done = len(latencies) + len(errors)
    return {"requests": done, "errors": len(errors), "error_examples": errors[:3],
            "seconds": seconds, "throughput": len(latencies) / seconds,
            "server_cpu_ms": (cpu_seconds(pid) - cpu) * 1e3 / max(done, 1) if pid else None,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None}


def run(coroutine):
    try:
        import uvloop
        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


def median_of(runs: list, key: str):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else None


def summary(runs: list) -> dict:
    return {"throughput": median_of(runs, "throughput"), "p50_ms": median_of(runs, "p50_ms"),
            "p99_ms": median_of(runs, "p99_ms"), "server_cpu_ms": median_of(runs, "server_cpu_ms"),
            "errors": sum(r["errors"] for r in runs),
            "requests": sum(r["requests"] for r in runs), "runs": runs}


def sample_texts(n: int = 500) -> list[str]:
    import polars as pl
    texts = pl.read_parquet(ROOT / "data" / "sample" / "prompts.parquet")["text"].to_list()
    return texts[:n]


def fit_router(out: Path) -> Path:
    subprocess.run([str(Path(sys.executable).parent / "routerrec"), "fit", "--router", "auto", "--out",
                    str(out), "--quiet"], check=True, timeout=600)
    return out


def route_vs_health(server, floor, texts: list, args) -> dict:
    """``/health`` and ``/v1/route`` on ``server``, and ``/v1/route`` on ``floor`` (decisions
    that cost nothing: "route_free"), interleaved per repeat."""
    health = [("GET", "/health", b"")]
    route = [("POST", "/v1/route", json.dumps({"prompt": t}).encode()) for t in texts]
    kinds = (("health", server, health), ("route", server, route), ("route_free", floor, route))
    for target in (server, floor):  # warm-up: encoder, caches, connections
        run(load(target.url, route + health, 4, 400, 10))
    results = {}
    for concurrency in CONCURRENCY:
        runs = {name: [] for name, _, _ in kinds}
        for _ in range(args.repeats):
            for name, target, calls in kinds:
                runs[name].append(run(load(target.url, calls, concurrency, args.requests,
                                           args.seconds, target.proc.pid)))
        r = results[concurrency] = {name: summary(runs[name]) for name in runs}
        h = r["health"]
        for name in ("route", "route_free"):
            r[f"{name}_vs_health_throughput"] = r[name]["throughput"] / h["throughput"]
            r[f"{name}_vs_health_cpu"] = h["server_cpu_ms"] / r[name]["server_cpu_ms"]
        print(f"c={concurrency:>2}: health {h['throughput']:7.0f}/s p50 {h['p50_ms']:.2f} ms | route "
              f"{r['route']['throughput']:7.0f}/s p50 {r['route']['p50_ms']:.2f} ms p99 "
              f"{r['route']['p99_ms']:.2f} ms | ratio {r['route_vs_health_throughput']:.2f} "
              f"(decisions free: {r['route_free_vs_health_throughput']:.2f}) | server CPU/request "
              f"health {h['server_cpu_ms']:.3f} ms, route {r['route']['server_cpu_ms']:.3f} ms, "
              f"decisions free {r['route_free']['server_cpu_ms']:.3f} ms", flush=True)
    return results


def proxy_overhead(gateway, stub, texts: list, args) -> dict:
    def chat(model):
        return [("POST", "/v1/chat/completions",
                 json.dumps({"model": model, "messages": [{"role": "user", "content": t}]}).encode())
                for t in texts]
    direct_calls, gateway_calls = chat("stub-model"), chat("router")
    run(load(stub.url, direct_calls, 1, 100, 10))
    run(load(gateway.url, gateway_calls, 1, 100, 10))
    runs = {"direct": [], "gateway": []}
    block = max(50, args.requests // 10)
    for _ in range(args.repeats * 4):  # alternating blocks: both see the same machine load
        runs["direct"].append(run(load(stub.url, direct_calls, 1, block, args.seconds, stub.proc.pid)))
        runs["gateway"].append(run(load(gateway.url, gateway_calls, 1, block, args.seconds,
                                        gateway.proc.pid)))
    result = {name: summary(r) for name, r in runs.items()}
    for q in ("p50_ms", "p99_ms"):
        result[f"overhead_{q}"] = result["gateway"][q] - result["direct"][q]
    # the gateway's CPU per chat request: its added work, whatever else the machine runs
    result["gateway_cpu_ms"] = result["gateway"]["server_cpu_ms"]
    result["stub_cpu_ms"] = result["direct"]["server_cpu_ms"]
    print(f"proxy: direct p50 {result['direct']['p50_ms']:.2f} ms, gateway p50 "
          f"{result['gateway']['p50_ms']:.2f} ms -> overhead p50 {result['overhead_p50_ms']:.2f} ms, "
          f"p99 {result['overhead_p99_ms']:.2f} ms; CPU per chat: gateway {result['gateway_cpu_ms']:.3f} ms, "
          f"stub {result['stub_cpu_ms']:.3f} ms", flush=True)
    return result


def feedback_rate(url: str, pid: int, texts: list, models: list, args) -> dict:
    calls = [("POST", "/v1/feedback", json.dumps({"prompt": t, "model": models[i % len(models)],
                                                   "score": i % 2, "cost": 0.001}).encode())
             for i, t in enumerate(texts)]
    result = {}
    for concurrency in (1, 8):
        runs = [run(load(url, calls, concurrency, args.requests // 3, args.seconds, pid))
                for _ in range(args.repeats)]
        result[concurrency] = summary(runs)
        print(f"feedback c={concurrency}: {result[concurrency]['throughput']:.0f}/s p50 "
              f"{result[concurrency]['p50_ms']:.2f} ms", flush=True)
    return result


def decide_in_process(router: Path, texts: list) -> dict:
    """``Router.decide`` on one prompt in this process: the routing work a /v1/route request
    carries beyond /health's (median of a pass over the prompts, after a warm-up pass). Also
    its CPU time (this thread's) back to back and after a 1 ms sleep before each call: a
    server at one connection sleeps between requests, and on a shared machine its caches are
    cold when the next one comes."""
    from routerrec.routing.registry import load_router
    from threadpoolctl import threadpool_limits
    loaded = load_router(router)
    threadpool_limits(limits=1, user_api="blas")  # as the server does
    times, cpu, cpu_paused = [], [], []
    for warm in (True, False):
        for text in texts:
            start, started = time.perf_counter(), time.thread_time()
            loaded.decide([text])
            if not warm:
                times.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - started)
    for text in texts:
        time.sleep(0.001)
        started = time.thread_time()
        loaded.decide([text])
        cpu_paused.append(time.thread_time() - started)
    batches = []
    for first in range(0, len(texts) - 31, 32):
        start = time.perf_counter()
        loaded.decide(texts[first:first + 32])
        batches.append(time.perf_counter() - start)
    batch = statistics.median(batches)
    result = {"one_prompt_p50_ms": statistics.median(times) * 1e3, "batch_of_32_ms": batch * 1e3,
              "one_prompt_cpu_ms": statistics.median(cpu) * 1e3,
              "one_prompt_cpu_after_pause_ms": statistics.median(cpu_paused) * 1e3}
    print(f"Router.decide in process: one prompt p50 {result['one_prompt_p50_ms']:.3f} ms (CPU "
          f"{result['one_prompt_cpu_ms']:.3f} ms back to back, "
          f"{result['one_prompt_cpu_after_pause_ms']:.3f} ms after a 1 ms pause), 32 at once "
          f"p50 {batch * 1e3:.2f} ms", flush=True)
    return result


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(), "platform": platform.platform()}


def plot(payload: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    levels = list(payload["route_vs_health"])
    panels = (("throughput", "requests / s (median of repeats)"), ("p99_ms", "p99 latency, ms"),
              ("server_cpu_ms", "server CPU ms per request"))
    fig, axes = plt.subplots(1, len(panels), figsize=(14, 4))
    x = np.arange(len(levels))
    for ax, (key, label) in zip(axes, panels):
        for offset, name, shown in ((-0.27, "health", "/health"), (0, "route", "/v1/route"),
                                    (0.27, "route_free", "/v1/route, decisions free")):
            ax.bar(x + offset, [payload["route_vs_health"][c][name][key] for c in levels], 0.27,
                   label=shown)
        ax.set_xticks(x, [f"{c} conn." for c in levels])
        ax.set_ylabel(label)
        ax.legend()
    proxy = payload["proxy"]
    fig.suptitle(f"routerrec serve, one worker, loopback, {payload['machine']['cores']} shared cores "
                 f"(load average {payload['machine']['load_average_at_start'][0]:.1f}); gateway adds "
                 f"{proxy['overhead_p50_ms']:.2f} ms p50, {proxy['gateway_cpu_ms']:.2f} ms CPU per chat")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(payload: dict) -> str:
    rows = ["| connections | /health req/s | p50 ms | p99 ms | /v1/route req/s | p50 ms | p99 ms | "
            "route/health req/s | server CPU ms/req health, route | route/health by CPU | "
            "decisions free: route/health req/s, by CPU | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, r in payload["route_vs_health"].items():
        h, o, f = r["health"], r["route"], r["route_free"]
        rows.append(f"| {c} | {h['throughput']:.0f} | {h['p50_ms']:.2f} | {h['p99_ms']:.2f} | "
                    f"{o['throughput']:.0f} | {o['p50_ms']:.2f} | {o['p99_ms']:.2f} | "
                    f"{r['route_vs_health_throughput']:.2f} | "
                    f"{h['server_cpu_ms']:.3f}, {o['server_cpu_ms']:.3f} | "
                    f"{r['route_vs_health_cpu']:.2f} | {r['route_free_vs_health_throughput']:.2f}, "
                    f"{r['route_free_vs_health_cpu']:.2f} | {h['errors'] + o['errors'] + f['errors']} |")
    rows += ["", "Decisions free: the same /v1/route requests to benchmarks/serve_floor.py, the "
             "real app whose Router.decide answers at once (what a routed POST costs besides "
             "routing)."]
    p = payload["proxy"]
    rows += ["", "| chat completion, 1 connection | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|",
             f"| straight to the stub upstream | {p['direct']['p50_ms']:.2f} | {p['direct']['p99_ms']:.2f} | "
             f"{p['direct']['errors']} |",
             f"| through the gateway | {p['gateway']['p50_ms']:.2f} | {p['gateway']['p99_ms']:.2f} | "
             f"{p['gateway']['errors']} |",
             f"| added by the gateway | {p['overhead_p50_ms']:.2f} | {p['overhead_p99_ms']:.2f} | |",
             "", f"CPU per chat request: the gateway process {p['gateway_cpu_ms']:.3f} ms (routing, "
             f"forwarding, relaying), the stub {p['stub_cpu_ms']:.3f} ms."]
    if payload.get("feedback"):
        rows += ["", "| /v1/feedback (fsync'd) | req/s | p50 ms | p99 ms | errors |",
                 "|---|---:|---:|---:|---:|"]
        rows += [f"| {c} connection(s) | {f['throughput']:.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | "
                 f"{f['errors']} |" for c, f in payload["feedback"].items()]
    d = payload["decide_in_process"]
    paused = (f" (CPU {d['one_prompt_cpu_ms']:.3f} ms back to back, "
              f"{d['one_prompt_cpu_after_pause_ms']:.3f} ms after a 1 ms pause)"
              if "one_prompt_cpu_ms" in d else "")
    rows += ["", f"Router.decide in one process (no HTTP): one prompt p50 {d['one_prompt_p50_ms']:.3f} ms"
             f"{paused}, 32 prompts in one call p50 {d['batch_of_32_ms']:.2f} ms."]
    goals = payload["goals"]
    rows += ["", "Goals: " + "; ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in goals.items()),
             "", f"Machine: {payload['machine']['cpu']}, {payload['machine']['cores']} cores (shared), "
             f"Python {payload['machine']['python']}, load average (1, 5, 15 min) at start "
             f"{', '.join(f'{x:.2f}' for x in payload['machine']['load_average_at_start'])}, at end "
             f"{', '.join(f'{x:.2f}' for x in payload['machine']['load_average_at_end'])}. "
             f"Load: {payload['load']}."]
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--router", type=Path,
                        help="a fitted router directory (default: fit auto on the sample)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="requests per run at most")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per run at most")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the servers (e.g. NUMBA_NUM_THREADS=1); repeatable")
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    texts = sample_texts()
    payload = {"machine": machine(), "server_env": env,
               "load": f"{args.repeats} repeats per setting, each run at most "
               f"{args.requests} requests or {args.seconds} s, one prompt per /v1/route request from "
               f"{len(texts)} sample prompts, keep-alive connections, server with one worker"}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        router = args.router or fit_router(tmp / "router")
        with start_server(router, "--feedback", str(tmp / "feedback"), env=env) as server, \
                start_server(router, env=env, command=FLOOR_SERVER) as floor:
            models = json.loads(run(_get(server.url, "/health")))["models"]
            payload["router"] = {"dir": str(args.router or "auto fitted on data/sample"),
                                 "models": len(models)}
            payload["decide_in_process"] = decide_in_process(router, texts)  # this process's env
            payload["route_vs_health"] = route_vs_health(server, floor, texts, args)
            payload["feedback"] = feedback_rate(server.url, server.proc.pid, texts, models, args)
        with start_stub(name="bench") as stub:
            upstreams = tmp / "upstreams.json"
            upstreams.write_text(json.dumps({"models": {m: {"base_url": stub.base_url} for m in models}}))
            with start_server(router, "--upstreams", str(upstreams), env=env) as gateway:
                payload["proxy"] = proxy_overhead(gateway, stub, texts, args)
    payload["seconds"] = time.time() - started
    payload["machine"]["load_average_at_end"] = os.getloadavg()
    worst = min(r["route_vs_health_throughput"] for r in payload["route_vs_health"].values())
    errors = sum(r[name]["errors"] for r in payload["route_vs_health"].values()
                 for name in ("health", "route", "route_free"))
    errors += payload["proxy"]["direct"]["errors"] + payload["proxy"]["gateway"]["errors"]
    errors += sum(f["errors"] for f in payload["feedback"].values())
    payload["goals"] = {
        f"route >= {GOALS['route_vs_health_throughput']:.0%} of health's throughput at every concurrency "
        f"(worst {worst:.2f})": worst >= GOALS["route_vs_health_throughput"],
        f"proxy p50 overhead <= {GOALS['proxy_p50_overhead_ms']} ms "
        f"({payload['proxy']['overhead_p50_ms']:.2f} ms)":
            payload["proxy"]["overhead_p50_ms"] <= GOALS["proxy_p50_overhead_ms"],
        f"zero errors ({errors})": errors == GOALS["errors"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1))
    args.out.with_suffix(".md").write_text(markdown(payload))
    plot(payload, args.out.with_suffix(".png"))
    print(markdown(payload))
    print(f"wrote {args.out} (+ .md, .png)")
    return payload


async def _get(url: str, path: str) -> bytes:
    connection = await Connection(url).open()
    try:
        status, body = await connection.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        return body
    finally:
        connection.close()


if __name__ == "__main__":
    main()
