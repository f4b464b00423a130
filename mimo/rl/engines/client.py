"""The trainer's handle on one engine process: requests out, streamed results in, calls with replies.

A reader thread receives the engine's messages: finished requests go to their callbacks, sequence
ends update the engine's load, replies wake the waiting call. When the connection breaks (the
process died, its node went away) the engine is marked dead and ``on_death`` gets the requests it
still held, so the pool can run them elsewhere.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Any

from mimo.generate.base import GenerationRequest


class EngineDied(RuntimeError):
    """The engine's connection broke."""


@dataclass
class Outstanding:
    """A request the engine holds: what to resubmit elsewhere if it dies."""

    request: GenerationRequest
    on_done: Callable[..., None]
    rows: int
    submit_index: int


class RemoteEngine:
    """One rollout engine process behind its connection."""

    def __init__(self, engine_id: int, address: tuple[str, int], key: bytes, max_sequences: int,
                 on_death: Callable[[RemoteEngine, dict[str, Outstanding]], None] | None = None,
                 call_timeout_s: float = 120.0):
        self.engine_id, self.address, self.max_sequences = engine_id, address, max_sequences
        self.on_death = on_death
        self.on_sequence_finished: Callable[[], None] | None = None
        self.call_timeout_s = call_timeout_s
        self.alive = True
        self.conn: Connection = Client(address, authkey=key)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._calls = itertools.count(1)
        self._replies: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._outstanding: dict[str, Outstanding] = {}
        self._submitted = 0  # submits sent
        self._seen = 0  # submits the engine reported as received
        self._engine_running = 0  # sequences the engine reported as running
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"engine-{engine_id}-reader")
        self._reader.start()

    # ------------------------------------------------------------------ load
    @property
    def running_sequences(self) -> int:
        """Sequences the engine runs or has queued, plus those of submits it has not read yet."""
        with self._lock:
            unseen = sum(o.rows for o in self._outstanding.values() if o.submit_index > self._seen)
            return self._engine_running + unseen if self.alive else 0

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._outstanding)

    # ------------------------------------------------------------------ requests
    def submit(self, handle: str, request: GenerationRequest, on_done: Callable[..., None]) -> None:
        """Send ``request``; ``on_done(result, version_at_submit, version_now)`` fires when it ends.
        ``EngineDied`` when the engine was already down (nothing was taken)."""
        rows = 1 if request.params.temperature == 0 else request.params.n
        with self._lock:
            if not self.alive:
                raise EngineDied(f"rollout engine {self.engine_id} is down")
            self._submitted += 1
            self._outstanding[handle] = Outstanding(request, on_done, rows, self._submitted)
        try:
            self._send("submit", handle, request)
        except EngineDied:
            pass  # the death handler already handed this request to the pool again

    def abort(self, handle: str) -> bool:
        """Cancel ``handle`` (False when it already finished); a dead engine's requests count as aborted."""
        with self._lock:
            if self._outstanding.pop(handle, None) is None:
                return False
        if not self.alive:
            return True
        try:
            return bool(self.call("abort", handle))
        except EngineDied:
            return True

    def call(self, kind: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Send ``kind`` and wait for its reply; an engine error is a ``RuntimeError`` naming it."""
        call = next(self._calls)
        event, box = threading.Event(), []
        with self._lock:
            self._replies[call] = (event, box)
        self._send(kind, call, *args)
        if not event.wait(timeout_s or self.call_timeout_s):
            with self._lock:
                self._replies.pop(call, None)
            raise TimeoutError(f"rollout engine {self.engine_id} did not answer {kind!r} "
                               f"within {timeout_s or self.call_timeout_s:.0f} s")
        value, error = box
        if error == "__died__":
            raise EngineDied(f"rollout engine {self.engine_id} died during {kind!r}")
        if error:
            raise RuntimeError(error)
        return value

    def close(self) -> None:
        if self.alive:
            try:
                self._send("close")
            except EngineDied:
                pass
        self.alive = False
        self.conn.close()

    # ------------------------------------------------------------------ internals
    def _send(self, *message: Any) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, EOFError, ValueError) as e:
            self._died()
            raise EngineDied(f"rollout engine {self.engine_id} is unreachable: {e}") from None

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self._died()
                return
            kind = message[0]
            if kind == "done":
                _, handle, result, version_at_submit, version_now = message
                with self._lock:
                    out = self._outstanding.pop(handle, None)
                if out is not None:
                    out.on_done(result, version_at_submit, version_now)
            elif kind == "seq":
                with self._lock:
                    self._engine_running, self._seen = message[1], message[2]
                if self.on_sequence_finished is not None:
                    self.on_sequence_finished()
            elif kind == "reply":
                _, call, value, error = message
                with self._lock:
                    waiting = self._replies.pop(call, None)
                if waiting is not None:
                    waiting[1].extend([value, error])
                    waiting[0].set()

    def _died(self) -> None:
        with self._lock:
            if not self.alive:
                return
            self.alive = False
            lost = dict(self._outstanding)
            self._outstanding.clear()
            replies = list(self._replies.values())
            self._replies.clear()
        for event, box in replies:
            box.extend([None, "__died__"])
            event.set()
        if self.on_death is not None:
            self.on_death(self, lost)
