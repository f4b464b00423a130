"""TransformersGenerator(speculative_tokens=K): same completions as the default path under greedy
decoding (EOS, stop strings, max_tokens), seeded sampling, acceptance counters, argument checks."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from mimo.generate.base import GenerationRequest, SamplingParams
from mimo.generate.transformers_backend import TransformersGenerator
from tests.generate.spec_helpers import tiny_mimo

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mimo_parts(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    return tiny_mimo(vocab=len(tok), mtp_layers=3, sharpen=4.0, seed=5), tok


def _gen(parts, **kw) -> TransformersGenerator:
    model, tok = parts
    return TransformersGenerator("tiny-mimo", model_obj=model, tokenizer_obj=tok, device="cpu", **kw)


def _key(c):
    return c.text, c.finish_reason, c.completion_tokens, c.prompt_tokens, c.token_ids


def test_greedy_completions_equal_the_default_path(mimo_parts, chat):
    plain = _gen(mimo_parts, batch_size=4)
    free = plain.generate(chat(1), SamplingParams(temperature=0, max_tokens=30))[0]
    text = free.text
    pos = next(i for i in range(6, len(text) - 2) if "\ufffd" not in text[i:i + 2] and text[i:i + 2].strip())
    stop = text[pos:pos + 2]
    eos = free.token_ids[9]
    params = [SamplingParams(temperature=0, max_tokens=m) for m in (1, 5, 30)]
    params.append(SamplingParams(temperature=0, max_tokens=30, stop=("never-there", stop)))
    params.append(SamplingParams(temperature=0, max_tokens=30, n=2))
    requests = [GenerationRequest(chat(i), p, f"{i}-{j}") for i in range(3) for j, p in enumerate(params)]
    want = plain.generate_batch(requests)
    for k in (1, 3):
        spec = _gen(mimo_parts, speculative_tokens=k)
        got = spec.generate_batch(requests)
        assert [r.request_id for r in got] == [r.request_id for r in want]
        for a, b in zip(got, want):
            assert a.ok, a.error
            assert [_key(c) for c in a.completions] == [_key(c) for c in b.completions], a.request_id
        assert any(c.finish_reason == "stop" and c.completion_tokens < 30 for r in got for c in r.completions)
        stats = spec.speculative_stats.as_dict()
        assert stats["steps"] > 0 and len(stats["acceptance_per_layer"]) == k
        assert spec.describe()["speculative_tokens"] == k
    # an EOS id ends both paths at the same token
    eos_plain = _gen(mimo_parts, eos_token_ids=[eos]).generate(chat(1), params[2])[0]
    eos_spec = _gen(mimo_parts, eos_token_ids=[eos], speculative_tokens=2).generate(chat(1), params[2])[0]
    assert _key(eos_spec) == _key(eos_plain)
    assert eos_spec.finish_reason == "stop" and eos_spec.token_ids[-1] == eos


def test_seeded_sampling_is_reproducible(mimo_parts, chat):
    spec = _gen(mimo_parts, speculative_tokens=2)
    params = SamplingParams(n=3, temperature=0.9, top_p=0.95, max_tokens=16, seed=7)
    first = spec.generate(chat(2), params)
    again = spec.generate(chat(2), params)
    assert [_key(c) for c in first] == [_key(c) for c in again]
    assert len({c.token_ids for c in first}) > 1
    assert all(1 <= c.completion_tokens <= 16 and len(c.token_ids) == c.completion_tokens for c in first)


def test_argument_checks_and_fallback(mimo_parts, tiny_generator, chat):
    with pytest.raises(ValueError, match="speculative_tokens"):
        _gen(mimo_parts, speculative_tokens=4)
    with pytest.raises(ValueError, match="speculative_tokens"):
        _gen(mimo_parts, speculative_tokens=-1)
    # a model without MTP layers (plain Qwen2) keeps the default path
    qwen = TransformersGenerator("tiny", model_obj=tiny_generator.hf_model, tokenizer_obj=tiny_generator.tokenizer,
                                 speculative_tokens=2)
    assert qwen.speculative_tokens == 0 and "speculative_tokens" not in qwen.describe()
    p = SamplingParams(temperature=0, max_tokens=8)
    assert [_key(c) for c in qwen.generate(chat(0), p)] == [_key(c) for c in tiny_generator.generate(chat(0), p)]
