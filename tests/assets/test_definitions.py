"""The code location loads for every profile, profile settings are every asset's config defaults,
bad profiles fail with one clear message, and the crawl sensor acts on a real (ephemeral) instance."""

import dagster as dg

from pipelines.definitions import build_definitions, defs
from pipelines.profiles import available_profiles, load_profile
from resources.lake import CrawlSourceResource


def test_definitions_load_for_every_profile():
    dg.Definitions.validate_loadable(defs)
    for name in available_profiles():
        dg.Definitions.validate_loadable(build_definitions(load_profile(name)))
    assert {"crawl_job", "corpus_job", "reasoning_data_job"} <= {j.name for j in defs.jobs}


def test_profile_values_are_the_assets_config_defaults():
    from pipelines.profile_config import effective_config

    for name in available_profiles():
        profile = load_profile(name)
        built = build_definitions(profile)
        for asset, values in profile.assets.items():
            effective = effective_config(built.resolve_assets_def(asset))
            assert {k: effective[k] for k in values} == values, (name, asset)
    tiny = build_definitions(load_profile("tiny"))
    assert effective_config(tiny.resolve_assets_def("eval_sft"))["max_tokens"] == 160  # not MiMo's 32,768
    assert effective_config(tiny.resolve_assets_def("rl_model"))["temperature"] == 1.0  # unset: the code's default


def _write_profile(monkeypatch, tmp_path, text: str) -> str:
    import pipelines.profiles as profiles

    (tmp_path / "bad.yaml").write_text(text)
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    return "bad"


def test_a_bad_profile_is_one_clear_message(monkeypatch, tmp_path):
    import pytest

    from pipelines.profile_config import ProfileError

    cases = {
        "name: bad\nassets: {sft_modle: {epochs: 1}}\n": r"unknown asset\(s\) \['sft_modle'\]",
        "name: bad\nassets: {sft_model: {epoch: 1}}\n": r"assets.sft_model: unknown field\(s\) \['epoch'\]",
        "name: bad\nassets: {sft_model: {epochs: many}}\n": r"assets.sft_model: invalid value",
        "name: bad\nchecks: {no_such_check: {x: 1}}\n": r"unknown check\(s\) \['no_such_check'\]",
    }
    for text, message in cases.items():
        with pytest.raises(ProfileError, match=message):
            build_definitions(load_profile(_write_profile(monkeypatch, tmp_path, text)))
    with pytest.raises(ValueError, match="(?s)profile .bad. .* is invalid: .*sensors_running"):
        load_profile(_write_profile(monkeypatch, tmp_path, "name: bad\nsensors_running: true\n"))
    with pytest.raises(ValueError, match="not valid YAML"):
        load_profile(_write_profile(monkeypatch, tmp_path, "name: [bad\n"))


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


def test_run_command_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from mimo.paths import state_env
    from pipelines import run

    monkeypatch.setattr("os.environ", state_env(tmp_path))
    assert run.main(["--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert run.main(["--profile", "mimo-7b"]) == 2  # object-store crawl input without its fsspec driver
    assert capsys.readouterr().err.startswith("error: cannot read crawl input s3://")
    assert run.main(["--asset", "eval_sft", "--partition", "math-500"]) == 2
    assert "partition 'math-500' is not one of toy_heldout, math500" in capsys.readouterr().err
    assert run.main(["--asset", "sft_model", "--partition", "math500"]) == 2
    assert "not partitioned; drop --partition" in capsys.readouterr().err


def test_a_dagster_home_without_dagster_yaml_is_refused(tmp_path, capsys, monkeypatch):
    import pytest

    from mimo.paths import state_env
    from pipelines import run

    monkeypatch.setattr("os.environ", {**state_env(tmp_path), "DAGSTER_HOME": str(tmp_path)})
    with pytest.raises(SystemExit, match=f"DAGSTER_HOME={tmp_path} has no dagster.yaml"):
        run.main(["--asset", "sft_model"])
