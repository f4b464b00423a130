"""The code judge as a small HTTP service, so rollout workers can use dedicated judge machines.

    GET  /health    -> {"ok": true, "isolation": {...}}
    POST /v1/score  {"items": [...], "scheme": "vanilla", "level_scores": null}
                    -> {"results": [CodeScore.to_dict(), ...], "isolation": "bubblewrap"}

Items are those of ``mimo reward code``. All requests share one pool of ``workers`` programs
running at a time. When a token is configured (``MIMO_JUDGE_TOKEN``), requests must carry
``Authorization: Bearer <token>``. Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import hmac
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mimo.verifiers.code import SCHEMES, score_item, validate_level_scores
from mimo.verifiers.sandbox.isolation import Sandbox, get_sandbox

MAX_BODY_BYTES = 256 << 20
MAX_ITEMS = 4096


class JudgeServer(ThreadingHTTPServer):
    """HTTP server holding the sandbox and the shared worker pool."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, workers: int = 2, token: str | None = None):
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self.token = token or None
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="judge")

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: JudgeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"[judge] {self.address_string()} {fmt % args}\n")

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if not self.server.token:
            return True
        got = self.headers.get("Authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {self.server.token}".encode())

    def do_GET(self) -> None:
        if self.path != "/health":
            self._reply(404, {"error": "not found"})
            return
        self._reply(200, {"ok": True, "isolation": self.server.sandbox.info()})

    def do_POST(self) -> None:
        if self.path != "/v1/score":
            self._reply(404, {"error": "not found"})
            return
        if not self._authorized():
            self._reply(401, {"error": "missing or wrong bearer token"})
            return
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._reply(413, {"error": f"body must have a Content-Length of at most {MAX_BODY_BYTES} bytes"})
            return
        try:
            request = json.loads(self.rfile.read(length))
            items, scheme = request["items"], request.get("scheme", "vanilla")
            level_scores = request.get("level_scores")
            if isinstance(level_scores, dict):
                level_scores = {int(k): v for k, v in level_scores.items()}
            if not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise ValueError(f"items must be a list of at most {MAX_ITEMS}")
            if scheme not in SCHEMES:
                raise ValueError(f"unknown scheme {scheme!r}")
            validate_level_scores(level_scores)
        except (ValueError, KeyError, TypeError) as e:
            self._reply(400, {"error": f"bad request: {e}"})
            return
        futures = [self.server.pool.submit(score_item, self.server.sandbox, it, scheme, level_scores) for it in items]
        results = [f.result().to_dict() for f in futures]
        self._reply(200, {"results": results, "isolation": self.server.sandbox.kind})


def make_server(host: str = "127.0.0.1", port: int = 8757, *, workers: int = 2, allow_weak_isolation: bool = False,
                token: str | None = None) -> JudgeServer:
    """A judge server bound to ``host:port`` (port 0: any free port); call ``serve_forever()``."""
    return JudgeServer((host, port), get_sandbox(allow_weak_isolation), workers=workers, token=token)


def serve(host: str = "127.0.0.1", port: int = 8757, *, workers: int = 2, allow_weak_isolation: bool = False,
          token: str | None = None) -> None:
    """Run the judge service until interrupted."""
    server = make_server(host, port, workers=workers, allow_weak_isolation=allow_weak_isolation, token=token)
    print(json.dumps({"judge": server.url, "isolation": server.sandbox.kind, "workers": workers,
                      "auth": bool(token)}), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
