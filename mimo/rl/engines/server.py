"""A rollout engine process: ``python -m mimo.rl.engines.server --model DIR --rendezvous DIR --engine-id K``.

Loads the policy into a streaming generator (the in-flight transformers backend on CPU, vLLM's engine
on GPU), listens on a TCP port (``multiprocessing.connection``, authenticated with
``MIMO_ENGINE_TOKEN``) and announces itself by writing ``<rendezvous>/engine-K.json`` atomically.
One client (trainer rank 0's engine pool) drives it: ``submit``/``abort`` requests, results streamed
back as they finish, and two-phase weight syncs over the sync group (:mod:`.weight_sync`). Every
result carries the weight version it was generated with. The process exits when its client goes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from mimo.rl.engines.protocol import auth_key, write_json_atomic
from mimo.rl.engines.weight_sync import (
    GroupAddress,
    check_spec,
    open_group,
    receive_weights,
)


class EngineServer:
    """Serves one client connection over a streaming generator (module docstring)."""

    def __init__(self, generator: Any, engine_id: int, backend: str):
        self.gen, self.engine_id, self.backend = generator, engine_id, backend
        self.version = 0
        self.received = 0  # submits handled (the client counts rows not yet seen by the engine)
        self._handles: dict[str, tuple[str, int]] = {}  # client handle -> (generator handle, version at submit)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._group: Any = None
        self._pending_spec: Any = None
        self.conn: Connection | None = None

    def send(self, *message: Any) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, EOFError, BrokenPipeError):
            pass  # the client is gone; serve() ends on its own

    def _seq(self) -> None:
        self.send("seq", self.gen.running_sequences, self.received)

    def serve(self, conn: Connection) -> None:
        """Handle messages until the client closes the connection (or sends ``close``)."""
        self.conn = conn
        self.gen.on_sequence_finished = self._seq
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            kind, args = message[0], message[1:]
            if kind == "close":
                return
            handler = getattr(self, f"on_{kind}", None)
            if handler is None:
                self.send("reply", args[0] if args else None, None, f"unknown message {kind!r}")
                continue
            handler(*args)

    # ------------------------------------------------------------------ requests
    def on_submit(self, handle: str, request: Any) -> None:
        def done(result: Any, _now: float, handle: str = handle) -> None:
            with self._lock:
                entry = self._handles.pop(handle, None)
            if entry is not None:
                self.send("done", handle, result, entry[1], self.version)

        with self._lock:
            self.received += 1
            try:
                self._handles[handle] = (self.gen.submit(request, done), self.version)
            except Exception as e:  # noqa: BLE001 - a refused request fails alone
                from mimo.generate.base import GenerationResult

                self.send("done", handle, GenerationResult(request.request_id, [], f"{type(e).__name__}: {e}"),
                          self.version, self.version)

    def on_abort(self, call: int, handle: str) -> None:
        with self._lock:
            entry = self._handles.pop(handle, None)
        ok = entry is not None and self.gen.abort(entry[0])
        self.send("reply", call, ok, None)

    def on_ping(self, call: int) -> None:
        self.send("reply", call, {"engine_id": self.engine_id, "version": self.version, "pid": os.getpid(),
                                  "max_sequences": self.gen.max_sequences, "backend": self.backend}, None)

    # ------------------------------------------------------------------ weight sync
    def on_join(self, call: int, addr: GroupAddress) -> None:
        try:
            self._group = open_group(addr)
            self.send("reply", call, True, None)
        except Exception as e:  # noqa: BLE001
            self.send("reply", call, None, f"engine {self.engine_id} could not join the sync group: {e}")

    def on_sync_check(self, call: int, spec: Any) -> None:
        # vLLM holds no torch module here: its load_weights checks names when the weights arrive
        problem = None if self.backend == "vllm" else check_spec(spec, self._targets())
        self._pending_spec = None if problem else spec
        self.send("reply", call, problem is None, problem and f"engine {self.engine_id}: {problem}")

    def on_sync_receive(self, call: int, version: int) -> None:
        t0 = time.perf_counter()
        try:
            weights = receive_weights(self._group, self._pending_spec)
            if self.backend == "vllm":
                self.gen.update_weights(weights)
            else:
                targets = self._targets()
                with self.gen.paused():  # between two decode steps
                    for name, tensor in weights.items():
                        targets[name].copy_(tensor)
            self.version = version
            self.send("reply", call, round(time.perf_counter() - t0, 4), None)
        except Exception as e:  # noqa: BLE001
            self.send("reply", call, None, f"engine {self.engine_id}: weight sync failed: {type(e).__name__}: {e}")

    def _targets(self) -> dict[str, Any]:
        model = self.gen.hf_model
        return {k: v for k, v in model.state_dict().items() if ".mtp_layers." not in k}


def build_generator(args: argparse.Namespace) -> Any:
    from mimo.generate.base import SamplingParams

    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    if args.backend == "vllm":
        from mimo.generate.vllm_streaming import VLLMStreamingGenerator

        return VLLMStreamingGenerator(args.model, max_sequences=args.max_sequences, **json.loads(args.vllm or "{}"))
    from mimo.generate.inflight_backend import InflightTransformersGenerator

    return InflightTransformersGenerator(args.model, sampling=sampling, max_sequences=args.max_sequences)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rendezvous", default=os.environ.get("MIMO_COMPANION_DIR"),
                        help="directory where the engine announces its address (default: the job's companion directory)")
    parser.add_argument("--engine-id", type=int,
                        default=int(os.environ.get("MIMO_TASK_ID", os.environ.get("SLURM_PROCID", "0"))))
    parser.add_argument("--backend", choices=("inflight", "vllm"), default="inflight")
    parser.add_argument("--max-sequences", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--host", default="", help="address to listen on (default: this host's name)")
    parser.add_argument("--vllm", default="", help="vLLM engine arguments as JSON")
    args = parser.parse_args(argv)
    if not args.rendezvous:
        parser.error("--rendezvous is required outside a cluster job (no MIMO_COMPANION_DIR)")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        key = auth_key()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    generator = build_generator(args)
    host = args.host or socket.gethostname()
    with Listener((host if args.host else "", 0), authkey=key) as listener:
        port = listener.address[1]
        write_json_atomic(Path(args.rendezvous) / f"engine-{args.engine_id}.json",
                          {"engine_id": args.engine_id, "host": host, "port": port, "pid": os.getpid(),
                           "max_sequences": args.max_sequences, "backend": args.backend})
        print(f"rollout engine {args.engine_id} listening on {host}:{port}", flush=True)
        conn = listener.accept()
    server = EngineServer(generator, args.engine_id, args.backend)
    try:
        server.serve(conn)
    finally:
        generator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
