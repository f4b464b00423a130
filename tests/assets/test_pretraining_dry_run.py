"""The mimo-7b profile's training jobs render as multi-node sbatch scripts with a DeepSpeed config
(dry run: nothing submitted), and the tiny profile's as local single-process jobs."""

import json
from pathlib import Path

from assets.pretraining import StageTrainingConfig, build_job_spec
from pipelines.profiles import load_profile
from resources.cluster import ClusterResource


def test_mimo_7b_stage_jobs_render_multi_node(tmp_path):
    profile = load_profile("mimo-7b")
    cluster = ClusterResource(**{**profile.cluster, "job_root": str(tmp_path / "jobs"), "dry_run": True})
    for stage in ("pretrain_stage1", "pretrain_stage3"):
        config = StageTrainingConfig(**profile.assets[stage])
        spec = build_job_spec(config, stage, "0123456789ab", Path("/shared/mimo/train/x/train_config.yaml"))
        files = cluster.render(spec, str(tmp_path / stage))
        script = Path(next(f for f in files if f.endswith("job.sbatch"))).read_text()
        ds = json.loads(Path(next(f for f in files if f.endswith("ds_config.json"))).read_text())
        assert f"#SBATCH --nodes={config.nodes}" in script and "gpu:8" in script and "--partition=gpu" in script
        assert "mimo.train.pretrain" in script and ("torch.distributed.run" in script or "torchrun" in script)
        assert "source /shared/mimo/.venv/bin/activate" in script
        assert ds["zero_optimization"]["stage"] == 1 and ds["bf16"]["enabled"] is True
        assert ds["train_batch_size"] == config.batch_end and ds["gradient_clipping"] == 1.0


def test_tiny_stage_job_is_a_single_local_process():
    profile = load_profile("tiny")
    config = StageTrainingConfig(**profile.assets["pretrain_stage1"])
    spec = build_job_spec(config, "stage1", "0123456789ab", Path("/tmp/x.yaml"))
    assert spec.nodes == 1 and spec.gpus_per_node == 0 and spec.deepspeed is None and not spec.uses_torchrun
