"""Trainer ranks: the GRPO update sharded with FSDP2 over two torchrun ranks (gloo, CPU) gives the
same weights as one rank on the same samples, for each loss normalization."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[3]


def _torchrun(nproc: int, out: Path, loss_type: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "tests.rl.grpo.ranks_worker", str(out), loss_type]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("loss_type", ["token", "grpo"])
def test_two_sharded_ranks_take_the_same_update_as_one(tmp_path, loss_type):
    runs, history = {}, {}
    for n in (1, 2):
        run = _torchrun(n, tmp_path / f"w{n}.safetensors", loss_type)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        runs[n] = load_file(str(tmp_path / f"w{n}.safetensors"))
        history[n] = json.loads((tmp_path / f"w{n}.json").read_text())
    from mimo.model.presets import create_model
    from tests.rl.grpo.ranks_worker import SMALL

    init = create_model("tiny", stage=1, seed=0, **SMALL).state_dict()
    assert runs[1].keys() == runs[2].keys()
    moved = max(float((runs[1][k] - init[k]).abs().max()) for k in runs[1])
    assert moved > 1e-3  # the updates did change the weights
    for k in runs[1]:
        torch.testing.assert_close(runs[2][k], runs[1][k], rtol=1e-4, atol=2e-5)
    # Adam hides a gradient scale; the losses and pre-clip gradient norms do not
    for one, two in zip(history[1], history[2]):
        for key in ("loss", "grad_norm", "samples"):
            assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), key
