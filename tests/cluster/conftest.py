"""Fixtures for the cluster tests: a real single-node Slurm (started once per session by
``scripts/slurm-local-setup.sh``), a per-test job root, and a factory of test assets."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mimo.cluster import JobSpec
from resources.cluster import ClusterResource
from tests.cluster.jobs.cluster_asset import materialize_cluster_job

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "slurm-local-setup.sh"
JOB_SCRIPT = str(Path(__file__).parent / "jobs" / "pipes_job.py")


def _slurm_up() -> bool:
    if not shutil.which("scontrol"):
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    return "is UP" in ping.stdout


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A running single-node Slurm. As root it is installed/started (idempotent); otherwise an
    already running one is used, or the test is skipped with the reason."""
    if os.geteuid() != 0:
        if not _slurm_up():
            pytest.skip("Slurm is not running and starting it needs root: sudo bash scripts/slurm-local-setup.sh")
        return
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/slurm-local-setup.sh failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"slurm ready in {time.monotonic() - t0:.1f}s")


@pytest.fixture
def job_root(tmp_path: Path) -> str:
    return str(tmp_path / "jobs")


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def pipes_job_spec(name: str, *args: str, **kw: Any) -> JobSpec:
    """The test job (tests/cluster/jobs/pipes_job.py) run by the project's interpreter."""
    return JobSpec(name=name, command=[sys.executable, JOB_SCRIPT, *args], **kw)


def job_dirs(job_root: str, name: str) -> list[str]:
    """The job directories submitted under ``name`` (not the live-job record or its lock)."""
    base = os.path.join(job_root, name)
    return sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))


def cluster(backend: str, job_root: str, **kw: Any) -> ClusterResource:
    kw.setdefault("poll_interval_s", 0.2)
    kw.setdefault("message_grace_s", 5.0)
    return ClusterResource(backend=backend, job_root=job_root, **kw)


def training_asset(spec: JobSpec, extras: dict[str, Any] | None = None) -> dg.AssetsDefinition:
    """A checkpoint-like asset whose body runs ``spec`` through the cluster resource."""

    @dg.asset(name="checkpoint")
    def _asset(context: dg.AssetExecutionContext, cluster: ClusterResource) -> dg.MaterializeResult:
        return materialize_cluster_job(context, cluster, spec, extras=extras, metadata={"spec_name": spec.name})

    return _asset


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    """The description of the (single) step failure of a run."""
    events = result.get_step_failure_events()
    assert events, "the run did not fail"
    data = events[0].step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    return data.error.to_string() if data.error else ""


def run_logs(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, str]]:
    """(timestamp, message) of the user log messages of a run, in order."""
    return [(e.timestamp, e.user_message) for e in instance.all_logs(run_id) if e.user_message]
