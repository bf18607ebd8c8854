"""Swapping the router while the server answers: ``POST /admin/reload``, SIGHUP, a broken
directory refused with the old router serving on, and the workers' rolling restart."""
from __future__ import annotations

import shutil
import signal
import threading
import time

import httpx
import pytest

from server import start_server

PROMPTS = ["Prove that 17 is prime.", "Write a sort in C.", "Who wrote Hamlet?"]


class Load:
    """``threads`` clients sending /v1/route in a loop (each at most ``limit`` requests,
    ``pause`` seconds apart: traffic that flows without taking the CPU the server's restarting
    workers need) until stopped; every answer's status is kept."""

    def __init__(self, url: str, threads: int = 4, limit: int = 2000, *, reconnect=False,
                 pause: float = 0.0):
        self.url, self.limit, self.reconnect, self.pause = url, limit, reconnect, pause
        self.statuses: list = []
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            for k in range(self.limit):
                if self.stopped.is_set():
                    return
                try:
                    reply = self._post(client, PROMPTS[(i + k) % 3])
                    self.statuses.append(reply.status_code)
                except httpx.HTTPError as exc:
                    self.statuses.append(type(exc).__name__)
                if self.pause:
                    time.sleep(self.pause)

    def _post(self, client, prompt: str):
        """One request; with ``reconnect``, sent once more on a new connection when a
        keep-alive connection was closed before any answer (a stopping worker closes its
        idle connections; clients such as urllib3 resend then). Any other error counts."""
        try:
            return client.post("/v1/route", json={"prompt": prompt})
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if not self.reconnect:
                raise
            return client.post("/v1/route", json={"prompt": prompt})

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(timeout=30)


def _wait_for(predicate, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def two_routers(mf_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(mf_dir, other)
    broken = tmp_path / "broken"
    shutil.copytree(mf_dir, broken)
    (broken / "arrays.npz").write_bytes(b"damaged")
    return other, broken


def test_reload_under_load_loses_no_request_and_a_broken_directory_is_refused(
        mf_dir, two_routers):
    other, broken = two_routers
    with start_server(mf_dir) as server, Load(server.url) as load:
        _wait_for(lambda: len(load.statuses) > 50)
        swapped = server.post("/admin/reload", json={"router": str(other)}, timeout=60)
        assert swapped.status_code == 200, swapped.text
        assert swapped.json()["directory"] == str(other)
        assert swapped.json()["previous"]["directory"] == str(mf_dir)
        assert server.get("/health").json()["directory"] == str(other)
        seen = len(load.statuses)
        server.signal(signal.SIGHUP)  # reloads the serving directory
        _wait_for(lambda: server.get("/health").json()["reloads"] == 2)
        refused = server.post("/admin/reload", json={"router": str(broken)}, timeout=60)
        assert refused.status_code == 409 and "arrays.npz" in refused.json()["error"]["message"]
        _wait_for(lambda: len(load.statuses) > seen + 50)
        health = server.get("/health").json()
        assert health["directory"] == str(other) and health["reloads"] == 2
    assert len(load.statuses) > 100 and set(load.statuses) == {200}, set(load.statuses)
    assert "reloaded the mf router" in server.log()


@pytest.mark.slow
def test_workers_reload_by_sighup_to_the_supervisor_and_stop_on_sigterm(mf_dir):
    with start_server(mf_dir, "--workers", 2) as server:
        health = server.get("/health").json()
        assert health["workers"] == 2 and health["status"] == "ok"
        refused = server.post("/admin/reload", json={})
        assert refused.status_code == 409
        assert f"supervisor (pid {server.proc.pid})" in refused.json()["error"]["message"]
        # enough requests to outlast the restart (two worker starts, a few seconds) at up to
        # a few hundred a second
        with Load(server.url, threads=2, limit=50_000, reconnect=True, pause=0.01) as load:
            _wait_for(lambda: len(load.statuses) > 20, 60)
            server.signal(signal.SIGHUP)
            # each new worker imports the server and loads the router (~2 s idle; far longer
            # on a loaded machine)
            _wait_for(lambda: server.log().count("Waiting for child process") >= 2, 150)
            seen = len(load.statuses)
            _wait_for(lambda: len(load.statuses) > seen + 20, 60)
        assert set(load.statuses) == {200}, set(load.statuses)
        assert server.stop() == 0
