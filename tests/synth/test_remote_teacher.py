"""A synthetic strategy through the openai backend against a real local HTTP server that errors,
times out and returns non-UTF-8 bytes: every failure is counted per reason, the rest is kept."""

from mimo.generate.config import ProceduralOptions
from mimo.generate.openai_backend import OpenAIGenerator
from mimo.generate.procedural import ProceduralTeacher
from mimo.generate.server import FaultInjection, GenerationServer
from mimo.synth.general import GeneralConfig, generate_general, template_queries


def test_server_faults_are_counted_and_the_rest_is_kept():
    teacher = ProceduralTeacher(ProceduralOptions(truncate_rate=0))
    faults = FaultInjection(fail_first=3, fail_status=500, invalid_utf8_first=5)
    queries = template_queries(12, seed=2)
    with GenerationServer(teacher, port=0, faults=faults) as server:
        client = OpenAIGenerator("procedural-teacher", base_url=server.base_url, concurrency=4,
                                 max_retries=0, backoff_s=0.01, timeout_s=10)
        samples, tally = generate_general(client, queries, GeneralConfig())
    assert tally.prompts == 12
    assert tally.dropped["request_failed"] == 3  # HTTP 500, no retries allowed
    assert tally.dropped["invalid_text"] == 2  # requests 3 and 4 got non-UTF-8 bytes
    assert tally.kept == len(samples) == 7
    assert tally.usage.failed_requests == 3 and tally.usage.completion_tokens > 0
    assert {s.generator_backend for s in samples} == {"openai"}


def test_retries_recover_from_transient_errors():
    teacher = ProceduralTeacher(ProceduralOptions(truncate_rate=0))
    with GenerationServer(teacher, port=0, faults=FaultInjection(fail_first=2, fail_status=503)) as server:
        client = OpenAIGenerator("procedural-teacher", base_url=server.base_url, concurrency=1,
                                 max_retries=3, backoff_s=0.01, timeout_s=10)
        samples, tally = generate_general(client, template_queries(3, seed=4), GeneralConfig())
    assert tally.kept == 3 and tally.usage.retries == 2 and not tally.dropped
