"""A one-asset Dagster job around ``ckpt_job.py`` (local backend) for the live-job tests. Everything
comes from the environment, so a run worker in another process and a run in the test process
build the same spec: ``MIMO_TEST_JOB_NAME``, ``MIMO_TEST_JOB_ROOT``, ``MIMO_TEST_OUT``,
``MIMO_TEST_STEPS``, ``MIMO_TEST_STEP_S``, ``MIMO_TEST_WAIT_S``, ``MIMO_TEST_DAGSTER_HOME``.

``python -m tests.cluster.jobs.live_defs`` executes one plain run (no parent, no tags) and prints
``RESULT <json>`` with its success and materialization metadata.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from mimo.cluster import JobSpec
from resources.cluster import ClusterResource
from tests.cluster.jobs.cluster_asset import materialize_cluster_job

CKPT_JOB = str(Path(__file__).parent / "ckpt_job.py")


def job_spec() -> JobSpec:
    env = os.environ
    return JobSpec(name=env["MIMO_TEST_JOB_NAME"],
                   command=[sys.executable, CKPT_JOB, "--out", env["MIMO_TEST_OUT"], "--steps",
                            env.get("MIMO_TEST_STEPS", "20"), "--step-s", env.get("MIMO_TEST_STEP_S", "0.1")])


@dg.asset
def checkpoint(context: dg.AssetExecutionContext, cluster: ClusterResource) -> dg.MaterializeResult:
    return materialize_cluster_job(context, cluster, job_spec())


def training_job() -> dg.JobDefinition:
    resource = ClusterResource(backend="local", job_root=os.environ["MIMO_TEST_JOB_ROOT"], poll_interval_s=0.1,
                               message_grace_s=5.0, wait_for_live_job_s=float(os.environ.get("MIMO_TEST_WAIT_S", "60")),
                               wait_log_interval_s=1.0)
    defs = dg.Definitions(assets=[checkpoint], resources={"cluster": resource},
                          jobs=[dg.define_asset_job("training", executor_def=dg.in_process_executor)])
    return defs.resolve_job_def("training")


def instance() -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(os.environ["MIMO_TEST_DAGSTER_HOME"]))


def outcome(result: Any) -> dict[str, Any]:
    """Success, materialization metadata (plain values) and the step failure's description."""
    out: dict[str, Any] = {"run_id": result.run_id, "success": result.success, "metadata": {}, "failure": ""}
    for event in result.get_asset_materialization_events():
        out["metadata"] = {k: v.value for k, v in event.materialization.metadata.items()}
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        out["failure"] = (data.user_failure_data.description if data.user_failure_data else None) or (
            data.error.to_string() if data.error else "")
    return out


if __name__ == "__main__":  # a run worker: one plain run
    with instance() as inst:
        res = dg.execute_job(dg.reconstructable(training_job), inst, raise_on_error=False)
        print("RESULT " + json.dumps(outcome(res), default=str), flush=True)
