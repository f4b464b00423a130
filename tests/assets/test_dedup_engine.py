"""Extraction and dedup on the data engine give the same pages and corpus as the in-process paths:
a real Dagster instance, the default profile, real crawl files of real pages with planted
near-duplicates."""

from __future__ import annotations

import re

import dagster as dg
import duckdb
import pytest

from mimo.data.warc import PageToWrite, write_warc
from pipelines.definitions import build_definitions
from pipelines.profiles import load_profile
from pipelines.run import run_crawl_partitions
from tests.assets.test_bad_crawl_files import _latest_meta, _pages

pytestmark = pytest.mark.timeout(900)


def _near_copy(page: PageToWrite, n: int) -> PageToWrite:
    """The page under another URL with one word of its main text changed (every occurrence): a
    near-duplicate, not an exact one."""
    html = page.payload.decode("utf-8", "replace")
    words = re.findall(r"(?<=[ >])([a-z]{9,})(?=[ ,.])", html)
    word = words[len(words) // 2]
    return PageToWrite(f"https://mirror{n}.example.net/copy", re.sub(rf"\b{word}\b", "changed", html).encode())


def _rows(meta: dict, name: str, cols: str) -> list[tuple]:
    return duckdb.sql(f"SELECT {cols} FROM read_parquet('{meta['path']}/{name}') ORDER BY ALL").fetchall()


def test_the_engine_gives_the_same_pages_and_corpus_as_the_in_process_paths(tmp_path, monkeypatch, shared_dir):
    state = tmp_path / "state"
    monkeypatch.setenv("MIMO_STATE_DIR", str(state))
    pages = _pages(shared_dir, 12)
    crawl = state / "crawl-input"
    crawl.mkdir(parents=True)
    write_warc(pages[:6], str(crawl / "a.warc.gz"))
    write_warc(pages[6:] + [_near_copy(pages[1], 1), _near_copy(pages[7], 2)], str(crawl / "b.warc.gz"))
    write_warc([_near_copy(pages[2], 3), _near_copy(pages[1], 4)], str(crawl / "c.warc.gz"))
    defs = build_definitions(load_profile("tiny"))
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        files = defs.resources["crawl_source"].list_files()
        instance.add_dynamic_partitions("crawl_files", files)
        assert run_crawl_partitions(defs, instance, files, only_new=False)[0] == []
        on_engine = _latest_meta(instance, "extracted_pages", "b.warc.gz")  # the profile's runner: engine
        crawl_job = defs.resolve_job_def("crawl_job")
        pool_cfg = {"ops": {"extracted_pages": {"config": {"runner": "pool", "workers": 2}}}}
        assert crawl_job.execute_in_process(instance=instance, partition_key="b.warc.gz", run_config=pool_cfg,
                                            asset_selection=[dg.AssetKey("extracted_pages")]).success
        pool = _latest_meta(instance, "extracted_pages", "b.warc.gz")
        job = defs.resolve_job_def("corpus_job")
        selection = {"ops": {"deduplicated_pages": {"config": {"engine": "in_memory"}}}}
        assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("deduplicated_pages")],
                                      run_config=selection).success
        in_memory = _latest_meta(instance, "deduplicated_pages")
        assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("deduplicated_pages")]).success
        stages = _latest_meta(instance, "deduplicated_pages")
        rest = [dg.AssetKey(k) for k in ("tagger_model", "tagged_pages", "filtered_corpus")]
        assert job.execute_in_process(instance=instance, asset_selection=rest).success
        tagged_engine, corpus_engine = _latest_meta(instance, "tagged_pages"), _latest_meta(instance, "filtered_corpus")
        in_process = {"ops": {"tagged_pages": {"config": {"runner": "in_process"}},
                              "filtered_corpus": {"config": {"decontam_runner": "in_process"}}}}
        assert job.execute_in_process(instance=instance, asset_selection=rest[1:], run_config=in_process).success
        tagged_local, corpus_local = _latest_meta(instance, "tagged_pages"), _latest_meta(instance, "filtered_corpus")
        leftovers = [p for p in (state / "data-engine").rglob("*") if p.is_file()]
    cols = "doc_id, text, title, language, n_formulas, n_code_blocks, page_type, extraction_quality"
    assert _rows(on_engine, "pages.parquet", cols) == _rows(pool, "pages.parquet", cols) and pool["pages_out"] == 8
    assert in_memory["minhash_engine"] == "in_memory" and stages["minhash_engine"] == "stages"
    assert stages["removed_minhash"] == in_memory["removed_minhash"] >= 2  # (pages[1]'s two copies: exact dups)
    assert stages["engine_shards"] == 3 and set(stages["engine_stages"]) == {
        "url keys", "url find", "exact keys", "exact find", "signatures", "buckets", "clusters", "write"}
    same = ("docs_out", "removed_url", "removed_exact", "removed_minhash", "removed_across_crawl_files",
            "minhash_clusters_with_dups", "minhash_cluster_sizes")
    assert {k: stages[k] for k in same} == {k: in_memory[k] for k in same}
    assert _rows(stages, "pages.parquet", "doc_id, text") == _rows(in_memory, "pages.parquet", "doc_id, text")
    assert (_rows(stages, "duplicates.parquet", "doc_id, stage, duplicate_of, cluster_id")
            == _rows(in_memory, "duplicates.parquet", "doc_id, stage, duplicate_of, cluster_id"))
    assert (tagged_engine["tag_runner"], tagged_local["tag_runner"]) == ("engine", "in_process")
    assert (corpus_engine["decontam_runner"], corpus_local["decontam_runner"]) == ("engine", "in_process")
    tag_cols = "doc_id, domain, round(quality, 2), heuristic_gopher, heuristic_c4, heuristic_fineweb, n_words"
    assert _rows(tagged_engine, "pages.parquet", tag_cols) == _rows(tagged_local, "pages.parquet", tag_cols)
    assert corpus_engine["docs_out"] == corpus_local["docs_out"] > 0
    assert corpus_engine["decisions"] == corpus_local["decisions"]
    assert leftovers == []  # each stage's work directory is removed once its results are read
