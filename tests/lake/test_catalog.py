import duckdb
import pyarrow as pa
import pytest

from mimo.lake.catalog import ArtifactRecord, Catalog
from mimo.lake.storage import Lake, config_hash, safe_component


def test_paths_are_deterministic_and_config_hash_is_order_free(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    h = config_hash({"b": 1, "a": [1, 2]})
    assert h == config_hash({"a": [1, 2], "b": 1}) != config_hash({"a": [1, 2], "b": 2})
    assert lake.artifact_dir("x", "dump,1.warc", h) == lake.artifact_dir("x", "dump,1.warc", h)
    assert lake.artifact_dir("x", None, h).endswith(f"/x/_all/{h}")
    with pytest.raises(ValueError):
        safe_component("///")


def test_atomic_dir_leaves_nothing_on_failure_and_replaces_on_success(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    final = lake.artifact_dir("a", None, "h1")
    with pytest.raises(RuntimeError):
        with lake.atomic_dir(final) as tmp:
            lake.write_parquet(pa.table({"x": [1]}), f"{tmp}/part.parquet")
            raise RuntimeError("writer died")
    assert not lake.fs.exists(final)
    assert not list((tmp_path / "lake" / "a" / "_all").iterdir())  # no temp leftovers
    for value in (1, 2):
        with lake.atomic_dir(final) as tmp:
            lake.write_parquet(pa.table({"x": [value]}), f"{tmp}/part.parquet")
    assert lake.is_complete(final)
    assert lake.read_parquet(final)["x"].to_pylist() == [2]
    assert lake.content_hash(final) == lake.content_hash(final)


def test_memory_filesystem_lake_works_through_fsspec():
    lake = Lake("memory://mimo-test-lake")
    assert not lake.is_local
    final = lake.artifact_dir("a", "p", "h")
    with lake.atomic_dir(final) as tmp:
        lake.write_parquet(pa.table({"x": [1, 2]}), f"{tmp}/part.parquet")
    assert lake.is_complete(final)
    assert lake.read_parquet(final).num_rows == 2


def _rec(asset, path, content, partition=None, upstream=()):
    return ArtifactRecord(asset_key=asset, path=path, content_hash=content, partition=partition,
                          config_hash="c", row_count=3, token_count=30, upstream_ids=list(upstream))


def test_catalog_records_lineage_and_is_plain_sql(tmp_path):
    cat = Catalog(str(tmp_path / "cat.duckdb"))
    crawl = [cat.record(_rec("crawl_warc", f"/l/crawl/{k}", f"h{k}", partition=k)) for k in ("d0", "d1", "d2")]
    ext = [cat.record(_rec("extracted_pages", f"/l/ext/{k}", f"e{k}", partition=k, upstream=[c]))
           for k, c in zip(("d0", "d1", "d2"), crawl)]
    dedup = cat.record(_rec("deduplicated_pages", "/l/dedup", "x", upstream=ext))
    shard = cat.record(_rec("filtered_corpus/shard", "/l/corpus/shard-00000.parquet", "s", upstream=[dedup, crawl[1]]))
    # idempotent: recording the same artifact again keeps one row
    assert cat.record(_rec("deduplicated_pages", "/l/dedup", "x", upstream=ext)) == dedup
    assert cat.query("SELECT count(*) AS n FROM artifacts WHERE asset_key = 'deduplicated_pages'")[0]["n"] == 1
    lineage = cat.lineage(shard)
    assert {r["partition"] for r in lineage if r["asset_key"] == "crawl_warc"} == {"d0", "d1", "d2"}
    assert min(r["depth"] for r in lineage if r["asset_key"] == "crawl_warc") == 1  # direct input of the shard
    assert cat.find("shard-00000.parquet")["artifact_id"] == shard
    con = duckdb.connect(cat.path, read_only=True)  # users query it with plain SQL
    assert con.execute("SELECT count(*) FROM artifact_inputs").fetchone()[0] == 3 + 3 + 2
    con.close()


def test_latest_prefers_newest(tmp_path):
    cat = Catalog(str(tmp_path / "cat.duckdb"))
    cat.record(_rec("a", "/p1", "old"))
    newest = cat.record(_rec("a", "/p2", "new"))
    assert cat.latest("a")[0]["artifact_id"] == newest
    assert cat.latest("missing") == []
