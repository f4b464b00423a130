"""Local backend: real subprocesses and torchrun on this machine, inside real Dagster runs."""

import json
import os
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest
from pydantic import ValidationError

from mimo.cluster import JobHandle, JobSpec
from mimo.cluster.local import LocalBackend
from resources.cluster import TAG_PREFIX
from tests.cluster.conftest import (
    cluster,
    job_dirs,
    pipes_job_spec,
    run_logs,
    step_failure,
    training_asset,
)


def test_pipes_messages_reach_the_dagster_run(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "3")
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([training_asset(spec, extras={"stage": 1})], instance=instance,
                         resources={"cluster": cluster("local", job_root)})
    assert res.success
    mat = res.get_asset_materialization_events()[0].materialization
    md = {k: v.value for k, v in mat.metadata.items()}
    assert md["steps"] == 3 and md["final_loss"] == 0.5  # reported by the job
    assert md["cluster/backend"] == "local" and md["cluster/state"] == "COMPLETED"
    assert md["cluster/custom_messages"] == 3
    assert md["cluster/last_metrics"] == {"step": 2, "loss": 0.5, "rank": 0}
    assert md["spec_name"] == unique_name
    assert mat.tags["dagster/data_version"] == "steps-3"
    messages = [m for _, m in run_logs(instance, res.run_id)]
    assert "training 3 steps (extras {'stage': 1})" in messages  # pipes.log from the job, with extras
    handle = json.loads(instance.get_run_by_id(res.run_id).tags[TAG_PREFIX + unique_name])
    assert handle["backend"] == "local" and os.path.isdir(handle["job_dir"])


def test_failing_job_names_exit_code_and_log_tail(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "5", "--fail-at", "2")
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("local", job_root)},
                         raise_on_error=False)
    assert not res.success
    msg = step_failure(res)
    assert "local job" in msg and "ended FAILED" in msg and "exit code 3:0" in msg
    assert "step 2: loss became NaN, giving up" in msg  # the log tail
    assert "step 1 loss 1.0" in msg


def test_external_cancel_is_a_clear_error(job_root, unique_name):
    res_box: dict = {}
    res_cluster = cluster("local", job_root, cancel_grace_s=2.0)
    spec = pipes_job_spec(unique_name, "--steps", "60", "--step-s", "0.5")
    instance = dg.DagsterInstance.ephemeral()

    def run() -> None:
        res_box["res"] = dg.materialize([training_asset(spec)], instance=instance,
                                        resources={"cluster": res_cluster}, raise_on_error=False)

    t = threading.Thread(target=run)
    t.start()
    handle = None
    for _ in range(200):  # wait for the job to be submitted and to report a step
        try:
            runs = instance.get_runs()
        except Exception as e:  # the in-memory run storage is busy with the materializing thread
            if "locked" not in str(e):
                raise
            time.sleep(0.05)
            continue
        tag = runs[0].tags.get(TAG_PREFIX + unique_name) if runs else None
        if tag:
            handle = JobHandle.from_json(tag)
            if os.path.getsize(handle.messages_path) > 0:
                break
        time.sleep(0.05)
    assert handle is not None
    pid = int(handle.job_id.split("@")[0])
    LocalBackend(cancel_grace_s=2.0).cancel(handle)
    t.join(timeout=30)
    msg = step_failure(res_box["res"])
    assert "ended CANCELLED" in msg and "cancelled" in msg
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_torchrun_two_ranks_only_rank0_reports(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "2", procs_per_node=2)
    assert spec.uses_torchrun and spec.world_size == 2
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("local", job_root)})
    md = {k: v.value for k, v in res.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert md["cluster/custom_messages"] == 2  # rank 1's open_job_pipes() is a no-op
    log = Path(md["cluster/job_dir"], "job.log").read_text()
    assert "rank=0 world=2" in log and "rank=1 world=2" in log


def test_retry_with_run_tags_reattaches_and_changed_spec_resubmits(job_root, unique_name):
    instance = dg.DagsterInstance.ephemeral()
    res_cluster = cluster("local", job_root)
    spec = pipes_job_spec(unique_name, "--steps", "2")
    first = dg.materialize([training_asset(spec)], instance=instance, resources={"cluster": res_cluster})
    tags = {k: v for k, v in instance.get_run_by_id(first.run_id).tags.items() if k.startswith(TAG_PREFIX)}
    second = dg.materialize([training_asset(spec)], instance=instance, resources={"cluster": res_cluster}, tags=tags)
    md1, md2 = ({k: v.value for k, v in r.get_asset_materialization_events()[0].materialization.metadata.items()}
                for r in (first, second))
    assert md2["cluster/reattached"] is True and md2["cluster/job_id"] == md1["cluster/job_id"]
    assert md2["final_loss"] == md1["final_loss"] and md2["cluster/custom_messages"] == 2
    assert len(job_dirs(job_root, unique_name)) == 1  # one job was ever launched

    changed = pipes_job_spec(unique_name, "--steps", "3")
    third = dg.materialize([training_asset(changed)], instance=instance, resources={"cluster": res_cluster}, tags=tags)
    md3 = {k: v.value for k, v in third.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert md3["cluster/reattached"] is False and md3["steps"] == 3
    assert len(job_dirs(job_root, unique_name)) == 2


def test_spec_validation_and_local_limits(job_root):
    with pytest.raises(ValidationError, match="job name"):
        JobSpec(name="bad name", command=["true"])
    with pytest.raises(ValidationError, match="mem"):
        JobSpec(name="x", command=["true"], mem="lots")
    with pytest.raises(ValidationError, match="time_limit"):
        JobSpec(name="x", command=["true"], time_limit="1 day")
    with pytest.raises(ValidationError):
        JobSpec(name="x", command=[])
    with pytest.raises(ValueError, match="one node"):
        LocalBackend().render(JobSpec(name="x", command=["true"], nodes=2), os.path.join(job_root, "x"), {})
    spec = JobSpec.python_module("x", "mimo.train.pretrain", ["--config", "c.yaml"])
    assert spec.command == [sys.executable, "-m", "mimo.train.pretrain", "--config", "c.yaml"]
    assert spec.fingerprint() == JobSpec.python_module("x", "mimo.train.pretrain", ["--config", "c.yaml"]).fingerprint()
    assert spec.fingerprint() != JobSpec.python_module("x", "mimo.train.pretrain", ["--config", "d.yaml"]).fingerprint()


def test_missing_command_fails_clearly(job_root, unique_name):
    spec = JobSpec(name=unique_name, command=["/nonexistent/trainer", "--config", "x"])
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("local", job_root)},
                         raise_on_error=False)
    msg = step_failure(res)
    assert "ended FAILED" in msg and "exit code 127:0" in msg and "/nonexistent/trainer" in msg


