"""Which synthetic conversations become SFT samples (MiMo §3.1): incomplete responses dropped,
mixed-language responses dropped, queries with a 16-gram overlap with an evaluation set dropped, at
most N responses per query. Every removal is counted by reason; nothing is dropped silently."""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from mimo.data.decontam import ContaminationIndex

ANSWER_MARKERS = ("\\boxed", "```")  # a math answer or a program: the end of a reasoning response
SCRIPTS = ("LATIN", "CJK", "HIRAGANA", "KATAKANA", "HANGUL", "CYRILLIC", "ARABIC", "HEBREW", "GREEK",
           "DEVANAGARI", "THAI")


def script_of(ch: str) -> str | None:
    """The writing system of a letter (Unicode name prefix), ``None`` for non-letters."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    for script in SCRIPTS:
        if name.startswith(script):
            return "CJK" if script in ("HIRAGANA", "KATAKANA") else script
    return "OTHER"


def mixed_script_share(text: str) -> float:
    """Share of letters outside the text's dominant script (0 for single-script text). Greek letters
    are left out: they are math symbols in English reasoning."""
    counts = Counter(s for s in map(script_of, text) if s and s != "GREEK")
    total = sum(counts.values())
    return 0.0 if total == 0 else 1.0 - counts.most_common(1)[0][1] / total


def query_key(messages: Sequence[dict]) -> str:
    """Identity of a query: the non-assistant messages, whitespace-normalized, hashed."""
    text = "\n".join(f"{m['role']}:{' '.join(m['content'].split())}" for m in messages if m["role"] != "assistant")
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def incomplete_reason(row: dict) -> str | None:
    """Why a response is incomplete, or ``None``: the generator stopped for another reason than its
    own end (truncation, error), the answer is empty, a verified strategy failed verification, or a
    problem solution has no final answer / program."""
    if row.get("finish_reason") != "stop":
        return f"finish_{row.get('finish_reason') or 'unknown'}"
    response = row.get("response") or ""
    if not response.strip():
        return "empty_response"
    if row.get("verification") not in ("correct", "passed", "unverified"):
        return "failed_verification"
    if row.get("strategy") == "problem_solution" and not any(m in response for m in ANSWER_MARKERS):
        return "no_final_answer"
    return None


@dataclass
class SelectionReport:
    """Counts per filter, in the order the filters run."""

    input: int = 0
    removed: Counter = field(default_factory=Counter)
    contaminated_by_benchmark: Counter = field(default_factory=Counter)
    queries: int = 0
    kept: int = 0

    def to_metadata(self) -> dict:
        return {"input": self.input, "removed": dict(self.removed),
                "contaminated_by_benchmark": dict(self.contaminated_by_benchmark),
                "queries": self.queries, "kept": self.kept}


def select_samples(rows: Sequence[dict], *, max_per_query: int = 8, mixed_script_max: float = 0.05,
                   index: ContaminationIndex | None = None) -> tuple[list[dict], SelectionReport]:
    """Filter synthetic sample rows (``SAMPLE_SCHEMA`` dicts) for SFT; keeps input order."""
    report = SelectionReport(input=len(rows))
    per_query: Counter = Counter()
    kept = []
    for row in rows:
        reason = incomplete_reason(row)
        if reason is None and mixed_script_share(row["response"]) > mixed_script_max:
            reason = "mixed_language"
        if reason is None and index is not None:
            query = "\n".join(m["content"] for m in row["messages"] if m["role"] != "assistant")
            hits = index.hits(query)
            if hits:
                reason = "contaminated_query"
                for name in sorted({h.split(":", 1)[0] for h in hits}):
                    report.contaminated_by_benchmark[name] += 1
        if reason is None:
            key = query_key(row["messages"])
            if per_query[key] >= max_per_query:
                reason = "over_responses_per_query"
            else:
                per_query[key] += 1
        if reason:
            report.removed[reason] += 1
            continue
        kept.append(row)
    report.queries, report.kept = len(per_query), len(kept)
    return kept, report

