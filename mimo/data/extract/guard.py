"""Guarded extraction: a persistent worker process per extractor, per-document wall-clock timeout,
address-space limit in the worker, respawn after a timeout or a crash. One bad page never takes
down the caller: every call returns an ExtractOutcome."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Self

from mimo.data.extract.config import ExtractConfig, ExtractOutcome

_DEFAULT = ExtractConfig()


class GuardedExtractor:
    """Context manager running :func:`extract_html` in a guarded worker process."""

    def __init__(self, config: ExtractConfig = _DEFAULT) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None   # parent -> worker
        self._rconn: Connection | None = None  # worker -> parent
        self.n_respawns = 0

    def __enter__(self) -> Self:
        try:
            self._start()
        except (OSError, RuntimeError):
            self._kill()  # retried lazily by extract()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        """Start a worker: a fresh interpreter (no fork of the caller's state), two pipes."""
        to_w_r, to_w_w = os.pipe()
        from_w_r, from_w_w = os.pipe()
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else root
        cfg = json.dumps(dataclasses.asdict(self.config))
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mimo.data.extract.worker", str(to_w_r), str(from_w_w), cfg],
                pass_fds=(to_w_r, from_w_w), stdin=subprocess.DEVNULL, env=env, close_fds=True)
        finally:
            os.close(to_w_r)
            os.close(from_w_w)
        self._conn = Connection(to_w_w, readable=False)
        self._rconn = Connection(from_w_r, writable=False)
        if not self._rconn.poll(60) or self._rconn.recv() != "ready":
            raise RuntimeError("extraction worker did not start")

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        proc, conns = self._proc, (self._conn, self._rconn)
        self._proc = self._conn = self._rconn = None
        for conn in conns:
            if conn is not None:
                conn.close()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass

    def _precheck(self, payload: bytes | str) -> str | None:
        if not payload:
            return "empty_input"
        if len(payload) > self.config.payload_limit:
            return "too_large"
        if not payload.strip():
            return "empty_input"
        return None

    def extract(self, payload: bytes | str, url: str | None = None,
                charset_hint: str | None = None) -> ExtractOutcome:
        """Extract one document in the worker; never raises for bad input."""
        t0 = time.perf_counter()

        def skipped(reason: str) -> ExtractOutcome:
            return ExtractOutcome.skipped(reason, extraction_ms=(time.perf_counter() - t0) * 1000)

        try:
            reason = self._precheck(payload)
        except Exception:  # noqa: BLE001 - e.g. an object that is not bytes/str
            reason = "decode_error"
        if reason:
            return skipped(reason)
        for attempt in range(2):  # a worker that died while idle gets one fresh start
            try:
                if not self._alive():
                    if self._proc is not None:
                        self._kill()
                        self.n_respawns += 1
                    self._start()
                assert self._conn is not None
                self._conn.send((payload, url, charset_hint))
                break
            except (BrokenPipeError, EOFError, OSError, RuntimeError):
                self._kill()
                if attempt:
                    return skipped("worker_crash")
        assert self._rconn is not None and self._proc is not None
        try:
            ready = self._rconn.poll(max(0.001, self.config.timeout_s))
        except (EOFError, OSError):
            ready = True
        if not ready:
            self._kill()
            self.n_respawns += 1
            return skipped("timeout")
        try:
            out = self._rconn.recv()
        except (EOFError, OSError, MemoryError):
            try:
                code = self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self._kill()
            self.n_respawns += 1
            oom = code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT) and self.config.memory_limit_mb > 0
            return skipped("memory" if oom else "worker_crash")
        if not isinstance(out, ExtractOutcome):
            return skipped("worker_crash")
        if out.skip_reason == "memory":
            self._kill()
            self.n_respawns += 1
        return out

    def close(self) -> None:
        """Stop the worker (politely, then by force)."""
        if self._conn is not None and self._alive():
            try:
                self._conn.send(None)
                assert self._proc is not None
                self._proc.wait(timeout=2)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __del__(self) -> None:  # pragma: no cover - best effort
        with contextlib.suppress(Exception):
            self._kill()
