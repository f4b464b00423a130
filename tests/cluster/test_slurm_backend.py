"""Slurm backend against a real single-node Slurm (started by scripts/slurm-local-setup.sh):
Pipes streaming into a Dagster run, failed and cancelled jobs, run cancel → scancel, reattach
after a crashed run worker, a torchrun launch through srun, and the mimo-7b dry run."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from mimo.cluster import JobHandle, JobSpec
from mimo.cluster.deepspeed import DeepSpeedOptions, deepspeed_config
from mimo.cluster.slurm import SlurmBackend, parse_scontrol
from resources.cluster import TAG_PREFIX, ClusterResource
from tests.cluster.conftest import (
    REPO,
    cluster,
    pipes_job_spec,
    run_logs,
    step_failure,
    training_asset,
)

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


def jobs_named(name: str) -> list[dict[str, str]]:
    """Every job slurmctld knows with this name (finished ones stay for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True).stdout
    return [f for f in map(parse_scontrol, out.splitlines()) if f.get("JobName") == name]


def wait_for(pred, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def metadata(result) -> dict:
    return {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}


def test_pipes_messages_stream_into_the_run_while_the_job_runs(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "3", "--step-s", "0.5")
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([training_asset(spec, extras={"stage": 2})], instance=instance,
                         resources={"cluster": cluster("slurm", job_root)})
    assert res.success
    md = metadata(res)
    assert md["cluster/backend"] == "slurm" and md["cluster/job_id"].isdigit()
    assert md["steps"] == 3 and md["final_loss"] == 0.5 and md["cluster/custom_messages"] == 3
    assert res.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"] == "steps-3"
    logs = run_logs(instance, res.run_id)
    opened = next(t for t, m in logs if "opened dagster pipes" in m)
    completed = next(t for t, m in logs if m.endswith(": COMPLETED"))
    assert completed - opened > 1.0  # messages arrived while the job was still running
    assert any(m == "training 3 steps (extras {'stage': 2})" for _, m in logs)
    job = jobs_named(unique_name)
    assert [j["JobId"] for j in job] == [md["cluster/job_id"]] and job[0]["JobState"] == "COMPLETED"
    log = Path(md["cluster/job_dir"], "job.log").read_text()
    assert f"slurm_job={md['cluster/job_id']}" in log and f"python={sys.executable}" in log
    tag = json.loads(instance.get_run_by_id(res.run_id).tags[TAG_PREFIX + unique_name])
    assert tag["job_id"] == md["cluster/job_id"]


def test_failed_job_is_a_clear_error_with_log_tail(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "5", "--fail-at", "3")
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("slurm", job_root)},
                         raise_on_error=False)
    msg = step_failure(res)
    assert "slurm job" in msg and "ended FAILED" in msg and "exit code 3:0" in msg
    assert "reason NonZeroExitCode" in msg
    assert "step 3: loss became NaN, giving up" in msg and "step 2 loss 0.5" in msg


def test_job_cancelled_outside_dagster_is_a_clear_error(job_root, unique_name):
    spec = pipes_job_spec(unique_name, "--steps", "100", "--step-s", "0.3")
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(res=dg.materialize(
        [training_asset(spec)], resources={"cluster": cluster("slurm", job_root)}, raise_on_error=False)))
    t.start()
    job = wait_for(lambda: [j for j in jobs_named(unique_name) if j["JobState"] == "RUNNING"], what="job running")
    subprocess.run(["scancel", job[0]["JobId"]], check=True)
    t.join(timeout=60)
    msg = step_failure(box["res"])
    assert f"slurm job {job[0]['JobId']}" in msg and "ended CANCELLED" in msg and "scancel" in msg
    assert box["res"].get_step_failure_events()[0].step_failure_data.user_failure_data is not None


