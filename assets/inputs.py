"""How an asset finds its inputs: the upstream artifact Dagster records as the step's input,
refused when a blocking check failed on it; and registering an artifact made outside a run."""

from typing import Any

import dagster as dg

from mimo.lake.catalog import ArtifactRecord, missing_artifact_path
from resources.lake import LakeResource


def upstream_artifact(context: Any, lake_res: LakeResource, asset: str, partition: str | None = None,
                      required: bool = True) -> dict[str, Any] | None:
    """The catalog row of the upstream artifact that Dagster records as this step's input.

    That is the upstream's latest materialization in the Dagster instance (the event Dagster's
    input data version points at), resolved through its ``artifact_id`` metadata; so the UI's
    lineage and the catalog's ``upstream_ids`` name the same artifact. A materialization whose
    blocking check failed is refused, whichever run or launch path produced it.
    """
    where = f"{asset}" + (f" partition {partition!r}" if partition else "")
    if required:
        _assert_declared(context, asset)
    record = _latest_materialization(context.instance, asset, partition)
    if record is None:
        if not required:
            return None
        raise dg.Failure(f"{where} has no materialization in this Dagster instance "
                         f"({context.instance.root_directory}); materialize it first")
    failed = failed_blocking_checks(context, asset, record.storage_id)
    if failed:
        raise dg.Failure(f"{where}: its latest materialization failed blocking check(s) {', '.join(failed)}; "
                         f"fix the cause and rematerialize {asset} before its consumers run",
                         metadata={"failed_checks": failed, "upstream_asset": asset})
    value = record.asset_materialization.metadata.get("artifact_id")
    artifact_id = getattr(value, "value", value)
    rows = lake_res.catalog().query("SELECT * FROM artifacts WHERE artifact_id = ?", [artifact_id]) \
        if artifact_id else []
    if not rows:
        raise dg.Failure(f"{where}: Dagster's latest materialization names artifact {artifact_id!r}, which is not "
                         f"in the catalog {lake_res.catalog().path}; DAGSTER_HOME and MIMO_STATE_DIR must point "
                         "at the same state (source scripts/env.sh)")
    _assert_present(rows[0], asset, partition)
    return rows[0]


def _assert_present(row: dict[str, Any], asset: str, partition: str | None) -> None:
    """Fail clearly when the catalog row's directory is gone (deleted or moved by hand)."""
    problem = missing_artifact_path(row["path"])
    if problem is None:
        return
    rerun = f"python -m pipelines.run --asset {asset}" + (f" --partition {partition}" if partition else "")
    where = f"{asset}" + (f" partition {partition!r}" if partition else "")
    raise dg.Failure(f"{where}: catalog artifact {row['artifact_id']} points at {row['path']}, which {problem}; "
                     f"rematerialize {asset} to write it again (e.g. `{rerun}`, or from the UI)",
                     metadata={"upstream_asset": asset, "artifact_id": row["artifact_id"], "missing_path": row["path"]})


def register_artifact(instance: dg.DagsterInstance, lake_res: LakeResource, rec: ArtifactRecord) -> str:
    """Catalog an artifact made outside a run (an imported checkpoint or dataset) and report it to
    Dagster as a materialization of its asset, so consumers resolve it like any other input."""
    artifact_id = lake_res.catalog().record(rec)
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=rec.asset_key, partition=rec.partition,
        metadata={"artifact_id": artifact_id, "path": dg.MetadataValue.path(rec.path),
                  "content_hash": rec.content_hash, "registered": True}))
    return artifact_id


def _assert_declared(context: Any, asset: str) -> None:
    """An asset reads only the upstream assets it declares, so Dagster's lineage is complete."""
    if not getattr(context, "has_assets_def", False) or not hasattr(context, "asset_key"):
        return  # asset checks read their own asset
    deps = {k.to_user_string() for k in context.assets_def.asset_deps.get(context.asset_key, ())}
    if asset not in deps:
        raise dg.DagsterInvariantViolationError(
            f"{context.asset_key.to_user_string()} reads {asset} without declaring it as a dependency")


def _latest_materialization(instance: dg.DagsterInstance, asset: str, partition: str | None) -> Any:
    """The newest materialization event record of an asset (partition), or None."""
    records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                                           asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(records_filter, limit=1).records
    return records[0] if records else None


def _asset_graph(context: Any) -> Any:
    """The code location's asset graph (the job's, for a job built outside a code location)."""
    try:
        return context.repository_def.asset_graph
    except dg.DagsterInvariantViolationError:
        return context.job_def.asset_layer.asset_graph
    except Exception as exc:  # dagster raises a CheckError when the step has no repository
        if "repository" not in str(exc):
            raise
        return context.job_def.asset_layer.asset_graph


def failed_blocking_checks(context: Any, asset: str, storage_id: int) -> list[str]:
    """Names of the blocking (error-severity) checks of ``asset`` that failed on the materialization
    with ``storage_id``."""
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus,
    )

    key = dg.AssetKey(asset)
    check_keys = [k for k in _asset_graph(context).asset_check_keys if k.asset_key == key]
    if not check_keys:
        return []
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    failed = []
    for check_key, rec in latest.items():
        evaluation = rec.event.asset_check_evaluation if rec.event is not None else None
        if rec.status != AssetCheckExecutionRecordStatus.FAILED or evaluation is None:
            continue
        target = evaluation.target_materialization_data
        if (evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR
                and (target is None or target.storage_id == storage_id)):
            failed.append(check_key.name)
    return sorted(failed)


def corpus_rows(context: Any, lake_res: LakeResource,
                columns: list[str] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All documents of the input ``filtered_corpus`` (every shard) and its catalog row."""
    art = upstream_artifact(context, lake_res, "filtered_corpus")
    lake = lake_res.lake()
    shards = sorted(p for p in lake.fs.ls(art["path"], detail=False) if p.endswith(".parquet"))
    return [r for s in shards for r in lake.read_parquet(s, columns=columns).to_pylist()], art
