"""Content-addressed artifact directories: same content -> same directory (kept), new content -> a new
version beside it; a full disk mid-write publishes nothing and names the disk."""

import errno
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mimo.lake.catalog import ArtifactRecord, Catalog
from mimo.lake.storage import SUCCESS_MARKER, Lake, LakeWriteError


def _writer(values: list[int]):
    def write(tmp: str) -> int:
        pq.write_table(pa.table({"x": values}), f"{tmp}/part.parquet")
        return len(values)
    return write


def _entries(directory: str) -> list[str]:
    return sorted(os.listdir(directory))


def test_same_content_same_directory_new_content_new_version(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    config_dir = lake.artifact_dir("a", "p", "cfg")
    first = lake.publish(config_dir, _writer([1, 2]))
    assert first.path == lake.version_dir(config_dir, first.content_hash) and not first.reused
    assert first.result == 2 and lake.is_complete(first.path)
    with open(f"{first.path}/{SUCCESS_MARKER}") as fh:
        assert fh.read().strip() == first.content_hash
    mtime = os.stat(f"{first.path}/part.parquet").st_mtime_ns
    again = lake.publish(config_dir, _writer([1, 2]))
    assert (again.path, again.content_hash, again.reused) == (first.path, first.content_hash, True)
    assert os.stat(f"{first.path}/part.parquet").st_mtime_ns == mtime  # kept, not rewritten
    other = lake.publish(config_dir, _writer([3]))
    assert other.path != first.path and other.content_hash != first.content_hash
    assert lake.read_parquet(first.path)["x"].to_pylist() == [1, 2]  # the old version is untouched
    assert lake.content_hash(first.path) == first.content_hash
    assert _entries(config_dir) == sorted([os.path.basename(first.path), os.path.basename(other.path)])


def test_incomplete_leftover_at_the_version_path_is_replaced(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    config_dir = lake.artifact_dir("a", None, "cfg")
    done = lake.publish(config_dir, _writer([1]))
    os.remove(f"{done.path}/{SUCCESS_MARKER}")  # as if a crash hit between writing and marking
    with open(f"{done.path}/stray.txt", "w") as fh:
        fh.write("half")
    again = lake.publish(config_dir, _writer([1]))
    assert again.path == done.path and not again.reused and lake.is_complete(again.path)
    assert _entries(again.path) == [SUCCESS_MARKER, "part.parquet"]


def test_memory_filesystem_publish_writes_marker_last_and_reuses(tmp_path):
    lake = Lake("memory://mimo-versioned-test")
    config_dir = lake.artifact_dir("a", "p", "cfg")
    first = lake.publish(config_dir, lambda tmp: lake.write_parquet(pa.table({"x": [1]}), f"{tmp}/part.parquet"))
    assert first.path.startswith("memory://") and lake.is_complete(first.path)
    assert lake.read_parquet(first.path).num_rows == 1
    assert lake.publish(config_dir, lambda tmp: lake.write_parquet(pa.table({"x": [1]}), f"{tmp}/part.parquet")).reused
    assert not [p for p in lake.fs.ls(config_dir, detail=False) if ".tmp-" in p]


def test_full_disk_midway_publishes_nothing_and_keeps_the_previous_version(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    catalog = Catalog(str(tmp_path / "lake" / "_catalog" / "catalog.duckdb"))
    config_dir = lake.artifact_dir("a", "p", "cfg")
    good = lake.publish(config_dir, _writer([1, 2, 3]))
    good_id = catalog.record(ArtifactRecord(asset_key="a", partition="p", path=good.path,
                                            content_hash=good.content_hash, row_count=3))

    def fills_the_disk(tmp: str) -> None:
        lake.write_parquet(pa.table({"x": [9] * 100}), f"{tmp}/first.parquet")
        with open(f"{tmp}/second.parquet", "wb") as fh:
            fh.write(b"PAR1 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{tmp}/second.parquet")

    with pytest.raises(LakeWriteError, match="no space left on device") as info:
        lake.publish(config_dir, fills_the_disk)
    assert info.value.errno == errno.ENOSPC and config_dir in str(info.value) and "MiB free" in str(info.value)
    assert _entries(config_dir) == [os.path.basename(good.path)]  # no partial version, no temp dir
    assert lake.read_parquet(good.path)["x"].to_pylist() == [1, 2, 3]
    row = catalog.query("SELECT * FROM artifacts WHERE artifact_id = ?", [good_id])[0]
    assert row["path"] == good.path and lake.content_hash(row["path"]) == row["content_hash"]


def test_arrow_style_disk_full_error_is_recognised(tmp_path):
    lake = Lake(str(tmp_path / "lake"))

    def arrow_fails(tmp: str) -> None:
        raise pa.ArrowIOError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    with pytest.raises(LakeWriteError, match="no space left on device"):
        lake.publish(lake.artifact_dir("a", None, "cfg"), arrow_fails)
    assert _entries(lake.artifact_dir("a", None, "cfg")) == []


def test_other_writer_errors_pass_through_and_clean_up(tmp_path):
    lake = Lake(str(tmp_path / "lake"))

    def broken(tmp: str) -> None:
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        lake.publish(lake.artifact_dir("a", None, "cfg"), broken)
    assert _entries(lake.artifact_dir("a", None, "cfg")) == []


def test_latest_artifacts_counts_the_versions_of_one_config_once(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    catalog = Catalog(str(tmp_path / "cat.duckdb"))
    config_dir = lake.artifact_dir("a", "p", "cfg")
    ids = []
    for values in ([1], [2]):
        pub = lake.publish(config_dir, _writer(values))
        ids.append(catalog.record(ArtifactRecord(asset_key="a", partition="p", path=pub.path,
                                                 content_hash=pub.content_hash)))
    catalog.record(ArtifactRecord(asset_key="a", partition="p", path=lake.artifact_dir("a", "p", "cfg2") + "/x",
                                  content_hash="h"))  # another config: its own row in the view
    for k in range(2):  # rows that are not versions (e.g. corpus shards) keep one row per path
        catalog.record(ArtifactRecord(asset_key="a/shard", path=f"{config_dir}/shard-{k}.parquet", content_hash=f"s{k}"))
    latest = catalog.latest("a", "p")
    assert len(latest) == 2 and ids[1] in [r["artifact_id"] for r in latest] and ids[0] not in [r["artifact_id"] for r in latest]
    assert len(catalog.latest("a/shard")) == 2
    assert catalog.query("SELECT count(*) AS n FROM artifacts")[0]["n"] == 5  # every version stays catalogued


def test_parquet_parts_stream_into_one_lake_file(tmp_path):
    parts = []
    for k, n in enumerate((5, 0, 3000)):
        path = tmp_path / f"part-{k}.parquet"
        pq.write_table(pa.table({"i": pa.array(range(n), pa.int64()), "s": [f"{k}:{i}" for i in range(n)]}), path)
        parts.append(str(path))
    lake = Lake(str(tmp_path / "lake"))
    out = lake.write_parquet_parts(parts, f"{lake.root}/joined.parquet")
    table = lake.read_parquet(out)
    assert table.num_rows == 3005 and table["s"].to_pylist()[:6] == [f"0:{i}" for i in range(5)] + ["2:0"]
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # 5 rows, then 2048 + 952: a row group at a time
