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
    """The README's main command on the default profile, finished: (state dir, env, its output).

    CI runs the README command first and points ``MIMO_TEST_FINISHED_STATE`` (and
    ``MIMO_TEST_FINISHED_LOG``, its output) at that state, which the tests then read; without them the
    fixture runs the same command's code path once per session in its own state dir. Tests that
    write (new materializations, launched runs) use ``finished_state_copy`` instead."""
    from mimo.paths import state_env

    finished = os.environ.get("MIMO_TEST_FINISHED_STATE")
    if finished:
        state = Path(finished)
        log = Path(os.environ.get("MIMO_TEST_FINISHED_LOG", state / "readme-run.log"))
        out = log.read_text() if log.exists() else ""
        assert "[mimo] evaluation report:" in out, f"{log} does not show a finished run of the README command"
        return state, state_env(state), out
    state = tmp_path_factory.mktemp("state")
    env = state_env(state)
    env.pop("MIMO_PROFILE", None)  # the default profile, as the README runs it
    proc = subprocess.run([sys.executable, "-m", "pipelines.run"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=2700)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return state, env, proc.stdout


@pytest.fixture
def finished_state_copy(tiny_run, tmp_path):
    """A writable copy of the finished run's Dagster storage and catalog (its artifacts stay where
    they are and are only read): (state dir, env). New artifacts land in the copy's lake."""
    import shutil

    from mimo.paths import state_env

    state, _, _ = tiny_run
    copy = tmp_path / "state"
    shutil.copytree(state / "dagster" / "storage", copy / "dagster" / "storage")
    shutil.copytree(state / "lake" / "_catalog", copy / "lake" / "_catalog")
    if (state / "crawl-input").exists():
        shutil.copytree(state / "crawl-input", copy / "crawl-input")
    for sub in ("artifacts", "logs"):
        (copy / "dagster" / sub).mkdir(parents=True, exist_ok=True)
    env = state_env(copy)
    env.pop("MIMO_PROFILE", None)
    return copy, env
