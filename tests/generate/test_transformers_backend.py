"""TransformersGenerator on the tiny random model: batching, sampling, stops, token counts."""

from __future__ import annotations

import pytest

from mimo.generate.base import GenerationRequest, SamplingParams, generate_all
from mimo.generate.transformers_backend import TransformersGenerator, safe_decode

GREEDY = SamplingParams(temperature=0, max_tokens=20)


def _key(c):
    return c.text, c.finish_reason, c.completion_tokens, c.prompt_tokens


def test_batched_greedy_equals_unbatched(tiny_generator, chat):
    one_by_one = TransformersGenerator("tiny", model_obj=tiny_generator.hf_model,
                                       tokenizer_obj=tiny_generator.tokenizer, batch_size=1)
    requests = [GenerationRequest(chat(i), GREEDY, f"r{i}") for i in range(11)]
    batched = tiny_generator.generate_batch(requests)  # batch_size 8: two chunks, padded
    assert [r.request_id for r in batched] == [f"r{i}" for i in range(11)]
    for req, res in zip(requests, batched):
        assert res.ok, res.error
        alone = one_by_one.generate(req.messages, GREEDY)
        assert [_key(c) for c in res.completions] == [_key(c) for c in alone]


def test_length_finish_and_token_counts(tiny_generator, chat):
    [c] = tiny_generator.generate(chat(2), SamplingParams(temperature=0, max_tokens=7))
    assert c.finish_reason == "length"
    assert c.completion_tokens == 7
    assert c.prompt_tokens == len(tiny_generator.encode_chat(chat(2)))
    text = tiny_generator.tokenizer.apply_chat_template(chat(2), add_generation_prompt=True,
                                                        tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    assert c.prompt_tokens == len(tiny_generator.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_n_samples_and_seed_determinism(tiny_generator, chat):
    params = SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=11)
    first = tiny_generator.generate(chat(1), params)
    assert len(first) == 3 and all(c.completion_tokens >= 1 for c in first)
    assert len({c.text for c in first}) > 1  # samples differ from each other
    again = tiny_generator.generate(chat(1), params)
    assert [_key(c) for c in again] == [_key(c) for c in first]
    # same seed inside a different batch (other requests, other padding): same samples
    mixed = tiny_generator.generate_batch([GenerationRequest(chat(5), params),
                                           GenerationRequest(chat(1), params),
                                           GenerationRequest(chat(0), params)])
    assert [_key(c) for c in mixed[1].completions] == [_key(c) for c in first]
    other = tiny_generator.generate(chat(1), SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=12))
    assert [c.text for c in other] != [c.text for c in first]
    # sample i is sample 0 of seed + i
    shifted = tiny_generator.generate(chat(1), SamplingParams(n=1, temperature=1.0, max_tokens=12, seed=12))
    assert _key(shifted[0]) == _key(first[1])


def test_greedy_n_copies_and_tiny_top_p_is_greedy(tiny_generator, chat):
    greedy = tiny_generator.generate(chat(3), SamplingParams(n=2, temperature=0, max_tokens=10))
    assert len(greedy) == 2 and _key(greedy[0]) == _key(greedy[1])
    nucleus = tiny_generator.generate(chat(3), SamplingParams(temperature=1.0, top_p=1e-6,
                                                              max_tokens=10, seed=3))
    assert _key(nucleus[0]) == _key(greedy[0])


def test_stop_string_truncates(tiny_generator, chat):
    [full] = tiny_generator.generate(chat(4), SamplingParams(temperature=1.0, max_tokens=24, seed=5))
    text = full.text
    pos = next(i for i in range(3, len(text) - 2) if "\ufffd" not in text[i:i + 2] and text[i:i + 2].strip())
    stop = text[pos:pos + 2]
    expected = text[:text.find(stop)]
    [cut] = tiny_generator.generate(chat(4), SamplingParams(temperature=1.0, max_tokens=24, seed=5,
                                                           stop=("never-appears", stop)))
    assert cut.finish_reason == "stop"
    assert cut.text == expected and stop not in cut.text
    assert 1 <= cut.completion_tokens < full.completion_tokens
    assert cut.prompt_tokens == full.prompt_tokens


def test_eos_stops_and_is_counted(tiny_generator, chat):
    params = SamplingParams(temperature=1.0, max_tokens=16, seed=9)
    free = TransformersGenerator("tiny", model_obj=tiny_generator.hf_model,
                                 tokenizer_obj=tiny_generator.tokenizer, ignore_eos=True)
    tokens = _sampled_ids(free, chat(6), params)
    assert len(tokens) == 16
    # declare the token sampled at step 5 an EOS token: the same draws stop at its first occurrence
    eos_id = tokens[5]
    first = tokens.index(eos_id)
    stopper = TransformersGenerator("tiny", model_obj=tiny_generator.hf_model,
                                    tokenizer_obj=tiny_generator.tokenizer, eos_token_ids=[eos_id])
    [c] = stopper.generate(chat(6), params)
    assert c.finish_reason == "stop"
    assert c.completion_tokens == first + 1  # EOS included in the count
    assert c.text == safe_decode(tiny_generator.tokenizer, tokens[:first])  # EOS not in the text


def _sampled_ids(gen, messages, params):
    """The raw token ids of one sample (white-box: runs one decoding chunk of a single row)."""
    from mimo.generate.transformers_backend import _Row

    row = _Row(0, 0, gen.encode_chat(messages), params.seed)
    gen._decode_chunk([row], params)
    return row.generated


def test_odd_bytes_decode_to_replacement_chars(tiny_generator):
    tok = tiny_generator.tokenizer
    lead_byte = tok.convert_tokens_to_ids("Ã")  # byte 0xC3 alone: a truncated UTF-8 sequence
    assert safe_decode(tok, [lead_byte]) == "\ufffd"
    assert "\ufffd" in safe_decode(tok, tok.encode("ab", add_special_tokens=False) + [lead_byte])


def test_errors_are_per_request(tiny_generator, chat):
    from transformers import AutoTokenizer

    no_template = AutoTokenizer.from_pretrained(tiny_generator.model)
    no_template.chat_template = None
    gen = TransformersGenerator("tiny", model_obj=tiny_generator.hf_model, tokenizer_obj=no_template)
    results, usage = generate_all(gen, [GenerationRequest(chat(0), GREEDY, "a")], show_progress=False)
    assert not results[0].ok and "chat template" in results[0].error
    assert usage.failed_requests == 1
    with pytest.raises(RuntimeError, match="chat template"):
        gen.generate(chat(0), GREEDY)


def test_progress_usage_and_grouping(tiny_generator, chat):
    reqs = [GenerationRequest(chat(i), SamplingParams(n=2, temperature=0.7, max_tokens=5 + i % 2, seed=i),
                              str(i)) for i in range(6)]
    seen = []
    results = tiny_generator.generate_batch(reqs, progress=seen.append)
    assert sum(seen) == 6
    assert [r.request_id for r in results] == [str(i) for i in range(6)]
    _, usage = generate_all(tiny_generator, reqs, show_progress=False)
    assert usage.samples == 12 and usage.failed_requests == 0
    assert usage.completion_tokens == sum(c.completion_tokens for r in results for c in r.completions)
    assert tiny_generator.describe()["backend"] == "transformers"
