"""Shared fixtures: paths to ../shared and a small real crawl."""

import os
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
