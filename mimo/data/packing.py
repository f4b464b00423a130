"""Tokenized, packed training shards and their memory-mapped, resumable reader.

Documents (each followed by the end-of-text token) are concatenated and cut into rows of
``seq_len`` tokens. Document boundaries are kept as ``positions``: the position id restarts at 0 at
every document start and at every row start (a document cut by a row boundary continues at 0 in
the next row). Trainers derive from positions both the RoPE position ids and a block-causal mask
(a token sees only earlier tokens of its own segment), and drop labels that would cross a
boundary. On disk (one directory): ``tokens.npy`` (uint32 [rows, seq_len]), ``positions.npy``
(uint16/uint32 [rows, seq_len]) and ``meta.json``; readers open them with ``mmap_mode="r"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class PackStats:
    """What went into a packed shard."""

    documents: int = 0
    tokens: int = 0
    rows: int = 0
    dropped_tail_tokens: int = 0


def pack_documents(docs: Iterable[list[int]], seq_len: int, eos_id: int, out_dir: str | os.PathLike,
                   meta: dict | None = None) -> PackStats:
    """Pack token lists into ``out_dir`` (created); the last partial row is dropped and counted."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    tokens: list[int] = []
    starts: list[int] = []
    stats = PackStats()
    for doc in docs:
        starts.append(len(tokens))
        tokens.extend(doc)
        tokens.append(eos_id)
        stats.documents += 1
    stats.tokens = len(tokens)
    n_rows, stats.dropped_tail_tokens = divmod(len(tokens), seq_len)
    stats.rows = n_rows
    flat_start = np.zeros(n_rows * seq_len, dtype=bool)
    kept_starts = np.asarray([s for s in starts if s < n_rows * seq_len], dtype=np.int64)
    flat_start[kept_starts] = True
    is_start = flat_start.reshape(n_rows, seq_len)
    is_start[:, 0] = True  # a document cut by a row boundary continues at position 0
    idx = np.arange(seq_len)
    positions = idx - np.maximum.accumulate(np.where(is_start, idx, 0), axis=1)
    tok = np.asarray(tokens[: n_rows * seq_len], dtype=np.uint32).reshape(n_rows, seq_len)
    pos_dtype = np.uint16 if seq_len <= np.iinfo(np.uint16).max else np.uint32
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "tokens.npy", tok)
    np.save(out / "positions.npy", positions.astype(pos_dtype))
    info = {"seq_len": seq_len, "rows": n_rows, "eos_id": eos_id, "documents": stats.documents,
            "tokens": int(n_rows * seq_len), "dropped_tail_tokens": stats.dropped_tail_tokens, **(meta or {})}
    (out / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    return stats


def segment_ids(positions: np.ndarray) -> np.ndarray:
    """Segment index per token (increments at every position reset), per row."""
    return np.cumsum(positions == 0, axis=-1)


def labels_from(tokens: np.ndarray, positions: np.ndarray, offset: int = 1, ignore: int = -100) -> np.ndarray:
    """Targets ``offset`` tokens ahead, ``ignore`` where the target lies in another segment or
    beyond the row (offset 1: next-token labels; offset 2: the first MTP layer's labels)."""
    seg = segment_ids(positions)
    out = np.full(tokens.shape, ignore, dtype=np.int64)
    same = seg[..., offset:] == seg[..., :-offset]
    out[..., :-offset] = np.where(same, np.asarray(tokens[..., offset:], dtype=np.int64), ignore)
    return out


class PackedDataset:
    """Memory-mapped packed shards with a seeded, resumable row order.

    ``state_dict()`` holds ``{"epoch", "cursor", "seed"}``; after ``load_state_dict`` the next
    batch is exactly the one an uninterrupted reader would have produced.
    """

    def __init__(self, dirs: Iterable[str | os.PathLike], seed: int = 0, holdout_rows: int = 0) -> None:
        self.dirs = [Path(d) for d in dirs]
        if not self.dirs:
            raise ValueError("PackedDataset needs at least one shard directory")
        self.tokens, self.positions, self.meta, self.loss_masks = [], [], [], []
        for d in self.dirs:
            try:
                meta = json.loads((d / "meta.json").read_text())
                tok = np.load(d / "tokens.npy", mmap_mode="r")
                pos = np.load(d / "positions.npy", mmap_mode="r")
            except (OSError, ValueError) as e:
                raise ValueError(f"packed shard {d} is missing or corrupt: {e}") from None
            if tok.shape != pos.shape or tok.shape[0] != meta.get("rows") or tok.shape[1] != meta.get("seq_len"):
                raise ValueError(f"packed shard {d} is inconsistent: tokens {tok.shape}, positions {pos.shape}, meta {meta}")
            self.tokens.append(tok)
            self.positions.append(pos)
            self.meta.append(meta)
            mask_path = d / "loss_mask.npy"
            self.loss_masks.append(np.load(mask_path, mmap_mode="r") if mask_path.exists() else None)
        lens = {m["seq_len"] for m in self.meta}
        if len(lens) != 1:
            raise ValueError(f"packed shards disagree on seq_len: {sorted(lens)}")
        self.seq_len = lens.pop()
        rows = [(s, r) for s, t in enumerate(self.tokens) for r in range(t.shape[0])]
        if holdout_rows and len(rows) <= holdout_rows:
            raise ValueError(f"packed shards hold {len(rows)} rows, not enough for {holdout_rows} held-out rows")
        self.holdout = rows[len(rows) - holdout_rows:] if holdout_rows else []
        self.index = rows[: len(rows) - holdout_rows]
        if not self.index:
            raise ValueError(f"packed shards {', '.join(map(str, self.dirs))} hold no rows")
        self.seed, self.epoch, self.cursor = seed, 0, 0
        self._order = self._permutation(0)

    def __len__(self) -> int:
        return len(self.index)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.index))

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.cursor = int(state["seed"]), int(state["epoch"]), int(state["cursor"])
        self._order = self._permutation(self.epoch)

    def _rows(self, picks: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        tok = np.stack([np.asarray(self.tokens[s][r], dtype=np.int64) for s, r in picks])
        pos = np.stack([np.asarray(self.positions[s][r], dtype=np.int64) for s, r in picks])
        if all(self.loss_masks[s] is None for s, _ in picks):
            return tok, pos, None
        mask = np.stack([np.asarray(self.loss_masks[s][r], dtype=bool) if self.loss_masks[s] is not None
                         else np.ones(self.seq_len, dtype=bool) for s, r in picks])
        return tok, pos, mask

    def next_batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(tokens, positions, loss_mask or None)``, each [batch_size, seq_len]; wraps into a new epoch."""
        picks = []
        for _ in range(batch_size):
            if self.cursor >= len(self._order):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            picks.append(self.index[self._order[self.cursor]])
            self.cursor += 1
        return self._rows(picks)

    def holdout_batch(self, start: int, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Held-out rows ``start .. start+batch_size`` (never returned by :meth:`next_batch`)."""
        return self._rows(self.holdout[start: start + batch_size])

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        while True:
            yield self.next_batch(batch_size)
