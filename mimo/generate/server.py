"""A small OpenAI-compatible HTTP server over any :class:`~mimo.generate.base.Generator`.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``. Concurrent chat
requests are batched dynamically: a single batcher thread takes the first waiting request, keeps
collecting while the next one arrives within ``batch_wait_s`` of the previous (at most
``max_batch_wait_s`` in all, at most ``max_batch`` requests) and hands them to the generator as ONE
``generate_batch`` call; requests arriving while a batch runs form the next batch.

For tests, :class:`FaultInjection` makes the first requests fail, hang, or return invalid UTF-8 or
malformed JSON (off by default). Run standalone::

    python -m mimo.generate.server --model PATH [--port 8000] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from mimo.generate.base import (
    GenerationRequest,
    GenerationResult,
    Generator,
    SamplingParams,
)

MAX_BODY_BYTES = 16 << 20
MAX_N = 256  # samples per request
_BAD_UTF8_MARKER = "\u0001\u0002BAD-UTF8\u0002\u0001"


class BadRequest(ValueError):
    """A client error: answered with ``status`` and an OpenAI-style error body."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class FaultInjection:
    """Test-only faults, applied by chat request number ``r`` (0-based, in arrival order)."""

    fail_first: int = 0          # r < fail_first: answer ``fail_status`` without generating
    fail_status: int = 503
    delay_s: float = 0.0         # sleep this long before answering ...
    delay_first: int | None = None  # ... requests r < delay_first (None: every request)
    invalid_utf8_first: int = 0  # r < k: the content starts with the bytes ff fe c3 (not UTF-8)
    malformed_json_first: int = 0  # r < k: a 200 whose body is not JSON


@dataclass
class ServerStats:
    """Counters for tests and benchmarks."""

    chat_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    batch_sizes: list[int] = field(default_factory=list)


def parse_chat_request(payload: Any, default_max_tokens: int = 256) -> tuple[str | None, GenerationRequest]:
    """Validate a chat-completions body; returns (model, request) or raises :class:`BadRequest`."""
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string")
    if payload.get("stream"):
        raise BadRequest("streaming is not supported by this server")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    parsed = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not m["role"]:
            raise BadRequest(f"messages[{i}] must be an object with a 'role' string")
        content = m.get("content")
        if isinstance(content, list):  # content parts: only text parts are supported
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise BadRequest(f"messages[{i}].content: only text parts are supported")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise BadRequest(f"messages[{i}].content must be a string")
        parsed.append({"role": m["role"], "content": content})

    def number(name: str, default: float) -> float:
        v = payload.get(name)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadRequest(f"'{name}' must be a number")
        return float(v)

    def integer(name: str) -> int | None:
        v = payload.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise BadRequest(f"'{name}' must be an integer")
        return v

    max_tokens = integer("max_completion_tokens")
    max_tokens = integer("max_tokens") if max_tokens is None else max_tokens
    stop = payload.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is None:
        stop = []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise BadRequest("'stop' must be a string or a list of strings")
    n = integer("n")
    if n is not None and n > MAX_N:
        raise BadRequest(f"'n' must be <= {MAX_N}")
    try:
        params = SamplingParams(
            n=1 if n is None else n, temperature=number("temperature", 1.0),
            top_p=number("top_p", 1.0),
            max_tokens=default_max_tokens if max_tokens is None else max_tokens,
            stop=tuple(s for s in stop if s), seed=integer("seed"),
        )
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return model, GenerationRequest(parsed, params, request_id=f"chatcmpl-{uuid.uuid4().hex}")


