"""The RL entry point end to end on a tiny model: rollouts through the seamless engine with real
Math-Verify rewards in worker processes, GRPO updates, per-step metrics, checkpoints, resume, the
easy pool, and clear errors for bad configs and empty problem sets."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mimo.problems.records import Problem, problems_to_table
from tests.rl.toy_policy_dir import save_toy_policy

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("rl")
    _, problems = save_toy_policy(root)
    pq.write_table(problems_to_table(problems), root / "problems.parquet")
    return root, problems


def _config(root, out, **extra):
    cfg = {"stage": "rl_zero", "init_from": str(root / "init"), "problem_files": [str(root / "problems.parquet")],
           "out_dir": str(out), "threads": 1, "checkpoint_every_steps": 1, "reward_workers": 1,
           "grpo": {"num_generations": 4, "batch_prompts": 2, "mini_batch_prompts": 1, "micro_batch_samples": 8,
                    "learning_rate": 1e-4, "max_completion_length": 24, "steps": 2, "max_sampling_rounds": 8,
                    "seed": 0}}
    for k, v in extra.items():
        if k == "grpo":
            cfg["grpo"].update(v)
        else:
            cfg[k] = v
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(cfg_path, timeout=300):
    return subprocess.run([sys.executable, "-m", "mimo.rl.train", "--config", str(cfg_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_rl_trains_checkpoints_and_resumes(setup, tmp_path):
    root, _ = setup
    cfg = _config(root, tmp_path / "run", grpo={"temperature": 1.0})
    run = _run(cfg)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = [json.loads(line.split(" metrics ", 1)[1]) for line in run.stdout.splitlines() if " metrics " in line]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["groups"] == 2 and m["samples"] + m["masked_samples"] == 8 and m["batch_complete"]
        assert 0 <= m["idle_fraction"] <= 1 and "clip_fraction_high" in m and "easy_pool_size" in m
    final = tmp_path / "run/final"
    summary = json.loads((final / "training_summary.json").read_text())
    assert summary["steps"] == 2 and (final / "rl_curves.png").exists()
    assert (final / "model.safetensors").exists()
    # resume: two more steps continue from the step-2 checkpoint
    more = _run(_config(root, tmp_path / "run", grpo={"steps": 3}))
    assert more.returncode == 0, more.stderr[-3000:]
    assert "resumed from" in more.stdout and json.loads((final / "training_summary.json").read_text())["steps"] == 3
    again = _run(_config(root, tmp_path / "run", grpo={"steps": 3}))
    assert again.returncode == 0 and "nothing to train" in again.stdout


def test_rl_with_the_inflight_backend(setup, tmp_path):
    # per-sequence scheduling: early termination aborts in-flight rollouts instead of waiting for them;
    # the update runs while the decode loop is held
    root, _ = setup
    run = _run(_config(root, tmp_path / "run", rollout_backend="inflight"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = [json.loads(line.split(" metrics ", 1)[1]) for line in run.stdout.splitlines() if " metrics " in line]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["groups"] == 2 and m["samples"] + m["masked_samples"] == 8 and m["batch_complete"]
        assert 0 <= m["idle_fraction"] <= 1
    assert json.loads((tmp_path / "run/final/training_summary.json").read_text())["steps"] == 2


def test_bad_config_and_empty_problem_set_are_clear(setup, tmp_path):
    import pyarrow.parquet as pq

    root, _ = setup
    bad = _config(root, tmp_path / "bad", grpo={"epsilonhigh": 0.3})
    run = _run(bad)
    assert run.returncode == 2 and "epsilonhigh" in run.stderr
    pq.write_table(problems_to_table([Problem(id="x", source="t", domain="math", prompt="p", answer="1")])
                   .slice(0, 0), tmp_path / "none.parquet")
    empty = _config(root, tmp_path / "empty", problem_files=[str(tmp_path / "none.parquet")])
    run = _run(empty)
    assert run.returncode == 1 and "no usable prompt" in run.stderr


NAIVE = dict(continuous=False, async_reward=False, early_termination=False)


def _final_weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _metrics(run):
    return [json.loads(line.split(" metrics ", 1)[1]) for line in run.stdout.splitlines() if " metrics " in line]


def test_nan_loss_stops_with_a_checkpoint_of_the_last_good_step_and_resumes_exactly(setup, tmp_path):
    """Naive rollouts and per-task seeds make the run deterministic: the run that hit a NaN loss at
    step 3 and was resumed ends with the weights of an uninterrupted run."""
    import torch

    root, _ = setup
    common = dict(checkpoint_every_steps=5, **NAIVE)
    ref = _run(_config(root, tmp_path / "ref", grpo={"steps": 3}, **common))
    assert ref.returncode == 0, ref.stderr[-3000:]
    bad = _run(_config(root, tmp_path / "run", grpo={"steps": 3}, fail_nan_at_step=3, **common))
    assert bad.returncode == 1
    assert "non-finite GRPO loss" in bad.stderr and "last good step 2" in bad.stderr, bad.stderr[-2000:]
    ckpts = tmp_path / "run/checkpoints"
    assert (ckpts / "latest").read_text() == "step-00000002"  # written by the failure, not the schedule
    assert not (tmp_path / "run/final").exists()
    assert [m["step"] for m in _metrics(bad)] == [1, 2]
    again = _run(_config(root, tmp_path / "run", grpo={"steps": 3}, **common))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stdout and "at step 2" in again.stdout
    assert [m["step"] for m in _metrics(again)] == [3]
    a, b = _final_weights(tmp_path / "ref/final"), _final_weights(tmp_path / "run/final")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    init = _final_weights(root / "init")
    assert any(not torch.equal(a[k], init[k]) for k in a)  # the run did train
    history = json.loads((tmp_path / "run/final/rl_history.json").read_text())
    ref_history = json.loads((tmp_path / "ref/final/rl_history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3]
    assert [h.get("reward_mean") for h in history] == [h.get("reward_mean") for h in ref_history]


def test_hung_reward_workers_are_masked_and_the_step_goes_on(setup, tmp_path):
    """Every reward worker hangs past its deadline: the worker is killed and replaced, the samples
    are masked and counted, the update is skipped, the run ends normally."""
    root, _ = setup
    cfg = _config(root, tmp_path / "hang", reward_timeout_s=0.5, reward_hang_s=600.0,
                  grpo={"steps": 1, "max_sampling_rounds": 1})
    run = _run(cfg)
    assert run.returncode == 0, run.stderr[-3000:]
    (m,) = _metrics(run)
    assert m["update_skipped"] and m["valid_groups"] == 0 and m["reward_failures"] == 2 * 4
    assert "update skipped" in run.stdout and (tmp_path / "hang/final/model.safetensors").exists()


def test_problem_set_without_a_usable_prompt_is_a_clear_error(setup, tmp_path):
    import pyarrow.parquet as pq

    from mimo.problems.records import TestCase

    root, _ = setup
    unusable = [Problem(id="m", source="t", domain="math", prompt="What is 1 + 1?", answer=None),
                Problem(id="c", source="t", domain="code", prompt="Print 1.", tests=()),
                Problem(id="e", source="t", domain="code", prompt="  ", tests=(TestCase(input="", output="1\n"),))]
    pq.write_table(problems_to_table(unusable), tmp_path / "unusable.parquet")
    run = _run(_config(root, tmp_path / "unusable", problem_files=[str(tmp_path / "unusable.parquet")]))
    assert run.returncode == 1
    assert "no usable prompt" in run.stderr and "math without answer" in run.stderr
    assert "code without tests" in run.stderr and "empty prompt" in run.stderr
