"""M rollout engines behind the streaming generator interface the seamless rollout engine drives.

:class:`EnginePool` has ``submit``/``abort``/``paused``/``running_sequences``/``max_sequences``/
``on_sequence_finished``/``encode_chat``, so :class:`~mimo.rl.rollout.SeamlessRolloutEngine`
schedules over the whole pool as over one generator: continuous rollout, async reward and FIFO early
termination span every engine. A request goes to the least-loaded live engine. When an engine dies,
the requests it held are submitted again to the others (counted in ``requeued``); with no engine left
they end as error results at once (never a stall) and :meth:`check_alive` raises.

:meth:`sync_weights` pushes the policy to every engine after an update (:mod:`.weight_sync`) and
bumps the weight version; a result generated with older weights than ``max_staleness`` allows is
turned into an error result (counted in ``stale_results``), so nothing is trained on stale samples
unknowingly.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mimo.generate.base import GenerationRequest, GenerationResult, Message
from mimo.rl.engines.client import EngineDied, Outstanding, RemoteEngine
from mimo.rl.engines.weight_sync import (
    GroupAddress,
    WeightSyncError,
    free_port,
    open_group,
    send_weights,
    spec_of,
)

OnDone = Callable[[GenerationResult, float], None]


class EnginePool:
    """Dispatch over engines, re-queue on death, weight sync (module docstring)."""

    def __init__(self, engines: Sequence[RemoteEngine], tokenizer: Any, *, max_staleness: int = 0,
                 sync_host: str = "127.0.0.1", sync_backend: str = "gloo", sync_timeout_s: float = 300.0,
                 report: Callable[[str], None] | None = None, on_close: Callable[[], None] | None = None):
        if not engines:
            raise ValueError("an engine pool needs at least one engine")
        self.engines = list(engines)
        self.tokenizer, self.max_staleness = tokenizer, max_staleness
        self.sync_host, self.sync_backend, self.sync_timeout_s = sync_host, sync_backend, sync_timeout_s
        self.report = report or (lambda message: None)
        self._on_close = on_close
        self.on_sequence_finished: Callable[[], None] | None = None
        self.version = 0
        self.counters = {"engine_failures": 0, "requeued": 0, "stale_results": 0, "lost_no_engine": 0}
        self.recovery_s: list[float] = []  # per death: time to re-submit its requests
        self._where: dict[str, RemoteEngine] = {}
        self._handles = itertools.count(1)
        self._lock = threading.RLock()
        self._group: Any = None
        self._members: tuple[int, ...] = ()
        self.processes: list[Any] = []  # local engine processes (launch: local)
        for engine in self.engines:
            engine.on_death = self._engine_died
            engine.on_sequence_finished = self._slot_freed

    # ------------------------------------------------------------------ generator interface
    @property
    def live(self) -> list[RemoteEngine]:
        return [e for e in self.engines if e.alive]

    @property
    def max_sequences(self) -> int:
        return sum(e.max_sequences for e in self.live) or self.engines[0].max_sequences

    @property
    def running_sequences(self) -> int:
        return sum(e.running_sequences for e in self.live)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing to hold: the engines decode their own copies of the weights."""
        yield

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def submit(self, request: GenerationRequest, on_done: OnDone) -> str:
        handle = f"p{next(self._handles)}"
        self._dispatch(handle, Outstanding(request, self._delivery(on_done), 0, 0))
        return handle

    def abort(self, handle: str) -> bool:
        with self._lock:
            engine = self._where.pop(handle, None)
        return engine is not None and engine.abort(handle)

    def check_alive(self) -> None:
        """Raise when no engine is left (names the failures)."""
        if not self.live:
            raise RuntimeError(f"every rollout engine is down ({self.counters['engine_failures']} failure(s)); "
                               "restart the run to resume from its last checkpoint")

    def stats(self) -> dict[str, Any]:
        return {**self.counters, "engines_live": len(self.live), "engines": len(self.engines),
                "weight_version": self.version,
                "recovery_seconds_max": round(max(self.recovery_s), 4) if self.recovery_s else None}

    def kill_engine_later(self, k: int, delay_s: float) -> None:
        """Test hook: SIGKILL local engine ``k`` once it has held requests for ``delay_s`` (what a
        crashed node looks like mid-rollout)."""
        import os
        import signal

        def kill() -> None:
            deadline = time.monotonic() + 60
            while self.engines[k].outstanding == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(delay_s)
            if self.processes and self.processes[k].poll() is None:
                os.kill(self.processes[k].pid, signal.SIGKILL)

        threading.Thread(target=kill, daemon=True).start()

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        if self._on_close is not None:
            self._on_close()

    # ------------------------------------------------------------------ weight sync
    def sync_weights(self, weights: dict[str, Any]) -> dict[str, float]:
        """Push ``weights`` to every live engine (two-phase, :mod:`.weight_sync`); the new version's
        timing. A mismatch is a ``WeightSyncError`` naming the engine and the tensor; nothing is sent."""
        for attempt in (1, 2):
            try:
                return self._sync_once(weights)
            except EngineDied as e:  # an engine died mid-sync: rebuild the group over the others, once
                self._members = ()
                if attempt == 2 or not self.live:
                    raise WeightSyncError(f"weight sync failed: {e}") from e
                self.report(f"weight sync: {e}; syncing again over the {len(self.live)} live engine(s)")
        raise AssertionError("unreachable")

    def _sync_once(self, weights: dict[str, Any]) -> dict[str, float]:
        t0 = time.perf_counter()
        engines = self.live
        if not engines:
            self.check_alive()
        self._ensure_group(engines)
        spec = spec_of(weights)
        with ThreadPoolExecutor(len(engines)) as pool:
            checks = list(pool.map(lambda e: _outcome(lambda: e.call("sync_check", spec)), engines))
        problems = [str(err) for _, err in checks if err is not None]
        if problems:
            if any(isinstance(err, EngineDied) for _, err in checks):
                raise next(err for _, err in checks if isinstance(err, EngineDied))
            raise WeightSyncError("weight sync refused, nothing was sent: " + "; ".join(problems))
        version = self.version + 1
        with ThreadPoolExecutor(len(engines)) as pool:
            futures = [pool.submit(e.call, "sync_receive", version, timeout_s=self.sync_timeout_s) for e in engines]
            sent = send_weights(self._group, weights)
            seconds = [f.result() for f in futures]
        self.version = version
        return {"weight_sync_seconds": round(time.perf_counter() - t0, 4),
                "weight_sync_engine_seconds_max": max(seconds), "weight_sync_mb": round(sent / 2**20, 3)}

    def _ensure_group(self, engines: list[RemoteEngine]) -> None:
        members = tuple(e.engine_id for e in engines)
        if members == self._members and self._group is not None:
            return
        port = free_port(self.sync_host if self.sync_host != "0.0.0.0" else "")
        world = len(engines) + 1
        with ThreadPoolExecutor(len(engines)) as pool:
            joins = [pool.submit(e.call, "join", GroupAddress(self.sync_host, port, world, k + 1, self.sync_backend,
                                                               self.sync_timeout_s), timeout_s=self.sync_timeout_s)
                     for k, e in enumerate(engines)]
            self._group = open_group(GroupAddress(self.sync_host, port, world, 0, self.sync_backend,
                                                  self.sync_timeout_s))
            for f in joins:
                f.result()
        self._members = members

    # ------------------------------------------------------------------ internals
    def _delivery(self, on_done: OnDone) -> Callable[[GenerationResult, int, int], None]:
        def deliver(result: GenerationResult, version_at_submit: int, version_now: int) -> None:
            lag = self.version - version_at_submit  # a sync during generation counts when no lag is allowed
            if lag > self.max_staleness or (self.max_staleness == 0 and version_now != version_at_submit):
                self.counters["stale_results"] += 1
                result = GenerationResult(result.request_id, [], f"generated with stale weights (version "
                                          f"{version_at_submit}, policy {self.version})")
            on_done(result, time.perf_counter())
        return deliver

    def _dispatch(self, handle: str, out: Outstanding) -> None:
        while True:
            engines = self.live
            if not engines:
                self.counters["lost_no_engine"] += 1
                out.on_done(GenerationResult(out.request.request_id, [], "no rollout engine is alive"),
                            self.version, self.version)
                return
            engine = min(engines, key=lambda e: e.running_sequences / max(e.max_sequences, 1))
            with self._lock:
                self._where[handle] = engine
            try:
                engine.submit(handle, out.request, out.on_done)
                return
            except EngineDied:
                continue  # marked dead; its requests are re-queued by _engine_died

    def _engine_died(self, engine: RemoteEngine, lost: dict[str, Outstanding]) -> None:
        t0 = time.perf_counter()
        self.counters["engine_failures"] += 1
        self.report(f"rollout engine {engine.engine_id} died with {len(lost)} request(s) in flight; "
                    f"re-queued on {len(self.live)} live engine(s)")
        for handle, out in lost.items():
            self.counters["requeued"] += 1
            self._dispatch(handle, out)  # same handle: an abort still finds it
        self.recovery_s.append(time.perf_counter() - t0)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self.on_sequence_finished is not None:
            self.on_sequence_finished()


def _outcome(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return fn(), None
    except (RuntimeError, TimeoutError) as e:
        return None, e
