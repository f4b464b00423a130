"""Bad input around artifacts, through Dagster: a full disk while an asset writes fails clearly and
leaves the previous artifact usable; a catalog row whose directory is gone fails its consumer with a
message naming the asset, the artifact and the path, and how to fix it; an identical rerun adds no row."""

import errno
import os
import shutil

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.common import WriteStats, write_artifact
from assets.inputs import upstream_artifact
from resources.lake import LakeResource


class SourceConfig(dg.Config):
    values: list[int] = [1, 2, 3]  # noqa: RUF012 - dagster config default
    fill_disk: bool = False


@dg.asset
def source(context: dg.AssetExecutionContext, config: SourceConfig, lake: LakeResource) -> dg.MaterializeResult:
    def write(tmp: str) -> WriteStats:
        pq.write_table(pa.table({"x": config.values}), f"{tmp}/part.parquet")
        if config.fill_disk:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{tmp}/more.parquet")
        return WriteStats(row_count=len(config.values))

    return write_artifact(context, lake, {"values": config.values}, write)


@dg.asset(deps=[source])
def consumer(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    row = upstream_artifact(context, lake, "source")
    table = pq.read_table(f"{row['path']}/part.parquet")

    def write(tmp: str) -> WriteStats:
        pq.write_table(table, f"{tmp}/copy.parquet")
        return WriteStats(row_count=table.num_rows)

    return write_artifact(context, lake, {}, write, upstream_ids=[row["artifact_id"]])


@pytest.fixture
def env(tmp_path):
    with dg.instance_for_test() as instance:
        yield instance, LakeResource(root=str(tmp_path / "lake"))


def _run(env, assets, **source_config):
    instance, lake = env
    run_config = {"ops": {"source": {"config": source_config}}} if source_config else None
    return dg.materialize(assets, resources={"lake": lake}, instance=instance, raise_on_error=False,
                          run_config=run_config)


def _meta(result, asset):
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def _data_version(result, asset) -> str:
    return result.asset_materializations_for_node(asset)[0].tags["dagster/data_version"]


def _rows(lake: LakeResource) -> int:
    return lake.catalog().query("SELECT count(*) AS n FROM artifacts")[0]["n"]


def test_identical_rerun_same_path_same_version_no_new_row(env):
    first = _run(env, [source, consumer])
    assert first.success
    before = {a: _meta(first, a) for a in ("source", "consumer")}
    rows = _rows(env[1])
    again = _run(env, [source, consumer])
    assert again.success
    for asset in ("source", "consumer"):
        meta = _meta(again, asset)
        assert (meta["path"], meta["content_hash"], meta["artifact_id"]) == \
            (before[asset]["path"], before[asset]["content_hash"], before[asset]["artifact_id"])
        assert meta["reused_existing_version"] is True
        assert _data_version(again, asset) == _data_version(first, asset) == meta["content_hash"][:16]
    assert _rows(env[1]) == rows


def test_full_disk_fails_clearly_and_the_previous_artifact_still_reads(env):
    lake = env[1]
    good = _run(env, [source])
    assert good.success
    good_meta = _meta(good, "source")
    failed = _run(env, [source], values=[7, 8], fill_disk=True)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert "no space left on device" in message and "source" in message
    config_dir = os.path.dirname(good_meta["path"])
    leftovers = [p for root in (config_dir, os.path.dirname(config_dir)) for p in os.listdir(root) if ".tmp-" in p]
    assert not leftovers
    # Dagster's latest materialization is still the good one, and a consumer reads it
    downstream = _run(env, [consumer])
    assert downstream.success
    assert _meta(downstream, "consumer")["upstream_artifacts"] == [good_meta["artifact_id"]]
    row = lake.catalog().query("SELECT * FROM artifacts WHERE artifact_id = ?", [good_meta["artifact_id"]])[0]
    assert lake.lake().content_hash(row["path"]) == row["content_hash"]


def test_missing_upstream_directory_names_asset_artifact_path_and_fix(env):
    assert _run(env, [source]).success
    meta = _meta(_run(env, [source]), "source")
    shutil.rmtree(meta["path"])
    result = _run(env, [consumer])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert meta["artifact_id"] in message and meta["path"] in message
    assert "no longer exists" in message and "rematerialize source" in message
    assert "FileNotFoundError" not in message
    assert _run(env, [source]).success and _run(env, [consumer]).success  # the fix works
