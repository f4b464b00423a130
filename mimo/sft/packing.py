"""Tokenize conversations with the model's chat template and pack them for SFT.

Every sample becomes ``(ids, mask)``: ``mask[i]`` is True where token ``i`` is a training target,
i.e. the content of an assistant message and its closing ``<|im_end|>``; system and user turns and
the assistant header are context only. The conversation is rendered with the tokenizer's chat
template and cut at message boundaries; each piece is tokenized on its own, so the prompt tokens
are exactly those the model sees at generation time (``add_generation_prompt=True``).

Packing: samples are placed whole into rows of ``seq_len`` tokens (first fit, in the given order),
the rest of a row is padding (its own segment, no targets). Positions restart at 0 at every sample,
so the model's block-causal mask keeps samples from attending to each other, and no label crosses
a sample boundary. A sample longer than ``seq_len`` is dropped and counted, never truncated. Output
is the pretraining shard format plus ``loss_mask.npy`` (``mimo.data.packing.PackedDataset`` reads it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _render(tokenizer: Any, messages: Sequence[dict], generation_prompt: bool = False) -> str:
    if not messages and not generation_prompt:
        return ""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def tokenize_conversation(messages: Sequence[dict], tokenizer: Any) -> tuple[list[int], list[bool]]:
    """Token ids and target mask of one conversation (targets: assistant contents + their end token)."""
    ids: list[int] = []
    mask: list[bool] = []
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def add(text: str, target: bool) -> None:
        if text:
            piece = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            mask.extend([target] * len(piece))

    previous = ""
    for k, message in enumerate(messages):
        upto = _render(tokenizer, messages[:k + 1])
        if not upto.startswith(previous):
            raise ValueError("the chat template does not render conversations prefix by prefix; "
                             "SFT masking needs a template where each message only appends text")
        if message["role"] == "assistant":
            header = _render(tokenizer, messages[:k], generation_prompt=True)
            if not (header.startswith(previous) and upto.startswith(header)):
                raise ValueError("the chat template's generation prompt is not a prefix of the assistant turn")
            add(header[len(previous):], False)
            body = upto[len(header):]
            add_end = body.rfind("<|im_end|>")
            if add_end < 0:
                raise ValueError("assistant turn has no <|im_end|> in the rendered template")
            add(body[:add_end], True)
            ids.append(end)
            mask.append(True)
            add(body[add_end + len("<|im_end|>"):], False)
        else:
            add(upto[len(previous):], False)
        previous = upto
    return ids, mask


@dataclass
class SFTPackStats:
    """What went into the SFT shard."""

    samples: int = 0
    dropped_too_long: int = 0
    rows: int = 0
    tokens: int = 0
    target_tokens: int = 0
    padding_tokens: int = 0


def pack_sft(samples: Sequence[tuple[list[int], list[bool]]], seq_len: int, pad_id: int,
             out_dir: str | os.PathLike, meta: dict | None = None) -> SFTPackStats:
    """Pack ``(ids, mask)`` samples whole into rows (first fit) and write the shard to ``out_dir``."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    stats = SFTPackStats()
    rows: list[list[tuple[list[int], list[bool]]]] = []
    free: list[int] = []
    for ids, mask in samples:
        if len(ids) != len(mask):
            raise ValueError("ids and mask differ in length")
        if len(ids) > seq_len:
            stats.dropped_too_long += 1
            continue
        if not any(mask):
            raise ValueError("a sample has no target token (no assistant turn)")
        slot = next((i for i, f in enumerate(free) if f >= len(ids)), None)
        if slot is None:
            rows.append([])
            free.append(seq_len)
            slot = len(rows) - 1
        rows[slot].append((ids, mask))
        free[slot] -= len(ids)
        stats.samples += 1
    n = len(rows)
    tokens = np.full((n, seq_len), pad_id, dtype=np.uint32)
    positions = np.zeros((n, seq_len), dtype=np.int64)
    loss_mask = np.zeros((n, seq_len), dtype=bool)
    for r, row in enumerate(rows):
        col = 0
        for ids, mask in row:
            tokens[r, col:col + len(ids)] = ids
            positions[r, col:col + len(ids)] = np.arange(len(ids))
            loss_mask[r, col:col + len(ids)] = mask
            col += len(ids)
        positions[r, col:] = np.arange(seq_len - col)  # padding: a segment of its own
        stats.padding_tokens += seq_len - col
    stats.rows, stats.tokens, stats.target_tokens = n, n * seq_len, int(loss_mask.sum())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pos_dtype = np.uint16 if seq_len <= np.iinfo(np.uint16).max else np.uint32
    np.save(out / "tokens.npy", tokens)
    np.save(out / "positions.npy", positions.astype(pos_dtype))
    np.save(out / "loss_mask.npy", loss_mask)
    info = {"seq_len": seq_len, "rows": n, "eos_id": pad_id, "documents": stats.samples, "tokens": stats.tokens,
            "target_tokens": stats.target_tokens, "padding_tokens": stats.padding_tokens,
            "dropped_too_long": stats.dropped_too_long, "format": "sft", **(meta or {})}
    (out / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    return stats
