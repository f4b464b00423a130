"""The RL problem set: curated parquet files -> usable :class:`~mimo.problems.records.Problem` s.

A usable problem has a non-empty prompt and something to score against: a math problem an answer,
a code problem at least one test. Unusable ones are dropped and counted; a set with none left is a
clear error (never an RL run that samples nothing)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def unusable_reason(p: Any) -> str:
    """Why a problem cannot be used for RL ("" when it can)."""
    if not (p.prompt or "").strip():
        return "empty prompt"
    if p.domain == "math":
        return "" if (p.answer or "").strip() else "math without answer"
    if p.domain == "code":
        return "" if p.tests else "code without tests"
    return f"unknown domain {p.domain!r}"


def load_problems(files: list[str]) -> tuple[list[Any], dict[str, int]]:
    """Usable problems of ``files`` (first occurrence of each id) and the dropped counts by reason;
    ``ValueError`` naming the reasons when no usable prompt is left."""
    import pyarrow.parquet as pq

    from mimo.problems.records import table_to_problems

    kept, dropped, seen = [], Counter(), set()
    total = 0
    for f in files:
        for p in table_to_problems(pq.read_table(f)):
            total += 1
            why = unusable_reason(p) or ("duplicate id" if p.id in seen else "")
            if why:
                dropped[why] += 1
                continue
            seen.add(p.id)
            kept.append(p)
    if not kept:
        detail = ", ".join(f"{n} {why}" for why, n in dropped.items()) or "the files hold no rows"
        raise ValueError(f"no usable prompt in {files}: {total} problems ({detail})")
    return kept, dict(dropped)
