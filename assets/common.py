"""Shared plumbing for assets: write one artifact atomically, catalog it, describe it to Dagster."""


import json
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import psutil

from mimo.lake.catalog import ArtifactRecord
from mimo.lake.storage import LakeWriteError, config_hash
from mimo.paths import git_commit
from resources.lake import LakeResource


@dataclass
class WriteStats:
    """What an artifact writer reports back."""

    row_count: int | None = None
    token_count: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


class MemoryMeter:
    """Samples the resident memory of this process plus its child processes (the extraction
    workers) in a background thread, so each stage reports its own peak even when several
    stages share one process."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.start_mb = self.peak_mb = self._tree_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree_rss_mb() -> float:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, self._tree_rss_mb())

    def stop(self) -> dict[str, float]:
        """Stop sampling; the stage's start and peak RSS in MiB."""
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._tree_rss_mb())
        return {"rss_at_start_mb": round(self.start_mb, 1), "peak_rss_mb": round(self.peak_mb, 1)}


def timing_summary(values: Iterable[float], prefix: str, digits: int = 2) -> dict[str, float]:
    """Mean, p50, p95 and max of per-item timings as flat metadata (``<prefix>_mean`` ...); timings
    go to metadata, never into an artifact's files, so content hashes depend on content only."""
    data = sorted(float(v) for v in values if v is not None and math.isfinite(v))
    if not data:
        return {}

    def pct(q: float) -> float:
        return data[min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))]

    return {f"{prefix}_mean": round(sum(data) / len(data), digits), f"{prefix}_p50": round(pct(0.5), digits),
            f"{prefix}_p95": round(pct(0.95), digits), f"{prefix}_max": round(data[-1], digits)}


def _md(value: Any) -> Any:
    """Dagster metadata value for plain Python values."""
    if isinstance(value, (dict, list)):
        return dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    return dg.MetadataValue.text(str(value))


def _catalog_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Plain values for the catalog: Dagster metadata values unwrapped, inline images dropped."""
    out = {}
    for k, v in metadata.items():
        if isinstance(v, dg.MetadataValue):
            if isinstance(v, dg.MarkdownMetadataValue) and "data:image" in (v.value or ""):
                continue
            v = v.value
        out[k] = v
    return out


def write_artifact(
    context: dg.AssetExecutionContext,
    lake_res: LakeResource,
    config: dict[str, Any],
    writer: Callable[[str], WriteStats],
    upstream_ids: Sequence[str] = (),
    partition: str | None = None,
    asset_name: str | None = None,
    meter: MemoryMeter | None = None,
) -> dg.MaterializeResult:
    """Run ``writer(tmp_dir)``, publish the result content-addressed, catalog it.

    The directory is ``<lake>/<asset>/<partition>/<config hash>/<content hash[:12]>/``: the same
    inputs and config give the same directory (an identical earlier version is kept, and its
    catalog row refreshed rather than duplicated); the content hash becomes the Dagster data
    version; the catalog row links the upstream artifacts. Timings belong in ``WriteStats.metadata``.
    """
    lake = lake_res.lake()
    asset = asset_name or context.asset_key.to_user_string()
    cfg_hash = config_hash(config)
    try:
        published = lake.publish(lake.artifact_dir(asset, partition, cfg_hash), writer)
    except LakeWriteError as exc:
        where = f"{asset}" + (f" [{partition}]" if partition else "")
        raise dg.Failure(f"{where}: {exc.strerror or exc}", metadata={"asset": asset, "errno": exc.errno}) from exc
    stats, final, digest = published.result, published.path, published.content_hash
    if meter is not None:
        stats.metadata.update(meter.stop())
    code_version = context.assets_def.code_versions_by_key.get(context.asset_key) if context.has_assets_def else None
    rec = ArtifactRecord(
        asset_key=asset, path=final, content_hash=digest, partition=partition,
        config_hash=cfg_hash, config=config, code_version=code_version, git_commit=git_commit(),
        run_id=context.run.run_id, row_count=stats.row_count, token_count=stats.token_count,
        byte_size=sum(lake.fs.size(f) for f in lake.fs.find(final)),
        metadata=_catalog_metadata(stats.metadata), upstream_ids=list(upstream_ids),
    )
    artifact_id = lake_res.catalog().record(rec)
    if published.reused:
        context.log.info(f"{asset}: same content as the existing version {final}; kept it")
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(final),
        "artifact_id": artifact_id,
        "content_hash": digest,
        "config_hash": cfg_hash,
        "config": config,
        "upstream_artifacts": list(upstream_ids),
        "git_commit": git_commit(),
        "reused_existing_version": published.reused,
    }
    if stats.row_count is not None:
        metadata["dagster/row_count"] = stats.row_count
    if stats.token_count is not None:
        metadata["token_count"] = stats.token_count
    metadata.update(stats.metadata)
    return dg.MaterializeResult(
        metadata={k: v if isinstance(v, dg.MetadataValue) else _md(v) for k, v in metadata.items()},
        data_version=dg.DataVersion(digest[:16]),
    )
