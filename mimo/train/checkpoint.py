"""Atomic training checkpoints: model, optimizer, schedule position, data position, RNG states.

Layout under a run directory::

    checkpoints/step-00000120/      model (save_pretrained), trainer_state.pt, COMPLETE
    checkpoints/latest              name of the newest complete checkpoint (written last)

A checkpoint is written to ``step-XXXXXXXX.tmp-<pid>`` and renamed into place only when complete;
``latest`` is replaced atomically after the rename. :func:`latest_checkpoint` never returns a
directory without its ``COMPLETE`` marker, so a kill -9 mid-write is harmless.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

COMPLETE = "COMPLETE"
STATE_FILE = "trainer_state.pt"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_error(error: BaseException, where: Path, what: str, after: str = "") -> OSError:
    """An ``OSError`` that names why a write failed. ``torch.save`` reports a full disk as a
    ``RuntimeError`` about zip positions; when little space is left that is named as the cause."""
    errno_, cause = getattr(error, "errno", None), getattr(error, "strerror", None)
    if not cause:
        try:
            free = shutil.disk_usage(where).free
        except OSError:
            free = None
        if free is not None and free < 64 * 2**20:
            import errno as errno_mod

            errno_, cause = errno_mod.ENOSPC, f"No space left on device ({free} bytes free on {where})"
        else:
            cause = f"{type(error).__name__}: {error}"
    return OSError(errno_, f"{what} ({cause})" + (f"; {after}" if after else ""))


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (restored on resume for bit-identical CPU runs)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(root: str | os.PathLike, step: int, model: Any, trainer_state: dict[str, Any],
                    keep_last: int = 2, staged: Path | None = None) -> Path:
    """Write ``<root>/step-<step>`` atomically, point ``latest`` at it, prune older ones.

    ``staged``: a directory other writers (DeepSpeed ranks) already filled; it becomes the
    checkpoint's temporary directory, so it is published together with the model."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f"{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        if staged is not None:
            os.replace(staged, tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        torch.save({**trainer_state, "rng": rng_state(), "step": step}, tmp / STATE_FILE)
        (tmp / COMPLETE).write_text(str(step))
        _fsync_dir(tmp)
    except (OSError, RuntimeError) as e:  # disk full, quota, I/O error: drop the partial copy, keep `latest`
        shutil.rmtree(tmp, ignore_errors=True)
        keep = latest_checkpoint(root)
        raise write_error(e, root, f"checkpoint {final} was not written",
                          f"the newest complete checkpoint is still {keep.name if keep else 'none'}") from e
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    pointer = root / f"latest.tmp-{os.getpid()}"
    pointer.write_text(final.name)
    os.replace(pointer, root / "latest")
    _fsync_dir(root)
    for old in complete_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint directories, oldest first (temp and half-written ones excluded)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and p.name.startswith("step-") and ".tmp-" not in p.name and (p / COMPLETE).exists())


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint (``latest`` if valid, else the newest complete directory)."""
    root = Path(root)
    pointer = root / "latest"
    if pointer.exists():
        candidate = root / pointer.read_text().strip()
        if (candidate / COMPLETE).exists():
            return candidate
    done = complete_checkpoints(root)
    return done[-1] if done else None


def load_trainer_state(path: str | os.PathLike) -> dict[str, Any]:
    """The trainer state of a checkpoint directory (clear error when it is not complete)."""
    path = Path(path)
    if not (path / COMPLETE).exists():
        raise ValueError(f"{path} is not a complete checkpoint (no {COMPLETE} marker)")
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
