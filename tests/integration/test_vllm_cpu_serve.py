"""vLLM's CPU build serves a MiMo checkpoint of this pipeline as ``MiMoForCausalLM`` over the
OpenAI-compatible API, and the generator's ``openai`` backend works against it.

Optional and heavy (a separate vLLM environment, minutes of startup): skipped unless
``MIMO_VLLM_PYTHON`` is set. ``make vllm-test`` builds the environment and runs it; docs/vllm.md.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    SKIP_REASON,
    VLLM_PYTHON,
    require_vllm_python,
    startup_timeout,
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VLLM_PYTHON, reason=SKIP_REASON)]

MAX_TOKENS = 24
PROMPTS = ["What is 17 + 25? Put the answer in \\boxed{}.",
           "Write a Python function that returns the square of a number.",
           "Find all real x with x^2 = 16."]


def chat(q: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}]


@pytest.fixture(scope="module")
def server(vllm_checkpoint, tmp_path_factory):
    from tests.integration.vllm_cpu import VLLMServer

    log = tmp_path_factory.mktemp("vllm-log") / "server.log"
    srv = VLLMServer(require_vllm_python(), vllm_checkpoint, log_path=log)
    srv.start(timeout_s=startup_timeout())
    print(f"\nvLLM-CPU server ready in {srv.startup_s:.0f}s at {srv.base_url} (log {log})")
    yield srv
    srv.stop()
    assert srv.proc.poll() is not None


@pytest.fixture(scope="module")
def client(server):
    from mimo.generate.openai_backend import OpenAIGenerator

    gen = OpenAIGenerator(server.served_name, base_url=server.base_url, concurrency=8, timeout_s=300)
    yield gen
    gen.close()


def test_models_endpoint_serves_the_checkpoint_as_mimo(server, vllm_checkpoint):
    models = server.get_json("/v1/models")["data"]
    assert [m["id"] for m in models] == [server.served_name]
    assert models[0]["root"] == str(vllm_checkpoint) and models[0]["max_model_len"] == 1024
    log = server.log_path.read_text(errors="replace")
    assert "Resolved architecture: MiMoForCausalLM" in log


def test_openai_backend_batch_with_n2(client, hf_reference):
    """Two chat requests with n=2 (sampled, seeded): every sample comes back with a finish reason and
    exact token counts; the same seeds give the same samples again."""
    from mimo.generate.base import GenerationRequest, SamplingParams

    reqs = [GenerationRequest(chat(q), SamplingParams(n=2, temperature=1.0, top_p=0.95, max_tokens=MAX_TOKENS,
                                                      seed=100 + i), request_id=f"r{i}")
            for i, q in enumerate(PROMPTS[:2])]
    results = client.generate_batch(reqs)
    assert [r.request_id for r in results] == ["r0", "r1"]
    for req, res in zip(reqs, results, strict=True):
        assert res.error is None and len(res.completions) == 2, res
        prompt_len = len(hf_reference.encode_chat(req.messages))
        for c in res.completions:
            assert c.finish_reason in ("stop", "length"), c
            assert 1 <= c.completion_tokens <= MAX_TOKENS, c
            assert (c.completion_tokens == MAX_TOKENS) == (c.finish_reason == "length"), c
            assert c.prompt_tokens == prompt_len  # vLLM applies the checkpoint's ChatML template as we do
    again = client.generate_batch(reqs)
    assert [[c.text for c in r.completions] for r in again] == [[c.text for c in r.completions] for r in results]


def test_greedy_matches_the_transformers_backend(client, hf_reference):
    """Greedy (temperature 0, n=2: one call, two copies) gives the same text, finish reason and token
    count as our transformers backend on the same fp32 checkpoint (up to a trailing partial UTF-8
    character, see ``same_text``)."""
    from mimo.generate.base import GenerationRequest, SamplingParams
    from tests.integration.vllm_cpu import same_text

    params = SamplingParams(n=2, temperature=0.0, max_tokens=32)
    reqs = [GenerationRequest(chat(q), params) for q in PROMPTS]
    ours = hf_reference.generate_batch(reqs)
    theirs = client.generate_batch(reqs)
    for a, b in zip(ours, theirs, strict=True):
        assert b.error is None and len(b.completions) == 2 and b.completions[0] == b.completions[1]
        got, want = b.completions[0], a.completions[0]
        assert same_text(got.text, want.text), (got.text, want.text)
        assert (got.finish_reason, got.completion_tokens, got.prompt_tokens) == \
            (want.finish_reason, want.completion_tokens, want.prompt_tokens)


def test_stop_strings_and_max_tokens_follow_the_openai_convention(client, hf_reference):
    """A stop string cuts the text before it (not included), finish "stop", same counts as ours;
    max_tokens=1 gives one token and finish "length"."""
    from mimo.generate.base import SamplingParams

    msgs = chat(PROMPTS[0])
    full = client.generate(msgs, SamplingParams(temperature=0.0, max_tokens=32))[0]
    text = full.text
    if len(text.strip()) < 4:
        pytest.skip(f"greedy text too short to pick a stop string: {text!r}")
    stop = text[len(text) // 2:len(text) // 2 + 2]
    params = SamplingParams(temperature=0.0, max_tokens=32, stop=(stop,))
    got = client.generate(msgs, params)[0]
    want = hf_reference.generate(msgs, params)[0]
    assert got.text == text[:text.index(stop)] and got.finish_reason == "stop"
    assert (got.text, got.finish_reason, got.completion_tokens) == \
        (want.text, want.finish_reason, want.completion_tokens)
    one = client.generate(msgs, SamplingParams(temperature=1.0, max_tokens=1, seed=3))[0]
    assert (one.finish_reason, one.completion_tokens) == ("length", 1)
