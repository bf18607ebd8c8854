"""What one ``routerrec serve`` process is told: the options of the command, checked once.

The CLI builds a ``ServeConfig`` from its options; with ``--workers N > 1`` uvicorn starts the
app in fresh processes, which read the same settings back from the environment
(``to_env`` / ``from_env``), so every worker serves with exactly what the command checked.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from ..util import validate

__all__ = ["ServeConfig", "CONFIG_ENV"]

CONFIG_ENV = "ROUTERREC_SERVE_CONFIG"  # the checked settings, as JSON, for worker processes


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server (``routerrec serve --help`` says what each is for)."""
    router: str
    host: str = "127.0.0.1"
    port: int = 8000
    upstreams: str | None = None
    feedback: str | None = None
    api_key_env: str | None = None
    workers: int = 1
    max_body_bytes: int = 4 * 1024 * 1024
    max_concurrency: int = 256
    upstream_timeout: float = 60.0
    max_attempts: int = 3  # tries per chat request: the pick and then the next-best ones
    # --learn (serve/learn.py): route with an OnlineRouter; None leaves OnlineRouter's default
    learn: bool = False
    data: str | None = None            # the mf router's training records (for refits)
    refit_every: int | None = None
    max_explore_share: float | None = None
    max_regret: float | None = None
    max_regret_usd: float | None = None
    learn_policy: str | None = None    # a name in online.explore.POLICIES
    learn_state: str | None = None     # saved on shutdown and /admin/save, resumed from at start

    def __post_init__(self):
        validate.path("router", self.router)
        validate.string("host", self.host)
        validate.integer("port", self.port, low=0, high=65535)
        for option in ("upstreams", "feedback"):
            if getattr(self, option) is not None:
                validate.path(option, getattr(self, option))
        if self.api_key_env is not None:
            validate.name("api_key_env", self.api_key_env)
        validate.integer("workers", self.workers, low=1, high=256)
        validate.integer("max_body_bytes", self.max_body_bytes, low=1024)
        validate.integer("max_concurrency", self.max_concurrency, low=1)
        validate.real("upstream_timeout", self.upstream_timeout, low=0, low_open=True)
        validate.integer("max_attempts", self.max_attempts, low=1, high=16)
        self._check_learn()

    def _check_learn(self) -> None:
        """The --learn options: only with --learn, one process (the online state lives in it)."""
        learn_options = ("data", "refit_every", "max_explore_share", "max_regret",
                         "max_regret_usd", "learn_policy", "learn_state")
        given = [o for o in learn_options if getattr(self, o) is not None]
        if not self.learn:
            if given:
                raise ValueError(f"--{given[0].replace('_', '-')} is an option of --learn; "
                                 "add --learn or leave it out")
            return
        if self.workers != 1:
            raise ValueError(f"--learn keeps the online state in one process; got --workers "
                             f"{self.workers}, use --workers 1")
        for option in ("data", "learn_state"):
            if getattr(self, option) is not None:
                validate.path(option, getattr(self, option))
        if self.refit_every is not None:
            validate.integer("refit_every", self.refit_every, low=1)
        if self.max_explore_share is not None:
            validate.real("max_explore_share", self.max_explore_share, low=0, high=1)
        for option in ("max_regret", "max_regret_usd"):
            if getattr(self, option) is not None:
                validate.real(option, getattr(self, option), low=0)

    def api_key(self) -> str | None:
        """The Bearer key clients must send (None: no auth); an unset or empty variable is an
        error, never an open server."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key.strip():
            raise ValueError(f"the environment variable {self.api_key_env} is not set or "
                             "empty; set it to the key clients send as Bearer")
        return key

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        """The settings the command put in ``ROUTERREC_SERVE_CONFIG`` (worker processes)."""
        text = os.environ.get(CONFIG_ENV)
        if not text:
            raise RuntimeError(f"{CONFIG_ENV} is not set: start the server with `routerrec serve`")
        values = json.loads(text)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
