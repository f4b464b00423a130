"""The RL loop through the new topology: rollouts from engine processes (weights pushed after every
update over a gloo group), the update on one or two FSDP2 trainer ranks under torchrun. Two ranks
with two engines take the same steps as one rank with one engine (naive scheduling, seeded
samples); an engine that cannot start is a clear error, not a hang."""

import json
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from tests.rl.grpo.test_loop import NAIVE, REPO, _config, setup  # noqa: F401  (module fixture)


def _torchrun(cfg_path, nproc, timeout=400):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mimo.rl.train", "--config", str(cfg_path)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _metrics(stdout):
    return [json.loads(line.split(" metrics ", 1)[1]) for line in stdout.splitlines() if " metrics " in line]


def test_two_ranks_and_two_engines_match_one_of_each(setup, tmp_path):  # noqa: F811
    root, _ = setup
    runs = {}
    for n in (1, 2):
        cfg = _config(root, tmp_path / f"run{n}", rollout_backend="engines", engines={"count": n, "threads": 1},
                      grpo={"steps": 3, "temperature": 1.0}, **NAIVE)
        run = _torchrun(cfg, n)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        runs[n] = (_metrics(run.stdout), load_file(str(tmp_path / f"run{n}/final/model.safetensors")))
    for n, (metrics, _) in runs.items():
        assert [m["step"] for m in metrics] == [1, 2, 3]
        assert all(m["engines_live"] == n and m["weight_version"] == m["step"] for m in metrics if m.get("updates"))
        assert all(m["weight_sync_seconds"] > 0 for m in metrics if m.get("updates"))
    (m1, w1), (m2, w2) = runs[1], runs[2]
    assert [m["reward_mean"] for m in m1] == [m["reward_mean"] for m in m2]  # the same samples
    assert any(m.get("updates") for m in m1)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=2e-5)
    summary = json.loads((tmp_path / "run2/final/training_summary.json").read_text())
    assert summary["trainer_ranks"] == 2 and summary["rollout_backend"] == "engines"


def test_cluster_topology_on_the_local_backend(setup, tmp_path):  # noqa: F811
    """The heterogeneous job's shape as processes here: two trainer ranks under torchrun and two
    engine servers as the job's companion (found through its companion directory, sharing the
    job's fresh token), in a real Dagster run; every process is gone when the job ends."""
    import dagster as dg
    import psutil

    from mimo.cluster.job import CompanionSpec, JobSpec
    from mimo.generate.base import SamplingParams
    from mimo.rl.engines.config import EnginesConfig
    from mimo.rl.engines.launch import engine_command
    from tests.cluster.conftest import cluster, training_asset

    root, _ = setup
    engines = {"count": 2, "launch": "external", "threads": 1, "sync_host": "auto", "start_timeout_s": 120}
    cfg = _config(root, tmp_path / "run", rollout_backend="engines", engines=engines, grpo={"steps": 2})
    command = engine_command(str(root / "init"), None, None, EnginesConfig(**engines),
                             SamplingParams(temperature=1.0, max_tokens=24), 16)
    spec = JobSpec.python_module("rl-topology", "mimo.rl.train", ["--config", str(cfg)], procs_per_node=2,
                                 env={"OMP_NUM_THREADS": "1"},
                                 companion=CompanionSpec(command=command, tasks_per_node=2,
                                                         secret_env="MIMO_ENGINE_TOKEN"))
    res = dg.materialize([training_asset(spec)], resources={"cluster": cluster("local", str(tmp_path / "jobs"))})
    assert res.success
    md = {k: v.value for k, v in res.get_asset_materialization_events()[0].materialization.metadata.items()}
    job_dir = md["cluster/job_dir"]
    history = json.loads((tmp_path / "run/final/rl_history.json").read_text())
    assert [h["step"] for h in history] == [1, 2] and all(h["engines_live"] == 2 for h in history)
    summary = json.loads((tmp_path / "run/final/training_summary.json").read_text())
    assert summary["trainer_ranks"] == 2
    logs = sorted(p.name for p in (tmp_path / "jobs").rglob("companion/task-*.log"))
    assert logs == ["task-0.log", "task-1.log"], logs
    assert str(job_dir) in str(next((tmp_path / "jobs").rglob("companion")).parent)
    left = [p for p in psutil.process_iter(["cmdline"]) if "mimo.rl.engines.server" in " ".join(p.info["cmdline"] or [])
            and str(root / "init") in " ".join(p.info["cmdline"] or [])]
    assert not left, left


def test_resume_pushes_the_checkpoint_to_a_fresh_engine(setup, tmp_path):  # noqa: F811
    from tests.rl.grpo.test_loop import _run

    root, _ = setup
    engines = {"rollout_backend": "engines", "engines": {"count": 1, "threads": 1}}
    first = _run(_config(root, tmp_path / "run", grpo={"steps": 2}, **engines))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    more = _run(_config(root, tmp_path / "run", grpo={"steps": 3}, **engines))
    assert more.returncode == 0 and "resumed from" in more.stdout, more.stdout[-3000:] + more.stderr[-3000:]
    (last,) = _metrics(more.stdout)
    # the new engine loaded init_from: the checkpoint's weights were pushed first (version 1), then the update
    assert last["step"] == 3 and last["weight_version"] == (2 if last.get("updates") else 1)


def test_a_rank_that_dies_mid_update_ends_the_job_and_the_rerun_resumes(setup, tmp_path):  # noqa: F811
    root, _ = setup
    kw = dict(rollout_backend="engines", engines={"count": 2, "threads": 1}, grpo={"steps": 3})
    run = _torchrun(_config(root, tmp_path / "run", kill_last_rank_at_step=2, **kw), 2, timeout=300)
    assert run.returncode != 0  # torchrun tears the job down: no rank waits in a collective forever
    assert (tmp_path / "run/checkpoints/step-00000001/COMPLETE").exists()
    assert not (tmp_path / "run/final").exists()  # no partial model is published
    deadline = time.monotonic() + 30  # the engines exit once their client is gone
    while time.monotonic() < deadline and _engines_of(tmp_path / "run"):
        time.sleep(0.5)
    assert not _engines_of(tmp_path / "run")
    again = _torchrun(_config(root, tmp_path / "run", **kw), 2)
    assert again.returncode == 0 and "resumed from" in again.stdout, again.stdout[-3000:] + again.stderr[-3000:]
    assert [m["step"] for m in _metrics(again.stdout)] == [2, 3]


def _engines_of(run_dir):
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "mimo.rl.engines.server" in cmd and str(run_dir) in cmd:
            found.append(p.pid)
    return found
