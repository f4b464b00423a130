"""The web-data assets with the cluster resource on Slurm: extraction, MinHash stages, tagging and
decontamination run as array jobs on the test Slurm, in real Dagster runs, and give the pages and
corpus of the local engine."""

from __future__ import annotations

import dagster as dg
import pytest

from mimo.data.warc import write_warc
from pipelines.definitions import build_definitions
from pipelines.profiles import load_profile
from pipelines.run import run_crawl_partitions
from tests.assets.test_bad_crawl_files import _latest_meta, _pages
from tests.assets.test_dedup_engine import _near_copy, _rows

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("slurm_cluster")]
DATA_ASSETS = ["deduplicated_pages", "tagger_model", "tagged_pages", "filtered_corpus"]


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, dict]:
    files = defs.resources["crawl_source"].list_files()
    assert run_crawl_partitions(defs, instance, files, only_new=False)[0] == []
    job = defs.resolve_job_def("corpus_job")
    assert job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(a) for a in DATA_ASSETS]).success
    out = {a: _latest_meta(instance, a) for a in DATA_ASSETS}
    out["extracted_pages"] = _latest_meta(instance, "extracted_pages", "b.warc.gz")
    return out


def test_the_data_assets_run_as_slurm_arrays_and_give_the_local_corpus(tmp_path, monkeypatch, shared_dir):
    state = tmp_path / "state"
    monkeypatch.setenv("MIMO_STATE_DIR", str(state))
    pages = _pages(shared_dir, 10)
    crawl = state / "crawl-input"
    crawl.mkdir(parents=True)
    write_warc(pages[:5], str(crawl / "a.warc.gz"))
    write_warc(pages[5:] + [_near_copy(pages[1], 1), _near_copy(pages[6], 2)], str(crawl / "b.warc.gz"))
    local_profile = load_profile("tiny")
    slurm_profile = local_profile.model_copy(update={"cluster": {
        **local_profile.cluster, "backend": "slurm", "job_root": str(tmp_path / "jobs"), "poll_interval_s": 0.5}})
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        local = _materialize(build_definitions(local_profile), instance)
        on_slurm = _materialize(build_definitions(slurm_profile), instance)
    assert local["extracted_pages"]["engine_backend"] == "local"
    assert on_slurm["extracted_pages"]["engine_backend"] == "slurm"
    for asset in ("deduplicated_pages", "tagged_pages", "filtered_corpus"):
        assert (local[asset]["engine_backend"], on_slurm[asset]["engine_backend"]) == ("local", "slurm"), asset
    assert on_slurm["deduplicated_pages"]["removed_minhash"] >= 1
    assert _rows(on_slurm["deduplicated_pages"], "duplicates.parquet", "doc_id, stage, duplicate_of") == \
        _rows(local["deduplicated_pages"], "duplicates.parquet", "doc_id, stage, duplicate_of")
    cols = "doc_id, domain, round(quality, 2), n_words"
    assert _rows(on_slurm["tagged_pages"], "pages.parquet", cols) == _rows(local["tagged_pages"], "pages.parquet", cols)
    assert on_slurm["filtered_corpus"]["decisions"] == local["filtered_corpus"]["decisions"]
    logs = list((tmp_path / "jobs" / "data-engine").rglob("launch_script.slurm"))
    assert logs == []  # work directories (with their array scripts) are removed after each stage
