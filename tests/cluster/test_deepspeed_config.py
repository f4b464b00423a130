"""DeepSpeed config rendering: batch arithmetic, ZeRO stages, CPU AdamW, clear errors."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mimo.cluster import JobSpec
from mimo.cluster.deepspeed import (
    DeepSpeedOptions,
    deepspeed_config,
    gradient_accumulation,
    write_deepspeed_config,
)
from mimo.cluster.job import prepare_job_dir


def test_batch_arithmetic_for_a_multinode_job():
    cfg = deepspeed_config(DeepSpeedOptions(micro_batch_per_gpu=4, global_batch=4096), world_size=256)
    assert cfg["train_batch_size"] == 4096
    assert cfg["train_micro_batch_size_per_gpu"] == 4 and cfg["gradient_accumulation_steps"] == 4
    assert cfg["train_batch_size"] == (cfg["train_micro_batch_size_per_gpu"]
                                       * cfg["gradient_accumulation_steps"] * 256)


def test_indivisible_global_batch_names_the_numbers():
    with pytest.raises(ValueError, match=r"global batch 1000 is not a multiple of micro batch 2 × world size 256 = 512"):
        gradient_accumulation(1000, 2, 256)
    with pytest.raises(ValueError):
        deepspeed_config(DeepSpeedOptions(global_batch=6), world_size=4)


def test_optimizer_and_precision_defaults():
    cfg = deepspeed_config(DeepSpeedOptions(global_batch=8, lr=1e-4), world_size=8)
    opt = cfg["optimizer"]
    assert opt["type"] == "AdamW"
    assert opt["params"] == {"lr": 1e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1}
    assert cfg["bf16"] == {"enabled": True} and cfg["fp16"] == {"enabled": False}
    assert cfg["gradient_clipping"] == 1.0
    assert cfg["zero_optimization"]["stage"] == 2 and cfg["zero_optimization"]["overlap_comm"] is True


def test_cpu_uses_torch_adam_and_no_pinned_memory():
    cfg = deepspeed_config(DeepSpeedOptions(global_batch=2, cpu=True, zero_stage=2, offload_optimizer="cpu"),
                           world_size=2)
    assert cfg["optimizer"]["params"]["torch_adam"] is True
    assert cfg["zero_optimization"]["offload_optimizer"] == {"device": "cpu", "pin_memory": False}


def test_zero3_fields_and_offload_rules():
    z3 = deepspeed_config(DeepSpeedOptions(global_batch=16, zero_stage=3, offload_params="cpu"), world_size=16)
    zero = z3["zero_optimization"]
    assert zero["stage"] == 3 and zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero["offload_param"] == {"device": "cpu", "pin_memory": True}
    z0 = deepspeed_config(DeepSpeedOptions(global_batch=16, zero_stage=0), world_size=16)
    assert z0["zero_optimization"] == {"stage": 0}
    with pytest.raises(ValidationError, match="offload_params needs zero_stage 3"):
        DeepSpeedOptions(global_batch=16, zero_stage=2, offload_params="cpu")
    with pytest.raises(ValidationError, match="offload_optimizer needs zero_stage >= 1"):
        DeepSpeedOptions(global_batch=16, zero_stage=0, offload_optimizer="cpu")


def test_written_config_and_job_env(tmp_path):
    cfg = deepspeed_config(DeepSpeedOptions(global_batch=4), world_size=2)
    path = write_deepspeed_config(cfg, str(tmp_path / "ds.json"))
    assert json.loads(Path(path).read_text()) == cfg
    spec = JobSpec(name="x", command=["true"], deepspeed=cfg, env={"A": "1"})
    env = prepare_job_dir(spec, str(tmp_path / "job"))
    assert env["A"] == "1" and env["MIMO_JOB_DIR"] == str(tmp_path / "job")
    assert json.loads(Path(env["MIMO_DEEPSPEED_CONFIG"]).read_text()) == cfg
