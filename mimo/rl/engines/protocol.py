"""What the engine pool and the engine processes share: the token, the rendezvous files.

Messages are pickled tuples over ``multiprocessing.connection`` (authenticated with
``MIMO_ENGINE_TOKEN``). Client to engine: ``("submit", handle, GenerationRequest)``,
``("abort", call, handle)``, ``("ping", call)``, ``("join", call, GroupAddress)``,
``("sync_check", call, spec)``, ``("sync_receive", call, version)``, ``("close",)``. Engine to client:
``("done", handle, GenerationResult, version_at_submit, version_now)``, ``("seq", running,
submits_seen)`` when a sequence ends, ``("reply", call, value, error)``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

TOKEN_ENV = "MIMO_ENGINE_TOKEN"


def auth_key() -> bytes:
    """The shared secret of a trainer and its engines; a clear error when it is not set."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(f"{TOKEN_ENV} is not set: the trainer and its rollout engines need the same token")
    return token.encode()


def ensure_token() -> str:
    """This process's token, made when missing (a local launch hands it to the engines it starts)."""
    if not os.environ.get(TOKEN_ENV):
        os.environ[TOKEN_ENV] = secrets.token_hex(16)
    return os.environ[TOKEN_ENV]


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)
