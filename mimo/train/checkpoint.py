"""Atomic training checkpoints: model, optimizer, schedule position, data position, RNG states.

Layout under a run directory::

    checkpoints/step-00000120/      model (save_pretrained), trainer_state.pt, COMPLETE
    checkpoints/latest              name of the newest complete checkpoint (written last)

A checkpoint is written to ``step-XXXXXXXX.tmp-<pid>`` and renamed into place only when complete;
``latest`` is replaced atomically after the rename. Old or replaced checkpoints are renamed to
``*.trash-<pid>`` before they are deleted, so a kill -9 mid-delete never leaves a half-deleted
``step-*`` directory behind. :func:`latest_checkpoint` only returns a directory with its ``COMPLETE``
marker, trainer state and model weights; a newer one without them is skipped with a warning naming
what is missing, and the previous complete checkpoint (or a fresh start) is used.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

COMPLETE = "COMPLETE"
STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d{8})$")
log = logging.getLogger(__name__)


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
        _remove(final)
    os.replace(tmp, final)
    pointer = root / f"latest.tmp-{os.getpid()}"
    pointer.write_text(final.name)
    os.replace(pointer, root / "latest")
    _fsync_dir(root)
    for old in complete_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        _remove(old)
    for trash in root.glob("*.trash-*"):  # left by a kill -9 mid-delete
        shutil.rmtree(trash, ignore_errors=True)
    return final


def _remove(path: Path) -> None:
    """Delete a checkpoint directory: rename it out of the ``step-*`` namespace first (atomic), so an
    interrupted delete never leaves a ``step-*`` directory with some files gone."""
    trash = path.with_name(f"{path.name}.trash-{os.getpid()}")
    try:
        os.replace(path, trash)
    except OSError:
        trash = path
    shutil.rmtree(trash, ignore_errors=True)


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a usable checkpoint (no ``COMPLETE`` marker, no trainer state, no model
    weights), or None when it is."""
    path = Path(path)
    if not (path / COMPLETE).is_file():
        return f"no {COMPLETE} marker (half-written or half-deleted)"
    if not (path / STATE_FILE).is_file() or (path / STATE_FILE).stat().st_size == 0:
        return f"no {STATE_FILE}"
    weights = [p for p in path.glob("*.safetensors") if p.stat().st_size > 0]
    if not (path / "config.json").is_file() or not weights:
        return "no model weights (config.json, *.safetensors)"
    return None


def _step_dirs(root: Path) -> list[Path]:
    """``step-XXXXXXXX`` directories, oldest first (temp and trash directories excluded)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name) and p.is_dir())


def complete_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoint directories (``COMPLETE`` marker present), oldest first."""
    return [p for p in _step_dirs(Path(root)) if (p / COMPLETE).exists()]


def latest_checkpoint(root: str | os.PathLike, warn: Callable[[str], None] | None = None) -> Path | None:
    """The newest usable checkpoint under ``root``, or None.

    Newer ``step-*`` directories that are not usable (see :func:`checkpoint_problem`) are skipped,
    each with a warning through ``warn`` (default: this module's logger) naming what is missing.
    (``latest`` names the newest one too; a kill -9 between publishing a checkpoint and updating the
    pointer leaves it one behind, so the directories themselves decide.)"""
    warn = warn or log.warning
    skipped = 0
    for path in reversed(_step_dirs(Path(root))):
        problem = checkpoint_problem(path)
        if problem is None:
            if skipped:
                warn(f"resuming from the previous complete checkpoint {path}")
            return path
        warn(f"skipping checkpoint {path}: {problem}")
        skipped += 1
    if skipped:
        warn(f"no usable checkpoint in {root}: starting fresh")
    return None


def load_trainer_state(path: str | os.PathLike) -> dict[str, Any]:
    """The trainer state of a checkpoint directory (clear error when it is not complete)."""
    path = Path(path)
    problem = checkpoint_problem(path)
    if problem is not None:
        raise ValueError(f"{path} is not a complete checkpoint ({problem})")
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
