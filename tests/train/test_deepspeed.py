"""DeepSpeed ZeRO (CPU, gloo, torch AdamW) through the same loop: two ranks with ZeRO-2 train the
same model as one plain-torch process, the checkpoint holds every rank's optimizer partition, and a
stopped run resumes from it to the same weights as an uninterrupted one."""

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mimo.train.checkpoint import latest_checkpoint
from tests.train.test_resume import REPO, _config, data  # noqa: F401  (module fixture)

pytest.importorskip("deepspeed")


def _torchrun(cfg_path, nproc):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mimo.train.pretrain", "--config", str(cfg_path)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=400)


def _close(a_dir, b_dir, **tol):
    a = load_file(str(a_dir / "final/model.safetensors"))
    b = load_file(str(b_dir / "final/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], **tol)


def test_zero2_two_ranks_match_plain_torch_and_resume(data, tmp_path):  # noqa: F811
    kw = {"stage_tokens": 64 * 4 * 6, "checkpoint_every_steps": 3}
    ds = {"backend": "deepspeed", "deepspeed": {"zero_stage": 2}}
    plain = _torchrun(_config(data, tmp_path / "plain", **kw), 1)
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    zero = _torchrun(_config(data, tmp_path / "zero", **kw, **ds), 2)
    assert zero.returncode == 0, zero.stdout[-3000:] + zero.stderr[-3000:]
    assert "data parallel (deepspeed): world size 2" in zero.stdout
    _close(tmp_path / "plain", tmp_path / "zero", rtol=1e-4, atol=1e-5)
    ckpt = latest_checkpoint(tmp_path / "zero/checkpoints")
    parts = sorted(p.name for p in (ckpt / "deepspeed").iterdir())
    assert sum("optim_states" in p for p in parts) == 2, parts  # one ZeRO partition per rank

    # stop after step 3 (a run with half the tokens), then continue the same run to 6 steps
    half = _torchrun(_config(data, tmp_path / "resumed", stage_tokens=64 * 4 * 3, checkpoint_every_steps=3, **ds), 2)
    assert half.returncode == 0, half.stdout[-2000:] + half.stderr[-2000:]
    (tmp_path / "resumed/final").rename(tmp_path / "resumed/final-half")
    rest = _torchrun(_config(data, tmp_path / "resumed", **kw, **ds), 2)
    assert rest.returncode == 0, rest.stdout[-2000:] + rest.stderr[-2000:]
    assert "resumed from" in rest.stdout
    _close(tmp_path / "zero", tmp_path / "resumed", rtol=1e-6, atol=1e-7)


def test_zero3_is_refused_with_a_clear_error(data, tmp_path):  # noqa: F811
    run = _torchrun(_config(data, tmp_path / "z3", backend="deepspeed", deepspeed={"zero_stage": 3}), 1)
    assert run.returncode != 0
    assert "ZeRO stage 3 is not supported" in run.stderr + run.stdout
