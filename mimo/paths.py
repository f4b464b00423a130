"""Where the project keeps things: repo root, ignored state directory, shared benchmarks."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """The ignored state directory (``MIMO_STATE_DIR``, default ``<repo>/.state``)."""
    return Path(os.environ.get("MIMO_STATE_DIR", REPO_ROOT / ".state")).resolve()


def shared_dir() -> Path:
    """The shared benchmarks/design directory (``MIMO_SHARED_DIR``, default ``<repo>/../shared``)."""
    return Path(os.environ.get("MIMO_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def expand(template: str) -> str:
    """Expand ``{state}``, ``{repo}`` and ``{shared}`` in a configured path."""
    return template.format(state=state_dir(), repo=REPO_ROOT, shared=shared_dir())


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The repo's current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def state_env(state: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running the pipeline with its state (lake, Dagster storage) in ``state``."""
    state = str(state)
    env = dict(os.environ if base is None else base)
    env.update(MIMO_STATE_DIR=state, DAGSTER_HOME=str(REPO_ROOT),
               MIMO_DAGSTER_STORAGE=f"{state}/dagster/storage", MIMO_DAGSTER_ARTIFACTS=f"{state}/dagster/artifacts",
               MIMO_DAGSTER_LOGS=f"{state}/dagster/logs")
    return env
