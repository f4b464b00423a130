"""The code location loads, and the sensors act on a real (ephemeral) instance."""

import dagster as dg

from pipelines.definitions import build_definitions, defs
from pipelines.profiles import available_profiles, load_profile
from resources.lake import CrawlSourceResource, LakeResource


def test_definitions_load_for_every_profile():
    dg.Definitions.validate_loadable(defs)
    for name in available_profiles():
        dg.Definitions.validate_loadable(build_definitions(load_profile(name)))
    assert {"crawl_job", "corpus_job", "reasoning_data_job"} <= {j.name for j in defs.jobs}


def test_unknown_profile_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="unknown profile 'nope'; available: .*tiny"):
        load_profile("nope")


def test_crawl_sensor_adds_partitions_and_requests_runs(tiny_crawl_dir, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.get_sensor_def("crawl_files_sensor")
    resources = {"crawl_source": CrawlSourceResource(input_uri=str(tiny_crawl_dir))}
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    keys = sorted(r.partition_key for r in result.run_requests)
    assert keys == ["dump-00.warc.gz", "dump-01.warc.gz", "dump-02.warc.gz"]
    assert result.dynamic_partitions_requests[0].partition_keys == keys
    instance.add_dynamic_partitions("crawl_files", keys)
    again = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert not again.run_requests


def test_corpus_sensor_waits_for_extractions(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("crawl_files", ["a.warc.gz"])
    sensor = defs.get_sensor_def("corpus_refresh_sensor")
    lake = LakeResource(root=str(tmp_path / "lake"))
    result = sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
    assert not result.run_requests and "waiting for extracted_pages of a.warc.gz" in result.skip_reason.skip_message


def test_run_command_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from mimo.paths import state_env
    from pipelines import run

    monkeypatch.setattr("os.environ", state_env(tmp_path))
    assert run.main(["--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert run.main(["--profile", "mimo-7b"]) == 2  # object-store crawl input without its fsspec driver
    assert capsys.readouterr().err.startswith("error: cannot read crawl input s3://")
