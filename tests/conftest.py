"""Shared fixtures: paths to ../shared and a small real crawl."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "benchmarks").exists():
        pytest.fail(f"../shared/benchmarks not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_crawl_dir(tmp_path_factory, shared_dir) -> Path:
    from mimo.data.tiny_crawl import build_tiny_crawl

    out = tmp_path_factory.mktemp("crawl")
    build_tiny_crawl(str(out), str(shared_dir))
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The README run command's code path on the tiny-ci profile (tiny with fewer post-training
    steps), once per session, in its own state dir: (state dir, env, stdout). Shared by the
    end-to-end test and the browser test of the UI."""
    from mimo.paths import state_env

    state = tmp_path_factory.mktemp("state")
    env = dict(state_env(state), MIMO_PROFILE="tiny-ci")
    proc = subprocess.run([sys.executable, "-m", "pipelines.run"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=2700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return state, env, proc.stdout
