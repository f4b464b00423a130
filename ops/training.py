"""Ops that submit, watch and collect a cluster job (for graph-backed checkpoint assets), and a
one-call helper for plain ``@asset`` bodies.

Graph-backed (``dg.graph_asset``): three steps, so a run re-executed *from failure* after the run
worker died re-runs only ``watch`` with the job handle ``submit`` stored, and the UI shows the
queue time (submit → start of watch) apart from the training time::

    @dg.graph_asset
    def pretrain_stage1():
        return submit_watch_collect(pretrain_stage1_spec())   # spec op: yours, returns a JobSpec

Plain asset (one step; reattach goes through the run tags)::

    @dg.asset
    def pretrain_stage1(context, cluster: ClusterResource):
        return materialize_cluster_job(context, cluster, spec, metadata={"path": ckpt_dir})
"""


from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from mimo.cluster import JobHandle, JobSpec
from resources.cluster import ClusterResource, ClusterRun


@dataclass
class SubmittedJob:
    """Output of :func:`submit_cluster_job`."""

    handle: JobHandle
    reattached: bool = False


@dataclass
class JobOutcome:
    """Output of :func:`watch_cluster_job`: how the job ended and what it reported through Pipes
    (metadata values as plain Python values, so the outcome pickles through any IO manager)."""

    handle: JobHandle
    state: str
    exit_code: str | None
    reattached: bool
    custom_messages: list[Any] = field(default_factory=list)
    materializations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_metrics(self) -> Any:
        return self.custom_messages[-1] if self.custom_messages else None

    @property
    def data_version(self) -> str | None:
        versions = [m["data_version"] for m in self.materializations if m.get("data_version")]
        return versions[-1] if versions else None


def outcome_of(run: ClusterRun) -> JobOutcome:
    """A :class:`ClusterRun` as plain data."""
    assert run.handle is not None and run.status is not None
    mats = []
    for r in run.get_reported_results():
        if isinstance(r, dg.MaterializeResult):
            mats.append({"asset_key": r.asset_key.to_user_string() if r.asset_key else None,
                         "metadata": {k: v.value if isinstance(v, dg.MetadataValue) else v
                                      for k, v in (r.metadata or {}).items()},
                         "data_version": r.data_version.value if r.data_version else None})
    return JobOutcome(run.handle, run.status.state, run.status.exit_code, run.reattached,
                      list(run.get_custom_messages()), mats)


def _job_metadata(outcome: JobOutcome) -> dict[str, Any]:
    md: dict[str, Any] = {"cluster/backend": outcome.handle.backend, "cluster/job_id": outcome.handle.job_id,
                          "cluster/job_dir": dg.MetadataValue.path(outcome.handle.job_dir),
                          "cluster/state": outcome.state, "cluster/reattached": outcome.reattached,
                          "cluster/custom_messages": len(outcome.custom_messages)}
    if isinstance(outcome.last_metrics, dict):
        md["cluster/last_metrics"] = dg.MetadataValue.json(outcome.last_metrics)
    return md


@dg.op(description="Submit a cluster job (or reattach to the one recorded in the run tags).")
def submit_cluster_job(context: dg.OpExecutionContext, cluster: ClusterResource, spec: JobSpec) -> SubmittedJob:
    handle, reattached = cluster.submit(context, spec)
    return SubmittedJob(handle, reattached)


@dg.op(description="Stream the job's Pipes messages until it ends; cancel it if the run is cancelled.")
def watch_cluster_job(context: dg.OpExecutionContext, cluster: ClusterResource, job: SubmittedJob) -> JobOutcome:
    return outcome_of(cluster.watch(context, job.handle, job.reattached))


@dg.op(description="Turn a finished job into the asset's output: what it reported plus job facts.")
def collect_cluster_job(context: dg.OpExecutionContext, outcome: JobOutcome) -> dg.Output[dict[str, Any]]:
    reported: dict[str, Any] = {}
    for m in outcome.materializations:
        reported.update(m["metadata"])
    summary = {"job_id": outcome.handle.job_id, "job_dir": outcome.handle.job_dir, "state": outcome.state,
               "reported": reported, "last_metrics": outcome.last_metrics}
    context.log.info(f"{outcome.handle.name}: {outcome.state}, reported {sorted(reported)}")
    version = outcome.data_version
    return dg.Output(summary, metadata={**reported, **_job_metadata(outcome)},
                     data_version=dg.DataVersion(version) if version else None)


def submit_watch_collect(spec: Any) -> Any:
    """Compose the three ops inside a ``@dg.graph`` / ``@dg.graph_asset`` body."""
    return collect_cluster_job(watch_cluster_job(submit_cluster_job(spec)))


def materialize_cluster_job(context: dg.AssetExecutionContext, cluster: ClusterResource, spec: JobSpec,
                            extras: dict[str, Any] | None = None,
                            metadata: dict[str, Any] | None = None) -> dg.MaterializeResult:
    """Run ``spec`` on the cluster from a plain ``@asset`` body and return its materialization
    (what the job reported, job facts, the last custom message as ``cluster/last_metrics``, plus
    ``metadata``)."""
    run = cluster.run(context, spec, extras)
    result = run.get_materialize_result()
    extra: dict[str, Any] = dict(metadata or {})
    messages = run.get_custom_messages()
    extra["cluster/custom_messages"] = len(messages)
    if messages and isinstance(messages[-1], dict):
        extra["cluster/last_metrics"] = dg.MetadataValue.json(messages[-1])
    return result._replace(metadata={**(result.metadata or {}), **extra})
