"""The real Dagster UI for tests: scripts/dagster-ui.sh (webserver + daemon) on a free port, its
GraphQL API, and a stop that leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> dict:
    """The ``data`` of one GraphQL request (errors raise)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(req, timeout=timeout).read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


def start_ui(env: dict[str, str], log: IO, timeout_s: float = 300) -> tuple[subprocess.Popen, int]:
    """Start scripts/dagster-ui.sh with ``env`` and wait until the code location serves its assets."""
    port = free_port()
    proc = subprocess.Popen(["bash", str(REPO / "scripts/dagster-ui.sh")], cwd=REPO, env=dict(env, PORT=str(port)),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/dagster-ui.sh exited with {proc.returncode}")
        try:
            if graphql(port, "{ assetNodes { id } }", timeout=10)["assetNodes"]:
                return proc, port
        except (OSError, KeyError, TypeError, ValueError, RuntimeError):
            pass
        time.sleep(2)
    stop_ui(proc)
    raise RuntimeError(f"the UI did not serve the asset graph on 127.0.0.1:{port} within {timeout_s:.0f} s")


def stop_ui(proc: subprocess.Popen) -> None:
    """SIGTERM the UI's process group (dagster dev, webserver, daemon, code servers, runs it launched),
    then SIGKILL whatever is left, including descendants that moved to their own group."""
    import psutil

    try:
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = [proc.pid]
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in family[1:]:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
