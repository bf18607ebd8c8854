"""The router a server answers with, its atomic swap (``/admin/reload``, SIGHUP), and the
micro-batching that lets one event loop route thousands of single-prompt requests a second.

A request takes ``state.current`` once, at its start, and finishes on that ``Loaded`` even if a
reload swaps in another meanwhile: the swap is one attribute assignment, made only after the
new directory was loaded whole and routed a prompt, so a broken directory never serves.

Routing one prompt is mostly fixed overhead (featurising, the pick rule): 32 prompts in one
call cost five to seven times one prompt (``benchmarks/bench_serve.py``, "Router.decide in one
process"). ``Decider`` therefore routes every request waiting at the moment it starts in one
``Router.decide`` call, with no timer: a loaded server answers in batches. A lone client's
request (``InFlight``) is routed at once, without waiting for a batch.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Loaded", "Decider", "InFlight", "RouterState", "load_serving_router",
           "router_models", "ReloadRefused"]

_log = logging.getLogger("uvicorn.error")
SMOKE_PROMPT = "Is this router ready to serve?"
MAX_BATCH_PROMPTS = 4096  # one decide call routes at most this many prompts
INLINE_PROMPTS = 64  # batches up to this size are routed on the event loop (see Decider)
GATHER_TURNS = 4  # loop turns a batch may wait while requests keep joining it
GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest objects


class ReloadRefused(ValueError):
    """A router directory that cannot replace the serving one (the old one keeps serving)."""


def router_models(directory) -> list[str]:
    """The model ids a router directory's manifest names, read without loading the router
    (the ``--upstreams`` file is checked against them before the server starts)."""
    from ..util import validate

    manifest = Path(directory) / "manifest.json"
    try:
        models = json.loads(manifest.read_text(encoding="utf-8"))["models"]
        models = validate.texts(f"{manifest}: models", models)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReloadRefused(f"{directory} is not a router directory ({type(exc).__name__}: "
                            f"{exc})") from None
    return models


def load_serving_router(directory, upstream_models=None):
    """The router of ``directory``, loaded whole and checked by routing one prompt; with an
    upstreams file, it must know at least one model that has an upstream. ReloadRefused
    (a ValueError) says why not."""
    from threadpoolctl import threadpool_limits

    from ..routing.base import RouterFileError
    from ..routing.registry import load_router

    path = Path(directory)
    if not path.is_dir():
        raise ReloadRefused(f"router directory {directory} does not exist or is not a directory")
    try:
        router = load_router(path)  # tfidf counts a request's few prompts on one thread itself
        # once scipy's BLAS is loaded too: a request's small products finish before a second
        # BLAS thread would start, and its threads would compete with the event loop for the cores
        threadpool_limits(limits=1, user_api="blas")
        router.decide([SMOKE_PROMPT])
    except (RouterFileError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ReloadRefused(f"cannot load the router in {directory}: {exc}") from exc
    if upstream_models is not None and not set(router.models_) & set(upstream_models):
        raise ReloadRefused(f"the router in {directory} knows none of the models the upstreams "
                            f"file names ({', '.join(sorted(upstream_models))})")
    return router


class InFlight:
    """What ``Guard`` sees of the traffic: the requests inside the app now, and whether the
    latest came over the same connection as the one before it. Requests of several clients run
    one after another on the loop, so the count alone does not show them; a lone client's next
    request comes over its own connection again, and nothing could join its batch, so
    ``Decider`` routes it at once."""

    __slots__ = ("count", "client", "same_client")

    def __init__(self):
        self.count, self.client, self.same_client = 0, None, False

    def enter(self, client) -> None:
        self.same_client, self.client = client is not None and client == self.client, client
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


class Decider:
    """``Router.decide`` for concurrent requests: those waiting when a batch starts are routed
    together (grouped by their options). A batch of up to ``INLINE_PROMPTS`` runs on the event
    loop itself: on a thread it would wait for the GIL behind the loop; a larger one runs on
    the routing thread, so one big request does not stall /health. Batches run one at a
    time."""

    def __init__(self, router, executor: ThreadPoolExecutor, in_flight: InFlight | None = None):
        self.router, self.executor = router, executor
        self.in_flight = in_flight or InFlight()
        self.pending: list = []
        self.busy = False
        self.gathered = self.turns = 0  # requests seen waiting, loop turns waited for more

    async def decide(self, texts: list[str], **options) -> list:
        flight = self.in_flight
        if flight.same_client and flight.count <= 1 and not self.busy \
                and len(texts) <= INLINE_PROMPTS:
            # alone: routed at once, without a batch's loop turns and future
            return self.router.decide(texts, **options)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((texts, options, future))
        if not self.busy:
            self.busy, self.gathered, self.turns = True, 0, 0
            loop.call_soon(self._start)  # after the requests read in this turn of the loop
        return await future

    def _start(self) -> None:
        if len(self.pending) > self.gathered and self.turns < GATHER_TURNS:
            # requests are still arriving: one more turn of the loop (its I/O poll does not
            # wait) lets the ones already read join this batch
            self.gathered, self.turns = len(self.pending), self.turns + 1
            asyncio.get_running_loop().call_soon(self._start)
            return
        self.gathered = self.turns = 0
        batch, taken = [], 0
        while self.pending and (not batch or taken + len(self.pending[0][0]) <= MAX_BATCH_PROMPTS):
            batch.append(self.pending.pop(0))
            taken += len(batch[-1][0])
        if taken > INLINE_PROMPTS:
            asyncio.get_running_loop().create_task(self._on_thread(batch))
            return
        try:
            results = self._decide_batch(batch)
        except Exception as exc:  # noqa: BLE001 - a bug: every waiting request gets it
            results = [exc] * len(batch)
        self._finish(batch, results)

    async def _on_thread(self, batch: list) -> None:
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self.executor, self._decide_batch, batch)
        except Exception as exc:  # noqa: BLE001 - as in _start
            results = [exc] * len(batch)
        self._finish(batch, results)

    def _finish(self, batch: list, results: list) -> None:
        for (_, _, future), result in zip(batch, results):
            if not future.done():  # a request that went away has cancelled its future
                (future.set_exception if isinstance(result, Exception)
                 else future.set_result)(result)
        if self.pending:
            asyncio.get_running_loop().call_soon(self._start)
        else:
            self.busy = False

    def _decide_batch(self, batch: list) -> list:
        """Each request's decisions (or the exception its own call raises), one ``decide``
        per distinct set of options."""
        groups: dict = {}
        for k, (_, options, _) in enumerate(batch):
            key = tuple(sorted((n, tuple(v) if isinstance(v, list) else v)
                               for n, v in options.items()))
            groups.setdefault(key, []).append(k)
        results: list = [None] * len(batch)
        for members in groups.values():
            texts = [t for k in members for t in batch[k][0]]
            try:
                decisions = self.router.decide(texts, **batch[members[0]][1])
            except Exception:  # noqa: BLE001 - attribute the error to its request(s) alone
                for k in members:
                    results[k] = self._one(batch[k])
                continue
            start = 0
            for k in members:
                results[k] = decisions[start:start + len(batch[k][0])]
                start += len(batch[k][0])
        return results

    def _one(self, item):
        texts, options, _ = item
        try:
            return self.router.decide(texts, **options)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting request
            return exc


@dataclass
class Loaded:
    """One loaded router and what requests read of it."""
    router: object
    directory: str
    decider: Decider
    chat_pool: list[str] | None = None  # the router's models that have an upstream

    @property
    def name(self) -> str:
        return self.router.name

    @property
    def models(self) -> list[str]:
        return list(self.router.models_)


def _freeze_heap() -> None:
    """Move everything alive now (the router, numpy, numba, polars: over 100,000 objects) out
    of the garbage collector's sight. Each request that waits for its batch leaves frames alive
    across allocations, which triggers collections, and each would walk that whole heap.
    Collected first, so no garbage is kept for good. The youngest generation is then collected
    every 20,000 allocations instead of 700: with many requests waiting, the default walked
    their frames every few requests, while request garbage is freed by reference counting and
    collections find little."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class RouterState:
    """The serving router (None while the first one loads) and its replacement."""

    def __init__(self, upstream_models=None, loader=None, in_flight: InFlight | None = None):
        self.current: Loaded | None = None
        self.in_flight = in_flight or InFlight()  # the Guard's count (build_app shares it)
        # (directory, upstream models) -> router; serve --learn passes its own (serve/learn.py)
        self.loader = loader or load_serving_router
        self.load_error: str | None = None
        self.reloads = 0
        self.upstream_models = upstream_models
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="routerrec-route")
        self._reload_lock: asyncio.Lock | None = None

    def _wrap(self, router, directory) -> Loaded:
        pool = (None if self.upstream_models is None else
                [m for m in router.models_ if m in self.upstream_models])
        return Loaded(router, str(directory), Decider(router, self.executor, self.in_flight),
                      pool)

    def load_now(self, directory) -> Loaded:
        """Load synchronously (before the server runs, or on a worker's startup)."""
        self.current = self._wrap(self.loader(directory, self.upstream_models), directory)
        _freeze_heap()
        return self.current

    async def reload(self, directory=None) -> tuple[Loaded, Loaded | None]:
        """Load ``directory`` (default: the serving one's) off the event loop, then swap.
        Returns (new, old); ReloadRefused leaves the old one serving. Reloads run one at a time."""
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            old = self.current
            directory = directory if directory is not None else old.directory if old else None
            if directory is None:
                raise ReloadRefused("no router directory to reload: name one")
            router = await asyncio.to_thread(load_serving_router, directory, self.upstream_models)
            self.current = self._wrap(router, directory)
            self.reloads += 1
            await asyncio.to_thread(_freeze_heap)
            _log.info("serving the %s router of %s (reload %d)", router.name, directory,
                      self.reloads)
            return self.current, old

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
