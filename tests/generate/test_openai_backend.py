"""OpenAIGenerator against the local OpenAI-compatible server wrapping the tiny model."""

from __future__ import annotations

import socket
import time

import pytest

from mimo.generate.base import GenerationRequest, SamplingParams, generate_all
from mimo.generate.openai_backend import OpenAIGenerator, parse_completion
from mimo.generate.server import FaultInjection, GenerationServer


def _key(c):
    return c.text, c.finish_reason, c.completion_tokens, c.prompt_tokens


@pytest.fixture(scope="module")
def server(tiny_generator):
    with GenerationServer(tiny_generator) as srv:
        yield srv


def _client(srv, **kw) -> OpenAIGenerator:
    kw.setdefault("backoff_s", 0.01)
    return OpenAIGenerator(srv.model_name, base_url=srv.base_url, **kw)


def test_greedy_and_seeded_results_equal_transformers(server, tiny_generator, chat):
    params = [SamplingParams(temperature=0, max_tokens=16),
              SamplingParams(n=2, temperature=0, max_tokens=9, stop=("a",)),
              SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=21),
              SamplingParams(temperature=0.8, top_p=0.9, max_tokens=10, seed=4, stop=("e", "o"))]
    requests = [GenerationRequest(chat(i), params[i % len(params)], f"q{i}") for i in range(10)]
    local = tiny_generator.generate_batch(requests)
    with _client(server, concurrency=8) as client:
        remote = client.generate_batch(requests)
    assert [r.request_id for r in remote] == [f"q{i}" for i in range(10)]
    for a, b in zip(local, remote):
        assert b.ok and b.attempts == 1, b.error
        assert [_key(c) for c in b.completions] == [_key(c) for c in a.completions]


def test_retries_on_503_then_success(tiny_generator, chat):
    with GenerationServer(tiny_generator, faults=FaultInjection(fail_first=2, fail_status=503)) as srv, \
            _client(srv, concurrency=1, max_retries=4) as client:
        results, usage = generate_all(client, [GenerationRequest(chat(0), SamplingParams(temperature=0, max_tokens=4))],
                                      show_progress=False)
    assert results[0].ok and results[0].attempts == 3
    assert usage.retries == 2 and usage.failed_requests == 0
    assert srv.stats.chat_requests == 3


def test_429_is_retried_other_4xx_is_not(tiny_generator, chat):
    req = [GenerationRequest(chat(0), SamplingParams(temperature=0, max_tokens=4))]
    with GenerationServer(tiny_generator, faults=FaultInjection(fail_first=1, fail_status=429)) as srv, \
            _client(srv, concurrency=1) as client:
        assert client.generate_batch(req)[0].attempts == 2
    with GenerationServer(tiny_generator, faults=FaultInjection(fail_first=5, fail_status=422)) as srv, \
            _client(srv, concurrency=1, max_retries=4) as client:
        [res] = client.generate_batch(req)
    assert not res.ok and res.attempts == 1 and "HTTP 422" in res.error
    assert srv.stats.chat_requests == 1


def test_persistent_errors_are_counted_not_raised(tiny_generator, chat):
    reqs = [GenerationRequest(chat(i), SamplingParams(n=2, temperature=1.0, max_tokens=4, seed=i), str(i))
            for i in range(3)]
    with GenerationServer(tiny_generator, faults=FaultInjection(fail_first=10**6, fail_status=500)) as srv, \
            _client(srv, concurrency=4, max_retries=2) as client:
        results, usage = generate_all(client, reqs, show_progress=False)
    assert [r.ok for r in results] == [False] * 3
    assert all(r.attempts == 1 + 2 * 2 for r in results)  # 2 samples x 2 retries each
    assert usage.failed_requests == 3 and usage.retries == 12 and usage.samples == 0
    assert srv.stats.chat_requests == 3 * 2 * 3


def test_timeout_fails_one_request_not_the_batch(tiny_generator, chat):
    reqs = [GenerationRequest(chat(i), SamplingParams(temperature=0, max_tokens=4), str(i)) for i in range(4)]
    faults = FaultInjection(delay_s=1.5, delay_first=1)  # only the first request hangs
    with GenerationServer(tiny_generator, faults=faults) as srv, \
            _client(srv, concurrency=1, max_retries=0, timeout_s=0.4) as client:
        start = time.perf_counter()
        results, usage = generate_all(client, reqs, show_progress=False)
        elapsed = time.perf_counter() - start
    assert not results[0].ok and "timeout" in results[0].error and results[0].attempts == 1
    assert all(r.ok for r in results[1:])
    assert usage.failed_requests == 1 and usage.samples == 3
    assert elapsed < 1.5


def test_connection_refused_is_retried_then_reported(chat):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with OpenAIGenerator("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2,
                         backoff_s=0.01) as client:
        [res] = client.generate_batch([GenerationRequest(chat(0), SamplingParams(max_tokens=2))])
    assert not res.ok and res.attempts == 3 and "connection error" in res.error


def test_invalid_utf8_and_malformed_json(tiny_generator, chat):
    req = GenerationRequest(chat(1), SamplingParams(temperature=0, max_tokens=6))
    expected = tiny_generator.generate(req.messages, req.params)[0]
    with GenerationServer(tiny_generator, faults=FaultInjection(invalid_utf8_first=1)) as srv, \
            _client(srv, concurrency=1) as client:
        [bad, good] = client.generate_batch([req, req])
    assert bad.ok and bad.completions[0].text.startswith("\ufffd")
    assert bad.completions[0].text.endswith(expected.text)
    assert _key(good.completions[0]) == _key(expected)
    with GenerationServer(tiny_generator, faults=FaultInjection(malformed_json_first=1)) as srv, \
            _client(srv, concurrency=1, max_retries=3) as client:
        [broken, fine] = client.generate_batch([req, req])
    assert not broken.ok and "malformed" in broken.error and broken.attempts == 1
    assert fine.ok
    with pytest.raises(ValueError):
        parse_completion(b'{"choices": []}')
    assert parse_completion(b'{"choices": [{"message": {"content": "x\xff"}, "finish_reason": "length"}]}').text == "x\ufffd"


def test_concurrency_limit_and_dynamic_batching(tiny_generator, chat):
    reqs = [GenerationRequest(chat(i), SamplingParams(temperature=0, max_tokens=3)) for i in range(9)]
    with GenerationServer(tiny_generator, faults=FaultInjection(delay_s=0.15)) as srv, \
            _client(srv, concurrency=3) as client:
        results = client.generate_batch(reqs)
    assert all(r.ok for r in results)
    assert srv.stats.max_in_flight == 3  # never more than `concurrency` calls in flight
    assert max(srv.stats.batch_sizes) > 1  # concurrent calls reached the generator as one batch
    assert sum(srv.stats.batch_sizes) == 9
