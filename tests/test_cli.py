"""The mimo command: clear one-line errors, and the crawl/catalog/lineage subcommands."""

import json
import subprocess
import sys

from mimo.lake.catalog import ArtifactRecord, Catalog


def _mimo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mimo.cli", *args], capture_output=True, text=True, timeout=120, env=env)


def test_missing_catalog_is_one_clear_line(tmp_path):
    out = _mimo("catalog", "SELECT 1", "--catalog", str(tmp_path / "none.duckdb"))
    assert out.returncode != 0 and out.stderr.strip().startswith("error: no catalog at") and "Traceback" not in out.stderr


def test_catalog_and_lineage_commands(tmp_path):
    cat = Catalog(str(tmp_path / "c.duckdb"))
    crawl = cat.record(ArtifactRecord("crawl_warc", "/l/c", "h", partition="dump-00.warc.gz",
                                      metadata={"warc_path": "/in/dump-00.warc.gz", "warc_sha256": "ab" * 32}))
    shard = cat.record(ArtifactRecord("filtered_corpus/shard", "/l/corpus/shard-00000.parquet", "s", upstream_ids=[crawl]))
    rows = [json.loads(line) for line in _mimo("catalog", "SELECT asset_key FROM artifacts ORDER BY 1", "--catalog", cat.path).stdout.splitlines()]
    assert rows == [{"asset_key": "crawl_warc"}, {"asset_key": "filtered_corpus/shard"}]
    out = _mimo("lineage", "shard-00000.parquet", "--catalog", cat.path)
    assert out.returncode == 0 and "crawl files: dump-00.warc.gz" in out.stdout and "warc=/in/dump-00.warc.gz" in out.stdout
    missing = _mimo("lineage", "nope", "--catalog", cat.path)
    assert missing.returncode == 2 and "no artifact" in missing.stderr
    assert shard


def test_crawl_build_tiny(tmp_path, shared_dir):
    out = _mimo("crawl", "build-tiny", str(tmp_path / "crawl"), "--shared", str(shared_dir))
    summary = json.loads(out.stdout)
    assert out.returncode == 0 and summary["pages"] > 200 and summary["near_duplicates"] > 0
    assert sorted(p.name for p in (tmp_path / "crawl").glob("*.warc.gz")) == ["dump-00.warc.gz", "dump-01.warc.gz", "dump-02.warc.gz"]