class _Batcher:
    """Collects queued requests into batches and runs them on the generator, one batch at a time."""

    def __init__(self, generator: Generator, max_batch: int, wait_s: float, max_wait_s: float,
                 stats: ServerStats) -> None:
        self.generator, self.max_batch, self.stats = generator, max_batch, stats
        self.wait_s, self.max_wait_s = wait_s, max(wait_s, max_wait_s)
        self.queue: queue.Queue[tuple[GenerationRequest, Future]] = queue.Queue()
        self._stop = threading.Event()
        self._submit_lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, name="generation-batcher", daemon=True)

    def submit(self, request: GenerationRequest) -> Future:
        fut: Future = Future()
        with self._submit_lock:
            if self._stop.is_set():
                fut.set_result(GenerationResult(request.request_id, [], "server is shutting down"))
            else:
                self.queue.put((request, fut))
        return fut

    def stop(self) -> None:
        """Finish the running batch, then answer whatever is still queued with an error."""
        with self._submit_lock:
            self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=60)
        while True:
            try:
                req, fut = self.queue.get_nowait()
            except queue.Empty:
                break
            fut.set_result(GenerationResult(req.request_id, [], "server is shutting down"))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                items = [self.queue.get(timeout=0.05)]
            except queue.Empty:
                continue
            deadline = time.monotonic() + self.max_wait_s
            while len(items) < self.max_batch:
                gap = min(self.wait_s, deadline - time.monotonic())
                try:  # a request within `wait_s` of the previous one joins this batch
                    items.append(self.queue.get(timeout=max(0.0, gap)))
                except queue.Empty:
                    break
            self.stats.batch_sizes.append(len(items))
            try:
                results = self.generator.generate_batch([req for req, _ in items])
            except Exception as e:  # noqa: BLE001 - generate_batch should not raise; be safe anyway
                results = [GenerationResult(req.request_id, [], f"{type(e).__name__}: {e}")
                           for req, _ in items]
            for (_, fut), res in zip(items, results):
                fut.set_result(res)


class GenerationServer:
    """OpenAI-compatible server over ``generator`` on ``host:port`` (port 0: a free port).

    Use as a context manager (or :meth:`start`/:meth:`stop`); :attr:`base_url` is the ``/v1`` URL
    for OpenAI clients. ``max_batch`` caps the requests per ``generate_batch`` call.
    """

    def __init__(self, generator: Generator, *, host: str = "127.0.0.1", port: int = 0,
                 served_model_name: str | None = None, max_batch: int = 64,
                 batch_wait_s: float = 0.02, max_batch_wait_s: float = 0.1,
                 default_max_tokens: int = 256,
                 faults: FaultInjection | None = None) -> None:
        self.generator = generator
        self.host, self.port = host, port
        self.model_name = served_model_name or generator.model
        self.default_max_tokens = default_max_tokens
        self.faults = faults or FaultInjection()
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._batcher = _Batcher(generator, max_batch, batch_wait_s, max_batch_wait_s, self.stats)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> GenerationServer:
        """Bind, then serve in background threads; sets :attr:`port` to the bound port."""
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # idle keep-alive connections must not block stop()
        self.port = self._httpd.server_address[1]
        self._batcher.thread.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="generation-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and the batcher (the generator is left open)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self._batcher.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ request handling
    def _next_request_number(self) -> int:
        with self._lock:
            r = self.stats.chat_requests
            self.stats.chat_requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            return r

    def _done(self) -> None:
        with self._lock:
            self.stats.in_flight -= 1

    def chat_completion(self, payload: Any, r: int) -> tuple[int, bytes]:
        """Status and body for one chat request (request number ``r``)."""
        f = self.faults
        if f.delay_s > 0 and (f.delay_first is None or r < f.delay_first):
            time.sleep(f.delay_s)
        if r < f.fail_first:
            return f.fail_status, _error_body(f"injected failure {r + 1}/{f.fail_first}",
                                              "server_error")
        model, request = parse_chat_request(payload, self.default_max_tokens)
        if model is not None and model != self.model_name:
            raise BadRequest(f"the model {model!r} does not exist (serving {self.model_name!r})",
                             404, "model_not_found")
        if r < f.malformed_json_first:
            return 200, b'{"id": "broken", "choices": [{"index": 0, "message": {"content": "'
        result = self._batcher.submit(request).result()
        if result.error is not None:
            return 500, _error_body(result.error, "server_error")
        comps = result.completions
        prefix = _BAD_UTF8_MARKER if r < f.invalid_utf8_first else ""
        body = {
            "id": request.request_id, "object": "chat.completion", "created": int(time.time()),
            "model": self.model_name,
            "choices": [{"index": i, "message": {"role": "assistant", "content": prefix + c.text},
                         "logprobs": None, "finish_reason": c.finish_reason}
                        for i, c in enumerate(comps)],
            "usage": {"prompt_tokens": comps[0].prompt_tokens if comps else 0,
                      "completion_tokens": sum(c.completion_tokens for c in comps),
                      "total_tokens": (comps[0].prompt_tokens if comps else 0)
                      + sum(c.completion_tokens for c in comps)},
        }
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if prefix:
            data = data.replace(json.dumps(prefix, ensure_ascii=False)[1:-1].encode("utf-8"),
                                b"\xff\xfe\xc3", 1)
        return 200, data

    def models(self) -> bytes:
        return json.dumps({"object": "list", "data": [
            {"id": self.model_name, "object": "model", "created": 0, "owned_by": "mimo",
             "backend": self.generator.backend}]}).encode()


