"""The RL loop through the new topology: rollouts from engine processes (weights pushed after every
update over a gloo group), the update on one or two FSDP2 trainer ranks under torchrun. Two ranks
with two engines take the same steps as one rank with one engine (naive scheduling, seeded
samples); an engine that cannot start is a clear error, not a hang."""

import json
import subprocess
import sys

import pytest
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
