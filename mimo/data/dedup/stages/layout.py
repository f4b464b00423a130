"""Where the dedup stages keep their files, document ids, and atomic numpy writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ID_SHIFT = 32  # document id = shard << 32 | index in shard


def doc_ids(shard: int, n: int) -> np.ndarray:
    """Ids of the first ``n`` documents of ``shard``."""
    return (np.int64(shard) << np.int64(ID_SHIFT)) + np.arange(n, dtype=np.int64)


def shard_of(ids: np.ndarray) -> np.ndarray:
    return ids >> np.int64(ID_SHIFT)


def index_in_shard(ids: np.ndarray) -> np.ndarray:
    return ids & np.int64((1 << ID_SHIFT) - 1)


def band_dir(root: str | Path, shard: int) -> Path:
    """The signature stage's output for one shard (a directory renamed into place when complete)."""
    return Path(root) / "signatures" / f"s{shard:06d}"


def band_file(root: str | Path, shard: int, band: int, what: str) -> Path:
    """``keys`` (uint64, sorted), ``rows`` (uint32 [n, r]) or ``ids`` (int64) of one band of one shard."""
    return band_dir(root, shard) / f"b{band:03d}.{what}.npy"


def pairs_file(root: str | Path, band: int, part: int) -> Path:
    return Path(root) / "pairs" / f"b{band:03d}-p{part:05d}.npy"


def removed_file(root: str | Path, shard: int) -> Path:
    """``[k, 2]`` int64: index in shard of each removed document, and the id its cluster keeps."""
    return Path(root) / "removed" / f"s{shard:06d}.npy"


def save_atomic(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)