def _error_body(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None,
                                 "code": code or kind}}).encode()


class _Handler(BaseHTTPRequestHandler):
    app: GenerationServer
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this
    server_version = "mimo-generate/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, b'{"status": "ok"}')
        elif path == "/v1/models":
            self._send(200, self.app.models())
        else:
            self._send(404, _error_body(f"no route GET {path}", "not_found"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return self._send(411, _error_body("Content-Length required", "invalid_request_error"))
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return self._send(413, _error_body("request body too large", "invalid_request_error"))
        raw = self.rfile.read(length)
        if path != "/v1/chat/completions":
            return self._send(404, _error_body(f"no route POST {path}", "not_found"))
        r = self.app._next_request_number()
        try:
            try:
                payload = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise BadRequest(f"request body is not valid JSON: {e}") from None
            status, body = self.app.chat_completion(payload, r)
        except BadRequest as e:
            status, body = e.status, _error_body(str(e), "invalid_request_error", e.code)
        except Exception as e:  # noqa: BLE001 - never kill the handler thread silently
            status, body = 500, _error_body(f"{type(e).__name__}: {e}", "server_error")
        finally:
            self.app._done()
        self._send(status, body)

    def do_PUT(self) -> None:
        self._send(405, _error_body("method not allowed", "invalid_request_error"))

    do_DELETE = do_PATCH = do_PUT


def main(argv: list[str] | None = None) -> None:
    """CLI: serve a local transformers model."""
    ap = argparse.ArgumentParser(description="OpenAI-compatible server over a local HF model.")
    ap.add_argument("--model", required=True, help="model directory or hub name")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    ap.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass")
    ap.add_argument("--max-batch", type=int, default=64, help="requests per generate_batch call")
    ap.add_argument("--batch-wait-ms", type=float, default=20.0,
                    help="a request this soon after the previous one joins its batch")
    ap.add_argument("--max-batch-wait-ms", type=float, default=100.0,
                    help="longest time a batch keeps collecting requests")
    ap.add_argument("--served-model-name", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args(argv)
    from mimo.generate.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(args.model, device=args.device, dtype=args.dtype,
                                batch_size=args.batch_size)
    server = GenerationServer(gen, host=args.host, port=args.port,
                              served_model_name=args.served_model_name, max_batch=args.max_batch,
                              batch_wait_s=args.batch_wait_ms / 1000,
                              max_batch_wait_s=args.max_batch_wait_ms / 1000)
    server.start()
    print(f"serving {server.model_name!r} ({gen.describe()['device']}) at {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        gen.close()


if __name__ == "__main__":
    main()