def test_time_limit_seconds_reads_every_sbatch_form():
    from mimo.cluster.job import time_limit_seconds

    assert time_limit_seconds(None) is None
    assert time_limit_seconds("90") == 5400  # minutes
    assert time_limit_seconds("01:30") == 90  # minutes:seconds
    assert time_limit_seconds("1:00:05") == 3605
    assert time_limit_seconds("2-03") == 2 * 86400 + 3 * 3600
    assert time_limit_seconds("1-00:10:00") == 86400 + 600
    with pytest.raises(ValueError, match="time_limit"):
        time_limit_seconds("soon")


def test_local_job_past_its_time_limit_ends_timeout_and_is_submitted_again(tmp_path, job_root, unique_name):
    marker = tmp_path / "hung-once"
    spec = pipes_job_spec(unique_name, "--steps", "2", "--hang-once", str(marker), time_limit="00:02")
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([training_asset(spec)], instance=instance, resources={"cluster": cluster("local", job_root)})
    md = {k: v.value for k, v in res.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert md["cluster/state"] == "COMPLETED" and md["cluster/resubmits"] == 1 and md["steps"] == 2
    dirs = job_dirs(job_root, unique_name)
    assert len(dirs) == 2  # the timed-out job and its resubmission
    first = Path(job_root, unique_name, dirs[0])
    assert json.loads((first / "exit_code.json").read_text())["timed_out"] is True
    assert "time limit 00:02 reached" in (first / "job.log").read_text()
    messages = [m for _, m in run_logs(instance, res.run_id)]
    assert any("ended TIMEOUT: the job hit its time limit (00:02)" in m and "submitting it again" in m
               for m in messages)


def test_time_limit_without_resubmits_fails_naming_the_limit(tmp_path, job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--hang-once", str(tmp_path / "m"), time_limit="00:01")
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("local", job_root, max_resubmits=0)},
                         raise_on_error=False)
    msg = step_failure(res)
    assert "ended TIMEOUT: the job hit its time limit (00:01)" in msg and "hanging" in msg
