"""InflightTransformersGenerator on the tiny random model: same samples as the batch backend, abort,
weight updates, refusals, and refilling freed slots."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from mimo.generate.base import GenerationRequest, SamplingParams
from mimo.generate.inflight_backend import InflightTransformersGenerator

pytestmark = pytest.mark.usefixtures("one_torch_thread")
GREEDY = SamplingParams(temperature=0, max_tokens=16)
SAMPLED = SamplingParams(n=3, temperature=1.0, max_tokens=24, seed=7)


@pytest.fixture(scope="module")
def greedy_inflight(tiny_model_dir):
    gen = InflightTransformersGenerator(str(tiny_model_dir), sampling=GREEDY, max_sequences=3, device="cpu")
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def sampled_inflight(tiny_model_dir):
    gen = InflightTransformersGenerator(str(tiny_model_dir), sampling=SAMPLED, max_sequences=8, device="cpu")
    yield gen
    gen.close()


def test_greedy_matches_the_batch_backend(greedy_inflight, tiny_generator, chat):
    # 7 requests of different lengths through 3 slots: rows join and leave the running batch
    requests = [GenerationRequest(chat(i), replace(GREEDY, max_tokens=4 + 3 * i), f"r{i}") for i in range(7)]
    streamed = greedy_inflight.generate_batch(requests)
    batched = tiny_generator.generate_batch(requests)
    assert [r.request_id for r in streamed] == [f"r{i}" for i in range(7)]
    for s, b in zip(streamed, batched):
        assert s.ok, s.error
        [cs], [cb] = s.completions, b.completions
        assert cs.token_ids == cb.token_ids
        assert (cs.text, cs.finish_reason, cs.completion_tokens, cs.prompt_tokens) == \
               (cb.text, cb.finish_reason, cb.completion_tokens, cb.prompt_tokens)
        assert len(s.sequence_seconds) == 1 and 0 < s.sequence_seconds[0] <= s.latency_s + 1e-6


def test_seeded_samples_equal_the_batch_backend(sampled_inflight, tiny_generator, chat):
    requests = [GenerationRequest(chat(i), replace(SAMPLED, seed=10 * i), f"s{i}") for i in range(4)]
    streamed = sampled_inflight.generate_batch(requests)  # 12 sequences through 8 slots
    for s, b in zip(streamed, tiny_generator.generate_batch(requests)):
        assert [c.token_ids for c in s.completions] == [c.token_ids for c in b.completions]


def test_n_samples_finish_reasons_and_token_ids(sampled_inflight, chat):
    [res] = sampled_inflight.generate_batch([GenerationRequest(chat(1), SAMPLED, "x")])
    assert res.ok and len(res.completions) == 3 and len(res.sequence_seconds) == 3
    eos = sampled_inflight.tokenizer.eos_token_id
    for c in res.completions:
        assert c.completion_tokens == len(c.token_ids) >= 1
        assert c.finish_reason == ("stop" if c.token_ids[-1] == eos else "length")
        if c.finish_reason == "length":
            assert c.completion_tokens == SAMPLED.max_tokens
        ids = [t for t in c.token_ids if t != eos]
        assert c.text == sampled_inflight.tokenizer.decode(ids, skip_special_tokens=True,
                                                     clean_up_tokenization_spaces=False)
    assert len({c.token_ids for c in res.completions}) > 1  # samples differ


def test_abort_cancels_and_frees_the_slots(sampled_inflight, chat):
    long = SamplingParams(n=3, temperature=1.0, max_tokens=2000)
    called = threading.Event()
    # sampling settings must match the generator's; max_tokens may differ per request
    handle = sampled_inflight.submit(GenerationRequest(chat(2), long), lambda r, t: called.set())
    assert sampled_inflight.running_sequences == 3
    time.sleep(0.3)  # decoding by now
    assert sampled_inflight.abort(handle) is True
    assert sampled_inflight.running_sequences == 0 and sampled_inflight.abort(handle) is False
    time.sleep(0.5)
    assert not called.is_set()  # an aborted request never calls back
    [after] = sampled_inflight.generate_batch([GenerationRequest(chat(0), SAMPLED)])
    assert after.ok and len(after.completions) == 3


def test_a_short_request_joins_and_leaves_while_a_long_one_decodes(sampled_inflight, chat):
    ended: list[str] = []
    both = threading.Semaphore(0)

    def note(name):
        def cb(res, _):
            assert res.ok, res.error
            ended.append(name)
            both.release()
        return cb

    sampled_inflight.submit(GenerationRequest(chat(1), replace(SAMPLED, n=1, max_tokens=400), "long"), note("long"))
    time.sleep(0.2)
    sampled_inflight.submit(GenerationRequest(chat(0), replace(SAMPLED, n=2, max_tokens=3), "short"), note("short"))
    assert both.acquire(timeout=120) and both.acquire(timeout=120)
    assert ended == ["short", "long"]


def test_refusals_are_error_results(sampled_inflight, chat):
    bad = [GenerationRequest(chat(0), SamplingParams(n=1, temperature=0.5, max_tokens=8), "temp"),
           GenerationRequest(chat(0), SamplingParams(n=9, temperature=1.0, max_tokens=8), "wide"),
           GenerationRequest(chat(0), SamplingParams(n=1, temperature=1.0, max_tokens=8), "ok")]
    res = {r.request_id: r for r in sampled_inflight.generate_batch(bad)}
    assert "temperature=1.0" in res["temp"].error and "max_sequences=8" in res["wide"].error
    assert res["ok"].ok and len(res["ok"].completions) == 1


def test_stop_strings_match_the_batch_backend(sampled_inflight, tiny_generator, chat):
    params = SamplingParams(n=3, temperature=1.0, max_tokens=40, seed=3, stop=("e",))
    [s] = sampled_inflight.generate_batch([GenerationRequest(chat(2), params)])
    [b] = tiny_generator.generate_batch([GenerationRequest(chat(2), params)])
    assert [(c.text, c.finish_reason, c.token_ids) for c in s.completions] == \
           [(c.text, c.finish_reason, c.token_ids) for c in b.completions]
    assert all("e" not in c.text for c in s.completions)


def test_update_weights_reaches_the_decode_loop(tiny_model_dir, chat):
    import torch
    from transformers import AutoModelForCausalLM

    from mimo.generate.transformers_backend import TransformersGenerator

    other = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.5, alpha=1.0)
    gen = InflightTransformersGenerator(str(tiny_model_dir), sampling=GREEDY, max_sequences=4, device="cpu")
    try:
        req = [GenerationRequest(chat(3), GREEDY)]
        before = gen.generate_batch(req)[0].completions[0].token_ids
        gen.update_weights(other.state_dict())
        after = gen.generate_batch(req)[0].completions[0].token_ids
    finally:
        gen.close()
    reference = TransformersGenerator("other", model_obj=other, tokenizer_obj=gen.tokenizer, batch_size=1)
    assert after == reference.generate_batch(req)[0].completions[0].token_ids
    assert after != before
