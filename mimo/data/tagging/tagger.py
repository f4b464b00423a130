"""One tagger interface with two backends: the small trained model and an LLM tagger.

``Tagger.tag(texts)`` returns one ``TagScores`` per document. ``ClassifierTagger`` wraps the
hashed-n-gram model trained by the pipeline (tiny profile). ``LLMTagger`` prompts the generator
resource (an OpenAI-compatible server such as vLLM, in batches of concurrent requests) for a
JSON verdict, FineWeb-Edu style, and parses it strictly: an unparseable answer is reported as
such (``parse_error``), never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mimo.data.tagging.annotator import DOMAINS, SCORE_NAMES
from mimo.data.tagging.classifier import TaggerModel


@dataclass
class TagScores:
    """Per-document tags: domain with probabilities, and 0-5 scores."""

    domain: str
    domain_probs: dict[str, float]
    quality: float
    knowledge_density: float
    reasoning_depth: float
    tagger: str
    error: str | None = None


class Tagger(Protocol):
    """Anything that tags documents."""

    name: str

    def tag(self, texts: Sequence[str]) -> list[TagScores]: ...


class ClassifierTagger:
    """Tags with the small model trained by the pipeline."""

    DEFAULT_NAME = "hashed-ngram-classifier"

    def __init__(self, model: TaggerModel, name: str = DEFAULT_NAME):
        self.model = model
        self.name = name

    def tag(self, texts: Sequence[str]) -> list[TagScores]:
        probs, scores = self.model.predict(texts)
        out = []
        for p, s in zip(probs, scores):
            dist = {d: round(float(x), 4) for d, x in zip(DOMAINS, p)}
            values = {n: round(float(v), 3) for n, v in zip(SCORE_NAMES, s)}
            out.append(TagScores(max(dist, key=dist.get), dist, tagger=self.name, **values))
        return out


TAG_PROMPT = """You are a data-quality annotator for pretraining a reasoning model.
Read the web document below and answer with one JSON object, nothing else:
{{"domain": one of {domains}, "quality": 0-5, "knowledge_density": 0-5, "reasoning_depth": 0-5}}
quality: coherent, well-formed, useful text (math and code are NOT low quality).
knowledge_density: how much specialised knowledge per sentence.
reasoning_depth: how much step-by-step reasoning, derivation or problem solving it shows.

Document:
<<<
{text}
>>>"""
_JSON_RE = re.compile(r"\{.*?\}", re.S)


def build_tag_messages(text: str, max_chars: int = 6000) -> list[dict[str, str]]:
    """Chat messages asking an LLM to tag one document."""
    prompt = TAG_PROMPT.format(domains=json.dumps(list(DOMAINS)), text=text[:max_chars])
    return [{"role": "user", "content": prompt}]


def parse_tag_answer(answer: str, tagger: str = "llm") -> TagScores:
    """Parse an LLM's JSON verdict; a malformed one becomes a TagScores with ``error`` set."""
    match = _JSON_RE.search(answer or "")
    try:
        obj = json.loads(match.group(0)) if match else None
        domain = str(obj["domain"]).lower()
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}")
        values = {n: max(0.0, min(5.0, float(obj[n]))) for n in SCORE_NAMES}
    except (TypeError, KeyError, ValueError, json.JSONDecodeError) as exc:
        return _failed(tagger, f"parse_error: {exc}")
    return TagScores(domain, {d: float(d == domain) for d in DOMAINS}, tagger=tagger, **values)


class LLMTagger:
    """Tags by prompting a generator (an OpenAI-compatible server such as vLLM, or any
    :class:`~mimo.generate.base.Generator`): ``batch_size`` documents per ``generate_batch`` call,
    which the OpenAI backend sends ``concurrency`` requests at a time (the server batches them).
    A failed request or an unparseable answer is a tag with ``error`` set, counted, never guessed."""

    def __init__(self, generator: Any, name: str = "llm-tagger", batch_size: int = 64, max_tokens: int = 96,
                 max_chars: int = 6000, progress: Callable[[int, int], None] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.generator, self.name = generator, name
        self.batch_size, self.max_tokens, self.max_chars = batch_size, max_tokens, max_chars
        self.progress = progress

    def tag(self, texts: Sequence[str]) -> list[TagScores]:
        from mimo.generate.base import GenerationRequest, SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens)
        out: list[TagScores] = []
        for lo in range(0, len(texts), self.batch_size):
            chunk = texts[lo:lo + self.batch_size]
            requests = [GenerationRequest(build_tag_messages(t, self.max_chars), params, str(lo + k))
                        for k, t in enumerate(chunk)]
            for result in self.generator.generate_batch(requests):
                if not result.ok or not result.completions:
                    out.append(_failed(self.name, f"generation_error: {result.error or 'no completion'}"))
                else:
                    out.append(parse_tag_answer(result.completions[0].text, self.name))
            if self.progress:
                self.progress(len(out), len(texts))
        return out


def _failed(tagger: str, error: str) -> TagScores:
    return TagScores("general", {d: 0.0 for d in DOMAINS}, 0.0, 0.0, 0.0, tagger, error=error)
