"""Start rollout engines on this machine, or find the ones a cluster job started, and connect.

Each engine announces ``<rendezvous>/engine-K.json`` (host, port, pid) once it listens. The pool
waits for all of them; an engine process that exits first, or one that never announces itself
within ``start_timeout_s``, is a clear error naming it (with the tail of its log for a local one).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mimo.generate.base import SamplingParams
from mimo.rl.engines.client import RemoteEngine
from mimo.rl.engines.config import EnginesConfig
from mimo.rl.engines.pool import EnginePool
from mimo.rl.engines.protocol import auth_key, ensure_token

POLL_S = 0.2


def engine_command(model: str, rendezvous: Path | None, engine_id: int | None, cfg: EnginesConfig,
                   sampling: SamplingParams, max_sequences: int, host: str = "") -> list[str]:
    """The command line of one engine process (what a local launch runs and a cluster job starts on
    its rollout nodes, where the rendezvous directory and engine id come from the job: ``None``)."""
    cmd = [sys.executable, "-m", "mimo.rl.engines.server", "--model", model]
    if rendezvous is not None:
        cmd += ["--rendezvous", str(rendezvous), "--engine-id", str(engine_id)]
    cmd += ["--backend", cfg.backend, "--max-sequences", str(max_sequences),
           "--temperature", str(sampling.temperature), "--top-p", str(sampling.top_p),
           "--max-tokens", str(sampling.max_tokens)]
    if cfg.threads:
        cmd += ["--threads", str(cfg.threads)]
    if host:
        cmd += ["--host", host]
    if cfg.vllm:
        cmd += ["--vllm", json.dumps(cfg.vllm)]
    return cmd


def start_local_engines(model: str, rendezvous: Path, cfg: EnginesConfig, sampling: SamplingParams,
                        max_sequences: int) -> list[subprocess.Popen]:
    """``cfg.count`` engine processes on 127.0.0.1 (stale announcements removed first)."""
    ensure_token()
    rendezvous.mkdir(parents=True, exist_ok=True)
    for old in rendezvous.glob("engine-*"):
        old.unlink()
    procs = []
    for k in range(cfg.count):
        log = open(rendezvous / f"engine-{k}.log", "w")  # noqa: SIM115 - the child owns it
        procs.append(subprocess.Popen(engine_command(model, rendezvous, k, cfg, sampling, max_sequences, "127.0.0.1"),
                                      stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()))
        log.close()
    return procs


def _log_tail(rendezvous: Path, k: int) -> str:
    log = rendezvous / f"engine-{k}.log"
    return log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"


def wait_for_engines(rendezvous: Path, count: int, timeout_s: float,
                     procs: list[subprocess.Popen] | None = None) -> list[dict[str, Any]]:
    """The announcements of engines ``0..count-1``; a clear error when one dies or never comes."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = {}
        for k in range(count):
            path = rendezvous / f"engine-{k}.json"
            if path.exists():
                found[k] = json.loads(path.read_text())
        if len(found) == count:
            return [found[k] for k in range(count)]
        for k, proc in enumerate(procs or []):
            if proc.poll() is not None and k not in found:
                raise RuntimeError(f"rollout engine {k} exited with code {proc.returncode} before it listened:\n"
                                   f"{_log_tail(rendezvous, k)}")
        if time.monotonic() > deadline:
            missing = [k for k in range(count) if k not in found]
            raise RuntimeError(f"rollout engine(s) {missing} did not announce themselves in {rendezvous} within "
                               f"{timeout_s:.0f} s (started by the cluster job? check their logs)")
        time.sleep(POLL_S)


def open_pool(model: str, tokenizer: Any, cfg: EnginesConfig, sampling: SamplingParams, max_sequences: int,
              rendezvous: Path, report: Callable[[str], None] | None = None) -> EnginePool:
    """Start (``launch: local``) or find (``external``) the engines and connect to each one."""
    procs = start_local_engines(model, rendezvous, cfg, sampling, max_sequences) if cfg.launch == "local" else []

    def stop_local() -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for k in range(len(procs)):  # no stale announcement for the next run
            (rendezvous / f"engine-{k}.json").unlink(missing_ok=True)

    try:
        infos = wait_for_engines(rendezvous, cfg.count, cfg.start_timeout_s, procs)
        key = auth_key()
        engines = []
        for info in infos:
            try:
                engines.append(RemoteEngine(info["engine_id"], (info["host"], info["port"]), key,
                                            info["max_sequences"]))
            except (OSError, EOFError) as e:
                raise RuntimeError(f"rollout engine {info['engine_id']} at {info['host']}:{info['port']} "
                                   f"is unreachable: {e}") from None
    except BaseException:
        stop_local()
        raise
    host = socket.gethostname() if cfg.sync_host == "auto" else cfg.sync_host
    pool = EnginePool(engines, tokenizer, max_staleness=cfg.max_staleness, sync_host=host,
                      sync_backend=cfg.sync_backend, report=report, on_close=stop_local)
    pool.processes = list(procs)
    return pool
