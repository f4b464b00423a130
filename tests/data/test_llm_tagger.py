"""The LLM tagger against the project's OpenAI-compatible test server: batched, concurrent requests,
failed requests and unparseable answers counted, never guessed."""

from __future__ import annotations

import json

from mimo.generate.base import Completion, Generator, SamplingParams
from mimo.generate.openai_backend import OpenAIGenerator
from mimo.generate.server import FaultInjection, GenerationServer
from mimo.data.tagging.tagger import LLMTagger


class RuleTeacher(Generator):
    """A rule-based 'model' behind the server: tags by keyword, garbles documents that say 'garble'."""

    backend = "rules"

    def __init__(self) -> None:
        super().__init__("rule-teacher")

    def generate(self, messages, params: SamplingParams) -> list[Completion]:
        doc = messages[-1]["content"].split("<<<", 1)[1]
        if "garble" in doc:
            return [Completion("no idea, sorry", "stop", 4)]
        domain = "math" if "integral" in doc else "code" if "def " in doc else "general"
        verdict = {"domain": domain, "quality": 4, "knowledge_density": 3, "reasoning_depth": 5 if domain == "math" else 1}
        return [Completion(json.dumps(verdict), "stop", 20)]


DOCS = ["Compute the integral of x^2 from 0 to 1.", "def f(x):\n    return x + 1", "The weather was nice.",
        "garble this one"] * 10


def test_batches_of_concurrent_requests_tag_every_document_in_order():
    with GenerationServer(RuleTeacher(), faults=FaultInjection(delay_s=0.05)) as srv, \
            OpenAIGenerator(srv.model_name, base_url=srv.base_url, concurrency=4, backoff_s=0.01) as client:
        seen = []
        tags = LLMTagger(client, batch_size=16, progress=lambda done, total: seen.append((done, total))).tag(DOCS)
    assert [t.domain for t in tags[:3]] == ["math", "code", "general"] and len(tags) == 40
    assert tags[0].reasoning_depth == 5 and tags[0].domain_probs["math"] == 1.0 and tags[0].error is None
    assert all(t.error and t.error.startswith("parse_error") for t in tags[3::4])  # reported, not guessed
    assert seen == [(16, 40), (32, 40), (40, 40)]
    assert srv.stats.max_in_flight == 4 and max(srv.stats.batch_sizes) > 1  # concurrent, batched by the server


def test_failed_requests_are_counted_errors_not_crashes():
    with GenerationServer(RuleTeacher(), faults=FaultInjection(fail_first=100, fail_status=400)) as srv, \
            OpenAIGenerator(srv.model_name, base_url=srv.base_url, concurrency=2, backoff_s=0.01, max_retries=0) as client:
        tags = LLMTagger(client, batch_size=8).tag(DOCS[:6])
    assert len(tags) == 6 and all(t.error.startswith("generation_error") for t in tags)
    assert all(t.quality == 0.0 for t in tags)
