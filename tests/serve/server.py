"""Start the real ``routerrec serve`` command in a subprocess for a test (loopback, a free
port) and stop it again: ``with start_server(router_dir, "--feedback", d) as server: server.url``.

The server's stdout and stderr go to a log file (``server.log()``): a pipe nobody reads
would block the server once full. Its first stdout line names the address it listens on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from commands import ROUTERREC

STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        """SIGTERM (graceful), then SIGKILL if it has not gone within STOP_SECONDS; the exit
        status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def launch(router_dir, *extra_args, env=None,
           command=(ROUTERREC, "serve")) -> tuple[subprocess.Popen, Path]:
    """The command started (port 0 unless ``extra_args`` name one), its log file."""
    log = Path(tempfile.mkstemp(prefix="routerrec-serve-", suffix=".log")[1])
    args = [*command, "--router", str(router_dir), *map(str, extra_args)]
    if "--port" not in args:
        args += ["--port", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    return proc, log


def start_server(router_dir, *extra_args, env=None, ready: bool = True,
                 command=(ROUTERREC, "serve")) -> ServerProcess:
    """Run ``routerrec serve --router DIR ...`` (or ``command`` taking the same options) and
    wait (bounded) until it listens and, with ``ready``, until /health answers 200. Raises
    RuntimeError with the log if it does not."""
    proc, log = launch(router_dir, *extra_args, env=env, command=command)
    deadline = time.monotonic() + STARTUP_SECONDS
    url = None
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if url is None and "listening on " in text:
            url = text.split("listening on ", 1)[1].split()[0]
        if url is not None and (not ready or _healthy(url)):
            return ServerProcess(url, proc, log)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    raise RuntimeError(f"routerrec serve did not become ready (exit {proc.returncode}):\n"
                       + log.read_text(errors="replace")[-3000:])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
