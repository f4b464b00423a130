"""A one-asset training job for tests that need a Dagster run in another process (a run worker
that crashes or is cancelled). The spec comes from the environment, so the crashed run and its
re-execution build the same spec (same fingerprint)."""

import os
import sys
from pathlib import Path

import dagster as dg

from mimo.cluster import JobSpec
from resources.cluster import ClusterResource
from tests.cluster.jobs.cluster_asset import materialize_cluster_job

JOB_SCRIPT = str(Path(__file__).parent / "pipes_job.py")


def job_spec() -> JobSpec:
    return JobSpec(name=os.environ["MIMO_TEST_JOB_NAME"],
                   command=[sys.executable, JOB_SCRIPT, "--steps", os.environ.get("MIMO_TEST_STEPS", "10"),
                            "--step-s", os.environ.get("MIMO_TEST_STEP_S", "0.4")])


@dg.asset
def checkpoint(context: dg.AssetExecutionContext, cluster: ClusterResource) -> dg.MaterializeResult:
    return materialize_cluster_job(context, cluster, job_spec())


def training_job() -> dg.JobDefinition:
    resource = ClusterResource(backend=os.environ.get("MIMO_TEST_BACKEND", "slurm"),
                               job_root=os.environ["MIMO_TEST_JOB_ROOT"], poll_interval_s=0.2, message_grace_s=5.0)
    defs = dg.Definitions(assets=[checkpoint], resources={"cluster": resource},
                          jobs=[dg.define_asset_job("training", executor_def=dg.in_process_executor)])
    return defs.resolve_job_def("training")


def instance() -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(os.environ["MIMO_TEST_DAGSTER_HOME"]))


if __name__ == "__main__":  # the run worker of the tests: execute the job once
    with instance() as inst:
        result = dg.execute_job(dg.reconstructable(training_job), inst)
        print("run finished", result.run_id, result.success, flush=True)
