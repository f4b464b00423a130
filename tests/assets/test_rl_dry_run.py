"""The mimo-7b profile's RL job renders as one heterogeneous Slurm job (dry run: nothing submitted):
trainer nodes under srun + torchrun, rollout nodes running one engine server per GPU in the
background, a fresh shared engine token, and an RL config that finds the engines through the job's
companion directory. The tiny profile's RL job is one local process whose rank 0 starts one engine."""

import subprocess
from pathlib import Path

import yaml

from assets.rl import RLConfig, _rl_config, build_rl_job_spec
from mimo.rl.grpo.loop import RLTrainConfig
from pipelines.profiles import load_profile
from resources.cluster import ClusterResource


def test_mimo_7b_rl_job_renders_trainer_and_rollout_nodes(tmp_path):
    profile = load_profile("mimo-7b")
    cluster = ClusterResource(**{**profile.cluster, "job_root": str(tmp_path / "jobs"), "dry_run": True})
    for stage in ("rl_zero_model", "rl_model"):
        config = RLConfig(**profile.assets[stage])
        spec = build_rl_job_spec(config, "rl", "0123456789ab", Path("/shared/mimo/train/rl/x/rl_config.yaml"),
                                 "/shared/mimo/lake/sft_model/x/model")
        files = cluster.render(spec, str(tmp_path / stage))
        script = Path(next(f for f in files if f.endswith("job.sbatch"))).read_text()
        trainer, rollout = script.split("#SBATCH hetjob")
        assert f"#SBATCH --nodes={config.nodes}" in trainer and "gpu:8" in trainer and "--partition=gpu" in trainer
        assert f"#SBATCH --nodes={config.rollout_nodes}" in rollout and "--ntasks-per-node=8" in rollout
        assert "gpu:8" in rollout
        assert "srun --het-group=1" in script and "--gpus-per-task=1" in script
        assert "mimo.rl.engines.server" in script and "--backend vllm" in script
        assert "srun --het-group=0" in script and "torch.distributed.run" in script and "mimo.rl.train" in script
        assert "SLURM_JOB_NODELIST_HET_GROUP_0" in script and "export MIMO_ENGINE_TOKEN=" in script
        assert "MIMO_COMPANION_DIR" in script and "trap" in script
        assert script.index("srun --het-group=1") < script.index("srun --het-group=0")  # engines first
        assert subprocess.run(["bash", "-n", str(Path(tmp_path / stage / "job.sbatch"))]).returncode == 0
        rl = RLTrainConfig(**yaml.safe_load(yaml.safe_dump(_rl_config(config, "rl", "/m", ["/p.parquet"],
                                                                      Path("/shared/out")))))
        assert rl.rollout_backend == "engines" and rl.engines.launch == "external" and rl.bf16
        assert rl.engines.count == config.rollout_nodes * config.engines == 128
        assert rl.engines.sync_backend == "nccl" and rl.engines.sync_host == "auto"
        assert rl.judge_url and rl.code_threads > 1


def test_tiny_rl_job_is_one_process_that_starts_its_engine():
    profile = load_profile("tiny")
    for stage in ("rl_zero_model", "rl_model"):
        config = RLConfig(**profile.assets[stage])
        spec = build_rl_job_spec(config, "rl", "0123456789ab", Path("/tmp/x.yaml"), "/tmp/m")
        assert spec.nodes == 1 and not spec.uses_torchrun and spec.companion is None
        rl = RLTrainConfig(**_rl_config(config, "rl", "/m", ["/p.parquet"], Path("/tmp/out")))
        assert rl.rollout_backend == "engines" and rl.engines.count == 1 and rl.engines.launch == "local"