def _run_worker(tmp_path: Path, name: str, job_root: str, steps: int) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "MIMO_TEST_JOB_NAME": name, "MIMO_TEST_JOB_ROOT": job_root,
           "MIMO_TEST_DAGSTER_HOME": str(tmp_path / "dagster_home"), "MIMO_TEST_STEPS": str(steps),
           "MIMO_TEST_STEP_S": "0.4", "MIMO_TEST_BACKEND": "slurm"}
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "tests.cluster.jobs.training_defs"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, env


def test_cancelling_the_dagster_run_cancels_the_slurm_job(tmp_path, job_root, unique_name):
    proc, _ = _run_worker(tmp_path, unique_name, job_root, steps=200)
    try:
        job = wait_for(lambda: [j for j in jobs_named(unique_name) if j["JobState"] == "RUNNING"],
                       timeout_s=60, what="job running")
        proc.send_signal(signal.SIGTERM)  # what the run launcher sends on a Dagster run cancel
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert f"cancelling slurm job {job[0]['JobId']}" in out
    state = wait_for(lambda: (s := jobs_named(unique_name)[0]["JobState"]) != "RUNNING" and s, what="job ends")
    assert state == "CANCELLED"


def test_retried_run_reattaches_to_the_running_job(tmp_path, job_root, unique_name):
    """The run worker dies while the job runs; re-executing the run from failure reattaches to
    the job through the parent run's tags instead of submitting it again."""
    from tests.cluster.jobs import training_defs

    proc, env = _run_worker(tmp_path, unique_name, job_root, steps=10)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with training_defs.instance() as instance:
            def tagged_run():
                runs = instance.get_runs()
                return runs and TAG_PREFIX + unique_name in runs[0].tags and runs[0]
            run = wait_for(tagged_run, timeout_s=60, what="run tagged with the job")
            handle = JobHandle.from_json(run.tags[TAG_PREFIX + unique_name])
            wait_for(lambda: Path(handle.messages_path).read_text().count("report_custom_message") >= 2,
                     what="the job to report two steps")
            proc.kill()  # crash: no cancel, the job keeps running
            proc.wait()
            assert SlurmBackend().status(handle).state == "RUNNING"
            instance.report_run_failed(instance.get_run_by_id(run.run_id))
            retry = dg.execute_job(dg.reconstructable(training_defs.training_job), instance,
                                   reexecution_options=dg.ReexecutionOptions.from_failure(run.run_id, instance))
            assert retry.success
            md = metadata(retry)
            assert md["cluster/reattached"] is True and md["cluster/job_id"] == handle.job_id
            assert md["cluster/custom_messages"] == 10 and md["steps"] == 10  # also the steps before the crash
            assert instance.get_run_by_id(retry.run_id).parent_run_id == run.run_id
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if proc.poll() is None:
            proc.kill()
    assert [j["JobId"] for j in jobs_named(unique_name)] == [handle.job_id]  # exactly one sbatch


def test_torchrun_through_srun_on_the_real_cluster(job_root, unique_name):
    """The multi-node launch line (srun + torchrun rendezvous on MASTER_ADDR) run for real on one node."""
    spec = pipes_job_spec(unique_name, "--steps", "2", procs_per_node=2, srun=True, cpus_per_task=2)
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("slurm", job_root)})
    md = metadata(res)
    assert md["cluster/custom_messages"] == 2
    log = Path(md["cluster/job_dir"], "job.log").read_text()
    assert "rank=0 world=2" in log and "rank=1 world=2" in log
    script = Path(md["cluster/job_dir"], "job.sbatch").read_text()
    assert "srun --kill-on-bad-exit=1 --nodes=1" in script and "--rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT" in script


def mimo_7b_cluster(job_root: str) -> ClusterResource:
    """The cluster resource as the mimo-7b profile configures it, in dry-run mode."""
    return ClusterResource(backend="slurm", dry_run=True, job_root=job_root, partition="gpu", account="mimo",
                           time_limit="72:00:00", extra_sbatch=["--constraint=h100"],
                           setup=["module load cuda/12.4", "source /shared/mimo/.venv/bin/activate"],
                           env={"NCCL_IB_DISABLE": "0", "OMP_NUM_THREADS": "8"})


