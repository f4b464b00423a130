"""One trainer per output directory: the training entrypoints (``mimo.train.pretrain``, which SFT
uses too, and ``mimo.rl.train``) hold ``<out_dir>/.trainer.lock``; a second one on the same
directory exits at once (status 75) naming the holder, under torchrun as well. The lock dies with
its holder (kill -9)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mimo.cluster.locks import TRAINER_LOCK, TrainerLockBusy, read_holder, trainer_lock
from tests.cluster.conftest import REPO

HOLDER = """
import sys, time
from mimo.cluster.locks import trainer_lock
with trainer_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MIMO_STATE_DIR": str(tmp_path / "state"), "MPLCONFIGDIR": str(tmp_path / "mpl"),
            "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture
def held_dir(tmp_path):
    """A stage directory whose trainer lock another process holds (as job ``stage1-abc``)."""
    out = tmp_path / "work" / "stage1" / "abc"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env=_env(tmp_path, MIMO_JOB_NAME="stage1-abc", RANK="0"))
    try:
        assert proc.stdout.readline().strip() == "held"
        yield out, proc
    finally:
        proc.kill()
        proc.wait()


def _entrypoint(tmp_path: Path, module: str, cfg: dict, torchrun: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    path = tmp_path / f"{module.rsplit('.', 2)[-2]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    argv = [sys.executable, "-m", module, "--config", str(path)]
    if torchrun:
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
                "--no-python", *argv]
    env = _env(tmp_path)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID"):
        env.pop(var, None)
    t0 = time.monotonic()
    res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    return res, time.monotonic() - t0


def _assert_refused(res: subprocess.CompletedProcess, out: Path, holder_pid: int) -> None:
    err = res.stdout + res.stderr
    assert f"another trainer is already running on {out}" in err, err[-3000:]
    assert f"pid {holder_pid}" in err and "job_name stage1-abc" in err, err[-3000:]
    assert not (out / "checkpoints").exists() and not (out / "final").exists()


def test_second_pretrain_trainer_exits_at_once(tmp_path, held_dir):
    out, proc = held_dir
    cfg = {"stage": "stage1", "data_dirs": [str(tmp_path / "data")], "out_dir": str(out), "stage_tokens": 4096}
    res, elapsed = _entrypoint(tmp_path, "mimo.train.pretrain", cfg)
    assert res.returncode == TrainerLockBusy.exit_code == 75
    _assert_refused(res, out, proc.pid)
    assert elapsed < 30


def test_second_rl_trainer_exits_at_once(tmp_path, held_dir):
    out, proc = held_dir
    cfg = {"init_from": str(tmp_path / "model"), "problem_files": [str(tmp_path / "p.parquet")], "out_dir": str(out)}
    res, elapsed = _entrypoint(tmp_path, "mimo.rl.train", cfg)
    assert res.returncode == 75
    _assert_refused(res, out, proc.pid)
    assert elapsed < 30


def test_torchrun_second_trainer_is_torn_down(tmp_path, held_dir):
    """Rank 0 takes the lock; when it is refused, torchrun stops the other rank too."""
    out, proc = held_dir
    cfg = {"stage": "stage1", "data_dirs": [str(tmp_path / "data")], "out_dir": str(out), "stage_tokens": 4096}
    res, elapsed = _entrypoint(tmp_path, "mimo.train.pretrain", cfg, torchrun=True)
    assert res.returncode != 0
    _assert_refused(res, out, proc.pid)
    assert elapsed < 60


def test_lock_records_its_holder_and_dies_with_it(tmp_path):
    out = tmp_path / "stage"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env=_env(tmp_path, MIMO_JOB_NAME="sft-1234", RANK="0"))
    try:
        assert holder.stdout.readline().strip() == "held"
        info = read_holder(str(out / TRAINER_LOCK))
        assert info["pid"] == holder.pid and info["job_name"] == "sft-1234" and info["host"]
        with pytest.raises(TrainerLockBusy, match=f"pid {holder.pid}"), trainer_lock(out, rank=0):
            pass
        with trainer_lock(out, rank=1) as path:  # other ranks never take it
            assert path is None
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with trainer_lock(out, rank=0) as path:  # the kernel released it with its holder
            assert json.loads(Path(path).read_text())["pid"] == os.getpid()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
