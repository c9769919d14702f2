"""A pool of OpenAI-compatible endpoints that serve one model: the engine behind `kind: pool`
and behind a list of URLs on the `openai` / `vllm` engines (harness/engines/pool.py).

Each member is an OpenAICompatEngine (a VLLMEngine for vLLM replicas). The pool sends every
request itself, one at a time, through the member's own request code (body, retries, per-example
errors), so the members' `concurrency` is a bound per endpoint and a slow replica never holds
back a fast one:

- `Scheduler` picks, for a member with a free slot, the next request: adapter affinity first
  (see its docstring), so an adapter is hot-loaded only on the replicas that serve it.
- An endpoint that dies mid-run (its managed server exits, or a request cannot reach it after
  its retries) is dropped: its unfinished requests go back to the queue and the other endpoints
  finish them. A response is handed to `progress` once, by whichever endpoint finished it first;
  only when every endpoint is gone does generation abort (GenerationAborted, exit 5).
- An endpoint that does not answer at start is left out, with a warning, and the run goes on
  with the rest.

The pool's identity is its members' (all equal, checked when the suite is resolved): which
replica answered never changes a cache key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.engines.base import Engine, ProgressCallback
from harness.engines.openai import (
    GenerationAborted,
    OpenAICompatEngine,
    RateLimiter,
    _Failed,
    _Gone,
    estimate_tokens,
    run_coroutine,
)
from harness.engines.vllm import VLLMEngine
from harness.errors import ConfigError, EngineError
from harness.types import AdapterRef, Request, Response

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BASE = ""  # the scheduling key of base-model requests; an adapter's is its content hash


class Scheduler:
    """Which pending request a member with a free slot sends next. Bookkeeping only, no I/O.

    Requests are grouped by key (BASE, or the adapter's content hash). A member takes, in order:
    1. more of a key it already serves (it has that adapter loaded);
    2. a key no live member serves yet (it claims it: one replica loads a new adapter);
    3. else the key with the most pending requests per live member serving it (it helps out,
       and loads that adapter too): no endpoint idles while requests wait.
    A member that must not batch base and adapter requests together (the vLLM CPU build, see
    docs/vllm.md) only takes requests of the kind it already has in flight.
    """

    def __init__(self, keys: Sequence[Hashable], bounds: Mapping[int, int],
                 mixes: Mapping[int, bool] | None = None):
        self.pending: dict[Hashable, deque[int]] = {}
        for index, key in enumerate(keys):
            self.pending.setdefault(key, deque()).append(index)
        self.key_of = list(keys)
        self.bounds = dict(bounds)
        self.mixes = {m: True for m in bounds} | dict(mixes or {})
        self.alive = set(bounds)
        self.serving: dict[int, set[Hashable]] = {m: set() for m in bounds}
        self.in_flight: dict[int, set[int]] = {m: set() for m in bounds}
        self.finished: dict[int, Counter[Hashable]] = {m: Counter() for m in bounds}

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self.pending.values())

    @property
    def drained(self) -> bool:
        """Nothing waits and nothing is in flight: every request was finished."""
        return not self.waiting and not any(self.in_flight[m] for m in self.alive)

    def take(self, member: int) -> int | None:
        """The index of the next request `member` sends, or None (no free slot, or nothing it
        may take now)."""
        if member not in self.alive or len(self.in_flight[member]) >= self.bounds[member]:
            return None
        key = self._choose(member)
        if key is None:
            return None
        queue = self.pending[key]
        index = queue.popleft()
        if not queue:
            del self.pending[key]
        self.serving[member].add(key)
        self.in_flight[member].add(index)
        return index

    def _choose(self, member: int) -> Hashable | None:
        keys = [k for k, q in self.pending.items() if q and self._may_mix(member, k)]
        if not keys:
            return None
        own = [k for k in keys if k in self.serving[member]]
        if own:
            # What it has in flight first: its batches stay of one adapter.
            busy = Counter(self.key_of[i] for i in self.in_flight[member])
            return max(own, key=lambda k: busy[k])
        unclaimed = [k for k in keys if not any(k in self.serving[m] for m in self.alive)]
        if unclaimed:
            return unclaimed[0]

        def per_server(k: Hashable) -> float:
            return len(self.pending[k]) / sum(k in self.serving[m] for m in self.alive)

        return max(keys, key=per_server)

    def _may_mix(self, member: int, key: Hashable) -> bool:
        if self.mixes[member] or not self.in_flight[member]:
            return True
        sending_base = any(self.key_of[i] == BASE for i in self.in_flight[member])
        return (key == BASE) == sending_base

    def finish(self, member: int, index: int) -> None:
        self.in_flight[member].discard(index)
        self.finished[member][self.key_of[index]] += 1

    def drop(self, member: int) -> list[int]:
        """`member` is gone: its unfinished requests go back to the front of their queues."""
        self.alive.discard(member)
        back = sorted(self.in_flight[member])
        self.in_flight[member] = set()
        self.serving[member] = set()
        for index in reversed(back):
            self.pending.setdefault(self.key_of[index], deque()).appendleft(index)
        return back


class _MemberGone(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def adapter_key(request: Request) -> Hashable:
    return BASE if request.adapter is None else request.adapter.content_hash


class PoolEngine(Engine):
    kind = "pool"

    def __init__(self, members: Sequence[OpenAICompatEngine], identity: dict[str, Any], *,
                 name: str = "default"):
        if not members:
            raise ConfigError(f"engine '{name}': a pool needs at least one member")
        self.members = list(members)
        self.name = name
        self._identity = dict(identity)
        self._live: list[int] | None = None  # members that answered at start
        self._closed = False
        self.gone: dict[int, str] = {}  # member -> why it was dropped
        self.warnings: list[str] = []  # what the run should say (unreachable, gone)
        self.split: Counter[int] = Counter()  # responses per member, over every generate()
        self.adapters_served: dict[int, set[str]] = {i: set() for i in range(len(members))}

    # ---- Engine interface --------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        # The members' identity: never a URL, so which replica answered is not in any key.
        return dict(self._identity)

    def generate(self, requests: Sequence[Request],
                 progress: ProgressCallback | None = None) -> list[Response]:
        if self._closed:
            raise EngineError("the pool engine was closed; create a new one")
        if not requests:
            return []
        adapters = {r.adapter.content_hash: r.adapter for r in requests if r.adapter}
        live = self.start(adapters.values())
        if not live:
            raise EngineError(f"engine '{self.name}': every endpoint of the pool is gone: "
                              + "; ".join(f"{self.where(i)}: {why}"
                                          for i, why in self.gone.items()))
        self.members[live[0]].check_constraints(requests)
        for i in live:
            member = self.members[i]
            if adapters and not isinstance(member, VLLMEngine):
                raise ConfigError(f"the {member.kind} engine cannot serve LoRA adapters")
            # Fail in a second, before anything is sent, not half-way.
            for ref in adapters.values():
                member._check_adapter(ref)  # type: ignore[attr-defined]
        return run_coroutine(self._generate_all(requests, progress))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.split:
            log.info("pool '%s': %s", self.name, self.split_line())
        # Managed servers take seconds each to stop: stop them together.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.members)) as pool:
            for future in [pool.submit(m.close) for m in self.members]:
                try:
                    future.result()
                except Exception as exc:  # one member failing to close must not hide the rest
                    log.warning("pool '%s': closing an endpoint failed: %s", self.name, exc)

    # ---- reporting ---------------------------------------------------------------------------

    def where(self, index: int) -> str:
        member = self.members[index]
        try:
            url = member.base_url
        except EngineError:
            url = "managed vLLM server, not started"
        return f"endpoint {index + 1}/{len(self.members)} ({url})"

    def split_line(self) -> str:
        """How many responses each endpoint gave, e.g. for a closing note."""
        parts = [f"{self.split[i]} from {self.where(i)}" + (" [gone]" if i in self.gone else "")
                 for i in range(len(self.members))]
        return "responses per endpoint: " + ", ".join(parts)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    # ---- start -------------------------------------------------------------------------------

    def start(self, adapters: Iterable[AdapterRef] = ()) -> list[int]:
        """Start (managed) or reach (attached) every member, all at once; leave out, with a
        warning, the ones that do not answer. Returns the members that did."""
        if self._live is not None:
            return [i for i in self._live if i not in self.gone]
        adapters = list(adapters)
        # Managed servers are launched from this thread (the kernel's parent-death signal only
        # holds for the thread that forks), then waited for together.
        for member in self.members:
            if isinstance(member, VLLMEngine):
                member.launch(adapters)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(self.members))
        try:
            futures = [pool.submit(_start_member, m, adapters) for m in self.members]
            concurrent.futures.wait(futures)
        except BaseException:
            for member in self.members:  # Ctrl-C during a long start: stop what was launched
                member.close()
            raise
        finally:
            pool.shutdown(wait=False)
        live: list[int] = []
        unreachable: list[tuple[int, EngineError]] = []
        for i, future in enumerate(futures):
            exc = future.exception()
            if exc is None:
                live.append(i)
            elif isinstance(exc, EngineError) and type(exc) is EngineError:
                unreachable.append((i, exc))
            else:
                raise exc  # serves another model, refused the key...: not a replica to skip
        if not live:
            raise EngineError(f"engine '{self.name}': no endpoint of the pool answers: "
                              + "; ".join(f"{self.where(i)}: {exc}" for i, exc in unreachable))
        for i, exc in unreachable:
            self.gone[i] = "unreachable at start"
            self._warn(f"engine '{self.name}': {self.where(i)} is unreachable at start "
                       f"({exc}); the run goes on with the other {len(live)} of "
                       f"{len(self.members)} endpoints")
        self._live = live
        return live

    # ---- generation --------------------------------------------------------------------------

    async def _generate_all(self, requests: Sequence[Request],
                            progress: ProgressCallback | None) -> list[Response]:

        live = [i for i in self._live or [] if i not in self.gone]
        scheduler = Scheduler([adapter_key(r) for r in requests],
                              {i: self.members[i].concurrency for i in live},
                              {i: _mixes(self.members[i]) for i in live})
        done: dict[int, Response] = {}
        clients: dict[int, httpx.AsyncClient] = {}
        for i in live:
            clients[i] = self.members[i].async_client()
        limiters = {i: (RateLimiter(self.members[i]._rpm) if self.members[i]._rpm else None,
                        RateLimiter(self.members[i]._tpm) if self.members[i]._tpm else None)
                    for i in live}
        loads: dict[tuple[int, str], asyncio.Task[str]] = {}  # one adapter load per member

        async def model_name(i: int, request: Request) -> str:
            member = self.members[i]
            if request.adapter is None:
                return member.model  # a vLLM member sets it to the base model it serves
            assert isinstance(member, VLLMEngine)
            key = (i, request.adapter.content_hash)
            if key not in loads:
                loads[key] = asyncio.ensure_future(
                    asyncio.to_thread(member.load_adapter, request.adapter))
            try:
                return await asyncio.shield(loads[key])
            except EngineError as exc:
                # Unreachable while loading: the endpoint is gone. A refusal (ModelError) is
                # the adapter's problem, the same on every replica: it goes through.
                if type(exc) is EngineError:
                    raise _MemberGone(exc.message) from None
                raise

        async def one(i: int, index: int) -> None:
            member, request = self.members[i], requests[index]
            name = await model_name(i, request)
            rpm, tpm = limiters[i]
            if rpm is not None:
                await rpm.acquire(1)
            if tpm is not None:
                await tpm.acquire(estimate_tokens(request))
            try:
                response = await member._generate_one(clients[i], request, name)
            except _Failed as failure:
                if failure.transport:  # never reached the endpoint, even after its retries
                    raise _MemberGone(failure.message) from None
                response = Response(text="", finish_reason="error", error=failure.message)
            except _Gone as gone:
                raise _MemberGone(member.gone_message() or gone.message) from None
            scheduler.finish(i, index)
            if index in done:  # finished elsewhere after a requeue: never hand it on twice
                return
            done[index] = response
            self.split[i] += 1
            if request.adapter is not None:
                self.adapters_served[i].add(request.adapter.content_hash)
            if progress is not None:
                progress(index, response)

        running: dict[asyncio.Task[None], tuple[int, int]] = {}
        watchdogs = {asyncio.ensure_future(self.members[i].watch()): i for i in live}

        def lose(i: int, why: str) -> None:
            back = scheduler.drop(i)
            self.gone[i] = why
            for task, (member, _) in running.items():
                if member == i:
                    task.cancel()
            for task, member in list(watchdogs.items()):
                if member == i:
                    task.cancel()
                    del watchdogs[task]
            left = len(scheduler.alive)
            self._warn(f"engine '{self.name}': {self.where(i)} is gone ({why}); its "
                       f"{len(back)} unfinished requests go to the other {left} endpoint(s)"
                       if left else f"engine '{self.name}': {self.where(i)} is gone ({why})")

        try:
            while True:
                for i in sorted(scheduler.alive):
                    while (index := scheduler.take(i)) is not None:
                        running[asyncio.ensure_future(one(i, index))] = (i, index)
                if not scheduler.alive:
                    reasons = "; ".join(f"{self.where(i)}: {why}" for i, why in self.gone.items())
                    raise GenerationAborted(
                        f"engine '{self.name}': every endpoint of the pool is gone ({reasons}) "
                        f"[{len(done)}/{len(requests)} responses finished before]", done)
                if not running:
                    if scheduler.drained:
                        break
                    raise AssertionError("requests wait while every endpoint is idle")
                finished, _ = await asyncio.wait({*running, *watchdogs},
                                                 return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    if task in watchdogs:
                        i = watchdogs.pop(task)
                        exc = None if task.cancelled() else task.exception()
                        if isinstance(exc, _Gone):
                            lose(i, self.members[i].gone_message() or exc.message)
                        elif exc is not None:
                            raise exc
                        continue
                    i, _ = running.pop(task)
                    if task.cancelled():
                        continue
                    exc = task.exception()
                    if isinstance(exc, _MemberGone):
                        if i in scheduler.alive:
                            lose(i, exc.message)
                    elif exc is not None:
                        raise exc  # the progress callback's (a spending limit) or a refusal
        finally:
            pending = [*running, *watchdogs, *loads.values()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for client in clients.values():
                await client.aclose()
        return [done[i] for i in range(len(requests))]


def _start_member(member: OpenAICompatEngine, adapters: Sequence[AdapterRef]) -> None:
    if isinstance(member, VLLMEngine):
        member.start(extra_adapters=adapters)
    else:
        member.start()


def _mixes(member: OpenAICompatEngine) -> bool:
    return member.mixes_base_and_adapters if isinstance(member, VLLMEngine) else True
