"""Two-rank DDP over gloo (torchrun on CPU) trains the same model as one process with the same
global batch: same data rows, averaged gradients, only rank 0 writes."""

import subprocess
import sys

import torch
from safetensors.torch import load_file

from tests.train.test_resume import REPO, _config, data  # noqa: F401  (module fixture)


def _torchrun(cfg_path, nproc):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mimo.train.pretrain", "--config", str(cfg_path)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_two_ranks_match_one_process(data, tmp_path):  # noqa: F811
    kw = {"stage_tokens": 64 * 4 * 6, "checkpoint_every_steps": 100}
    single = _torchrun(_config(data, tmp_path / "one", **kw), 1)
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-2000:]
    double = _torchrun(_config(data, tmp_path / "two", **kw), 2)
    assert double.returncode == 0, double.stdout[-2000:] + double.stderr[-2000:]
    assert "world size 2" in double.stdout
    a = load_file(str(tmp_path / "one/final/model.safetensors"))
    b = load_file(str(tmp_path / "two/final/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
