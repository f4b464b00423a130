"""Prompts for measuring speculative decoding: texts from a JSON-lines file, tokenized and cut."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def load_prompt_texts(path: str | Path, field: str = "problem", limit: int = 0) -> list[str]:
    """The non-empty string ``field`` of each row of a JSON-lines file (``.gz`` allowed), in file
    order, at most ``limit`` (0 = all). Malformed rows are skipped; none usable is an error."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    texts: list[str] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            try:
                value = json.loads(line).get(field) if line.strip() else None
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(value, str) and value.strip():
                texts.append(value)
                if limit and len(texts) >= limit:
                    break
    if not texts:
        raise ValueError(f"{path} has no row with a non-empty string field {field!r}")
    return texts


def encode_prompts(tokenizer: Any, texts: Sequence[str], max_tokens: int, chat: bool = False) -> list[list[int]]:
    """Token ids per text, no special tokens added (``chat=True``: the chat template with the
    generation prompt); longer prompts keep their last ``max_tokens`` tokens."""
    out = []
    for text in texts:
        if chat:
            text = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                 tokenize=False)
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if ids:
            out.append(ids[-max_tokens:])
    if not out:
        raise ValueError("every prompt tokenized to nothing")
    return out


__all__ = ["encode_prompts", "load_prompt_texts"]
