"""The asset body the cluster tests materialize: run a job spec through the real ClusterResource
and return what the job reported over Pipes, plus job facts."""

from typing import Any

import dagster as dg

from mimo.cluster import JobSpec
from resources.cluster import ClusterResource


def materialize_cluster_job(context: dg.AssetExecutionContext, cluster: ClusterResource, spec: JobSpec,
                            extras: dict[str, Any] | None = None,
                            metadata: dict[str, Any] | None = None) -> dg.MaterializeResult:
    """Run ``spec`` and return its materialization (the job's report, the number of custom messages,
    the last one as ``cluster/last_metrics``, plus ``metadata``)."""
    run = cluster.run(context, spec, extras)
    result = run.get_materialize_result()
    extra: dict[str, Any] = dict(metadata or {})
    messages = run.get_custom_messages()
    extra["cluster/custom_messages"] = len(messages)
    if messages and isinstance(messages[-1], dict):
        extra["cluster/last_metrics"] = dg.MetadataValue.json(messages[-1])
    return result._replace(metadata={**(result.metadata or {}), **extra})
