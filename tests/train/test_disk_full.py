"""A disk that fills during training: the run stops with an error naming the cause, the partial
checkpoint is removed, and ``latest`` still names the last complete one. The output directory is a
real size-limited tmpfs (bubblewrap ``--size --tmpfs``), so the failure is a genuine ENOSPC."""

import shutil
import subprocess
import sys

import pytest

from mimo.train.checkpoint import latest_checkpoint
from tests.train.test_resume import REPO, _config, data  # noqa: F401  (module fixture)

BWRAP = shutil.which("bwrap")


def _fits_one_checkpoint(data, tmp_path) -> int:  # noqa: F811
    """Bytes of one checkpoint of the test model (measured on the real disk)."""
    cfg = _config(data, tmp_path / "probe", stage_tokens=64 * 4 * 3, checkpoint_every_steps=3)
    run = subprocess.run([sys.executable, "-m", "mimo.train.pretrain", "--config", str(cfg)], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    ckpt = latest_checkpoint(tmp_path / "probe/checkpoints")
    return sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file())


@pytest.mark.skipif(BWRAP is None, reason="bubblewrap (scripts/system-deps.sh) provides the size-limited tmpfs")
def test_disk_full_keeps_the_last_complete_checkpoint(data, tmp_path):  # noqa: F811
    one = _fits_one_checkpoint(data, tmp_path)
    disk = tmp_path / "small-disk"
    disk.mkdir()
    out = disk / "run"
    cfg = _config(data, tmp_path / "run", stage_tokens=64 * 4 * 12, checkpoint_every_steps=3)
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "run"), str(out)))  # the config stays outside the tmpfs
    size = int(one * 1.5)  # room for the first checkpoint, not for the second
    cmd = [BWRAP, "--dev-bind", "/", "/", "--size", str(size), "--tmpfs", str(disk), "--",
           sys.executable, "-c",
           "import pathlib, subprocess, sys; "
           f"r = subprocess.run([sys.executable, '-m', 'mimo.train.pretrain', '--config', {str(cfg)!r}]); "
           f"ok = sorted(str(p) for p in pathlib.Path({str(out)!r}).rglob('*')); "
           "print('FILES', ok); sys.exit(r.returncode)"]
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    text = run.stdout + run.stderr
    assert run.returncode == 1, text[-3000:]
    assert "No space left on device" in text and "was not written" in text, text[-3000:]
    assert "the newest complete checkpoint is still step-00000003" in text, text[-3000:]
    listing = next(line for line in run.stdout.splitlines() if line.startswith("FILES"))
    assert "step-00000003/COMPLETE" in listing and ".tmp-" not in listing and "step-00000006" not in listing
