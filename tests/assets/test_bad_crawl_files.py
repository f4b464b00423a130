"""Bad crawl files are counted skips, never failed runs: a real Dagster instance, the profile's real
crawl_job and dedup asset, real files in a temp state dir (crawl input, lake, catalog)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mimo.data.warc import PageToWrite, write_warc
from pipelines.definitions import build_definitions
from pipelines.profiles import load_profile
from pipelines.run import run_crawl_partitions

pytestmark = pytest.mark.timeout(900)
AS_ROOT = os.geteuid() == 0  # root reads a chmod-000 file: the `unreadable` case cannot be built then


def _pages(shared_dir: Path, n: int) -> list[PageToWrite]:
    """Real pages of the article-extraction benchmark (first ``n`` by file name)."""
    root = shared_dir / "benchmarks" / "article_extraction"
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for sha in sorted(truth)[:n]:
        html = gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes())
        pages.append(PageToWrite(truth[sha].get("url") or f"https://example.org/{sha}", html))
    return pages


def _write_crawl(crawl: Path, pages: list[PageToWrite]) -> dict[str, str]:
    """Two good WARCs (one page of the first again under another URL: an exact duplicate), a
    truncated one, and the bad files; returns {file: expected skip reason} of the bad ones."""
    crawl.mkdir(parents=True)
    write_warc(pages[:5], str(crawl / "good-a.warc.gz"))
    write_warc(pages[5:9] + [PageToWrite(pages[0].url + "?mirror=1", pages[0].payload)], str(crawl / "good-b.warc.gz"))
    write_warc(pages[9:12], str(crawl / "cut.warc.gz"))
    tail = crawl / "tail.warc.gz"
    write_warc(pages[12:13], str(tail))
    with open(crawl / "cut.warc.gz", "ab") as fh:  # the last record cut in half, as an interrupted download
        fh.write(tail.read_bytes()[: tail.stat().st_size // 2])
    tail.unlink()
    (crawl / "empty.warc.gz").write_bytes(b"")
    (crawl / "notes.warc.gz").write_text("these are my notes, not a WARC file\n" * 20)
    write_warc(pages[13:14], str(crawl / "vanished.warc.gz"))  # removed after it was listed
    expected = {"cut.warc.gz": "truncated", "empty.warc.gz": "empty_file", "notes.warc.gz": "not_warc",
                "vanished.warc.gz": "missing"}
    if os.path.exists("/proc/self/mem"):  # opens, then reading fails with EIO: unreadable, for root too
        (crawl / "ioerror.warc.gz").symlink_to("/proc/self/mem")
        expected["ioerror.warc.gz"] = "unreadable"
    if not AS_ROOT:
        write_warc(pages[14:15], str(crawl / "locked.warc.gz"))
        (crawl / "locked.warc.gz").chmod(0)
        expected["locked.warc.gz"] = "unreadable"
    return expected


@pytest.fixture
def crawl_env(tmp_path, monkeypatch, shared_dir):
    """(definitions of the default profile, a temp Dagster instance, crawl dir, expected skips, pages)."""
    state = tmp_path / "state"
    monkeypatch.setenv("MIMO_STATE_DIR", str(state))
    pages = _pages(shared_dir, 15)
    expected = _write_crawl(state / "crawl-input", pages)
    defs = build_definitions(load_profile("tiny"))
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield defs, instance, state / "crawl-input", expected, pages
    locked = state / "crawl-input" / "locked.warc.gz"
    if locked.exists():
        locked.chmod(0o644)


def _latest_meta(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None),
        limit=1).records
    assert records, f"{asset} {partition or ''} has no materialization"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _parquet_urls(meta: dict, name: str) -> list[str]:
    return [u for (u,) in duckdb.sql(f"SELECT url FROM read_parquet('{meta['path']}/{name}')").fetchall()]


def test_bad_files_are_counted_skips_and_dedup_lists_them(crawl_env):
    defs, instance, crawl, expected, pages = crawl_env
    files = defs.resources["crawl_source"].list_files()
    assert set(expected) | {"good-a.warc.gz", "good-b.warc.gz"} == set(files)
    (crawl / "vanished.warc.gz").unlink()  # listed, then gone before its run
    instance.add_dynamic_partitions("crawl_files", files)
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert before.get_num_requested(dg.AssetKey("deduplicated_pages")) == 0  # nothing crawled yet

    failed, skipped = run_crawl_partitions(defs, instance, files, only_new=False)

    assert failed == [] and skipped == expected
    runs = instance.get_runs()
    assert len(runs) == len(files) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    for name in files:
        meta = _latest_meta(instance, "crawl_warc", name)
        assert meta["skipped_file"] is (name in expected), name
        if name in expected:
            assert meta["skip_reason"] == expected[name] and meta["skip_detail"], name
            assert _latest_meta(instance, "extracted_pages", name)["pages_in"] == meta["records_html"]
    assert _latest_meta(instance, "crawl_warc", "notes.warc.gz")["records_html"] == 0
    cut = _latest_meta(instance, "crawl_warc", "cut.warc.gz")
    assert cut["records_html"] == 3 and cut["skip_reasons"] == {"truncated_record": 1}  # kept what was before the cut
    assert _parquet_urls(cut, "records.parquet") == [p.url for p in pages[9:12]]
    good = _parquet_urls(_latest_meta(instance, "crawl_warc", "good-a.warc.gz"), "records.parquet") \
        + _parquet_urls(_latest_meta(instance, "crawl_warc", "good-b.warc.gz"), "records.parquet")
    assert good == [p.url for p in pages[:9]] + [pages[0].url + "?mirror=1"]
    logs = "\n".join(e.message for r in runs for e in instance.all_logs(r.run_id) if e.message)
    for name, reason in expected.items():
        assert f"crawl file {name} skipped ({reason})" in logs

    # no partition is missing, so the eager refresh of the global dedup is not held back
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert after.get_num_requested(dg.AssetKey("deduplicated_pages")) == 1

    assert defs.resolve_job_def("corpus_job").execute_in_process(instance=instance, raise_on_error=False).success
    dedup = _latest_meta(instance, "deduplicated_pages")
    assert dedup["skipped_crawl_files"] == expected and dedup["crawl_files_missing"] == []
    assert dedup["crawl_files"] == len(files) and dedup["removed_exact"] + dedup["removed_url"] >= 1
    extracted = sum(_latest_meta(instance, "extracted_pages", n)["pages_out"] for n in files)
    assert dedup["docs_in"] == extracted >= 10
    assert _latest_meta(instance, "filtered_corpus")["skipped_crawl_files"] == expected


def _crawled(out: str) -> list[str]:
    return [line.rsplit(" ", 1)[-1] for line in out.splitlines() if line.startswith("[mimo] crawl_job ")]


def test_only_new_goes_on_past_failures_and_retries_them(crawl_env, capsys):
    defs, instance, crawl, _, pages = crawl_env
    crawl_source = defs.resources["crawl_source"]
    files = crawl_source.list_files()
    # a real failure: a plain file where the lake puts good-a's artifact directory
    blocker = Path(defs.resources["lake"].lake().artifact_dir("crawl_warc", "good-a.warc.gz", "x")).parent
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")

    failed, _ = run_crawl_partitions(defs, instance, files, only_new=True)
    assert failed == ["good-a.warc.gz"]
    assert _crawled(capsys.readouterr().out) == files  # the loop went on past the failure
    assert sorted(instance.get_dynamic_partitions("crawl_files")) == sorted(files)

    blocker.unlink()
    write_warc(pages[:1], str(crawl / "new.warc.gz"))
    instance.add_dynamic_partitions("crawl_files", ["never-ran.warc.gz"])  # known, but its run never happened
    write_warc(pages[1:2], str(crawl / "never-ran.warc.gz"))
    failed, skipped = run_crawl_partitions(defs, instance, crawl_source.list_files(), only_new=True)
    assert failed == [] and skipped == {}
    assert _crawled(capsys.readouterr().out) == ["good-a.warc.gz", "never-ran.warc.gz", "new.warc.gz"]

    failed, _ = run_crawl_partitions(defs, instance, crawl_source.list_files(), only_new=True)
    assert failed == [] and _crawled(capsys.readouterr().out) == []  # nothing new: bad files count as done


def test_crawl_sensor_gives_bad_files_partitions_and_runs(crawl_env):
    defs, instance, crawl, expected, pages = crawl_env
    sensor = defs.get_sensor_def("crawl_files_sensor")
    resources = {"crawl_source": defs.resources["crawl_source"]}
    first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    keys = sorted(r.partition_key for r in first.run_requests)
    assert keys == sorted(set(expected) | {"good-a.warc.gz", "good-b.warc.gz"})
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == keys
    instance.add_dynamic_partitions("crawl_files", keys)
    crawl_job = defs.resolve_job_def("crawl_job")
    (crawl / "vanished.warc.gz").unlink()
    for request in first.run_requests:
        assert crawl_job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                            raise_on_error=False).success, request.partition_key
    assert not sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
    write_warc(pages[:1], str(crawl / "later.warc.gz"))  # good new files still flow
    (crawl / "later-empty.warc.gz").write_bytes(b"")
    again = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert sorted(r.partition_key for r in again.run_requests) == ["later-empty.warc.gz", "later.warc.gz"]