def mimo_7b_pretrain_spec() -> JobSpec:
    ds = deepspeed_config(DeepSpeedOptions(zero_stage=1, micro_batch_per_gpu=2, global_batch=2048), world_size=32 * 8)
    return JobSpec.python_module("pretrain_stage1", "mimo.train.pretrain", ["--config", "/shared/cfg/stage1.yaml"],
                                 nodes=32, gpus_per_node=8, cpus_per_task=96, mem="1800G", exclusive=True,
                                 deepspeed=ds, env={"MIMO_STAGE": "1"})


def test_dry_run_writes_the_multinode_script_and_deepspeed_config(job_root):
    files = mimo_7b_cluster(job_root).render(mimo_7b_pretrain_spec())
    script_path, ds_path = files
    script = Path(script_path).read_text()
    job_dir = os.path.dirname(script_path)
    for line in ["#SBATCH --nodes=32", "#SBATCH --ntasks-per-node=1", "#SBATCH --gres=gpu:8", "#SBATCH --exclusive",
                 "#SBATCH --partition=gpu", "#SBATCH --account=mimo", "#SBATCH --time=72:00:00",
                 "#SBATCH --cpus-per-task=96", "#SBATCH --mem=1800G", "#SBATCH --constraint=h100",
                 f"#SBATCH --output={job_dir}/job.log", "module load cuda/12.4",
                 'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
                 f"export MIMO_DEEPSPEED_CONFIG={ds_path}", "export NCCL_IB_DISABLE=0", "export MIMO_STAGE=1"]:
        assert line in script.splitlines(), line
    launch = script.splitlines()[-1]
    assert launch.startswith("srun --kill-on-bad-exit=1 --nodes=32 --ntasks-per-node=1 ")
    assert (f"{sys.executable} -m torch.distributed.run --nnodes=$SLURM_NNODES --rdzv_id=$SLURM_JOB_ID "
            "--rdzv_backend=c10d --rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT --nproc_per_node=8 --no-python "
            f"{sys.executable} -m mimo.train.pretrain --config /shared/cfg/stage1.yaml") in launch
    assert "DAGSTER_PIPES" not in script  # nothing to talk back to in a dry run
    assert subprocess.run(["bash", "-n", script_path], check=False).returncode == 0
    ds = json.loads(Path(ds_path).read_text())
    assert ds["train_batch_size"] == 2048 and ds["train_micro_batch_size_per_gpu"] == 2
    assert ds["gradient_accumulation_steps"] == 4 and ds["zero_optimization"]["stage"] == 1
    assert ds["bf16"] == {"enabled": True} and ds["gradient_clipping"] == 1.0
    assert ds["optimizer"]["type"] == "AdamW" and ds["optimizer"]["params"]["betas"] == [0.9, 0.95]
    assert "torch_adam" not in ds["optimizer"]["params"]


def test_dry_run_in_a_dagster_run_submits_nothing(job_root):
    spec = mimo_7b_pretrain_spec()
    res = dg.materialize([training_asset(spec)], resources={"cluster": mimo_7b_cluster(job_root)},
                         raise_on_error=False)
    msg = step_failure(res)
    assert msg.startswith("dry run: wrote ") and "job.sbatch" in msg and "nothing was submitted" in msg
    assert jobs_named("pretrain_stage1") == []
    # sbatch itself accepts the script (--test-only checks it against the controller, submits nothing)
    one_node = spec.model_copy(update={"nodes": 1, "gpus_per_node": 0, "procs_per_node": 2, "cpus_per_task": 1,
                                       "mem": "100M", "exclusive": False})
    script = ClusterResource(backend="slurm", dry_run=True, job_root=job_root).render(one_node)[0]
    check = subprocess.run(["sbatch", "--test-only", script], capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "to start at" in check.stderr, check.stderr
