"""Synthetic samples: the chat-format record with provenance, response screening, and yields.

Every strategy turns generation results into :class:`SyntheticSample` rows and counts why the
others were dropped (:class:`StrategyYield`), so metadata shows generated vs verified vs kept.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from mimo.generate.base import Completion, GenerationResult, Generator, Message, SamplingParams, TokenUsage

STRATEGIES = ("grounded_analysis", "problem_solution", "general_query")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SAMPLE_SCHEMA = pa.schema([
    ("id", pa.string()), ("strategy", pa.string()), ("source_kind", pa.string()),
    ("source_id", pa.string()), ("domain", pa.string()), ("messages", MESSAGE_TYPE),
    ("response", pa.string()), ("finish_reason", pa.string()), ("verification", pa.string()),
    ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("sample_index", pa.int64()),
    ("generator_backend", pa.string()), ("generator_model", pa.string()),
    ("generator_is_model", pa.bool_()), ("sampling", pa.string()), ("source_artifact", pa.string()),
])


@dataclass
class SyntheticSample:
    """One kept conversation (system, user, assistant) and where it came from."""

    id: str
    strategy: str
    source_kind: str  # document | problem | query
    source_id: str
    domain: str
    messages: list[Message]
    response: str
    finish_reason: str
    verification: str  # correct | passed | unverified (grounded/general: screened only)
    prompt_tokens: int
    completion_tokens: int
    sample_index: int
    generator_backend: str
    generator_model: str
    generator_is_model: bool
    sampling: str  # JSON of SamplingParams
    source_artifact: str = ""


@dataclass
class StrategyYield:
    """Counts of one strategy: generated, dropped per reason, verified, kept."""

    strategy: str
    prompts: int = 0
    generated: int = 0
    verified: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    usage: TokenUsage = field(default_factory=TokenUsage)

    def to_metadata(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "prompts": self.prompts, "generated": self.generated,
                "verified": self.verified, "kept": self.kept,
                "dropped": dict(sorted(self.dropped.items())), "usage": self.usage.to_metadata()}


@dataclass
class Candidate:
    """A generated response waiting for screening/verification."""

    source_kind: str
    source_id: str
    domain: str
    messages: list[Message]
    completion: Completion
    sample_index: int
    extra: dict[str, Any] = field(default_factory=dict)


def screen_response(c: Completion) -> str | None:
    """Why a response is unusable (``None`` when it passes the generic screen).

    Reasons: generation_error, truncated (hit max_tokens), empty, invalid_text (replacement or
    control characters, e.g. from non-UTF-8 output), no_final_response (no text after ``</think>``).
    """
    if c.finish_reason == "error":
        return "generation_error"
    if c.finish_reason == "length":
        return "truncated"
    text = c.text or ""
    if not text.strip():
        return "empty"
    if "\ufffd" in text or _CONTROL.search(text):
        return "invalid_text"
    if "<think>" in text and ("</think>" not in text or not text.split("</think>", 1)[1].strip()):
        return "no_final_response"
    return None


def collect_candidates(results: Sequence[GenerationResult], sources: Sequence[tuple[str, str, str, list[Message], dict]],
                       tally: StrategyYield) -> list[Candidate]:
    """Pair results with their sources; failed requests count as ``request_failed``."""
    out = []
    for res, (kind, sid, domain, messages, extra) in zip(results, sources, strict=True):
        tally.usage.add(res)
        if not res.ok:
            tally.dropped["request_failed"] += 1
            continue
        for i, c in enumerate(res.completions):
            tally.generated += 1
            out.append(Candidate(kind, sid, domain, messages, c, i, extra))
    return out


def make_sample(strategy: str, cand: Candidate, verification: str, generator: Generator,
                params: SamplingParams, source_artifact: str = "") -> SyntheticSample:
    """The kept record: the conversation with the response appended, plus provenance."""
    key = f"{strategy}\x1f{cand.source_id}\x1f{cand.sample_index}\x1f{cand.completion.text}"
    info = generator.describe()
    return SyntheticSample(
        id=f"{strategy}-{hashlib.sha256(key.encode('utf-8', 'replace')).hexdigest()[:16]}",
        strategy=strategy, source_kind=cand.source_kind, source_id=cand.source_id, domain=cand.domain,
        messages=[*cand.messages, {"role": "assistant", "content": cand.completion.text}],
        response=cand.completion.text, finish_reason=cand.completion.finish_reason,
        verification=verification, prompt_tokens=cand.completion.prompt_tokens,
        completion_tokens=cand.completion.completion_tokens, sample_index=cand.sample_index,
        generator_backend=info["backend"], generator_model=info["model"],
        generator_is_model=bool(info["is_model"]), sampling=json.dumps(params.to_dict(), sort_keys=True),
        source_artifact=source_artifact,
    )


def samples_to_table(samples: Sequence[SyntheticSample | dict]) -> pa.Table:
    """Parquet-ready table (HF chat format: ``messages`` is a list of {role, content})."""
    rows = [asdict(s) if isinstance(s, SyntheticSample) else s for s in samples]
    return pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)


def sample_text(row: dict) -> str:
    """All text of a sample (every message), as scanned by decontamination."""
    return "\n".join(m["content"] for m in row["messages"])
