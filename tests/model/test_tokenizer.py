"""Byte-level BPE tokenizer: lossless round trip, special tokens, ChatML template, save/load."""

from __future__ import annotations

import random

import pytest
from transformers import AutoTokenizer

from mimo.model.tokenizer import (
    CHAT_TEMPLATE,
    ENDOFTEXT,
    IM_END,
    IM_START,
    train_tokenizer,
)

CORPUS = [
    "Sam has 12 apples. He gives 3 to Ann. How many apples does Sam have now?",
    "Step 1: 12 - 3 = 9.\nThe answer is \\boxed{9}.",
    "def solve():\n    n = int(input())\n    print(n * 2)\n",
    "Les élèves résolvent l'équation x² + 2x = 3. 数学は楽しい。 Ωμέγα ∑ ∫ 🎉",
] * 50


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(CORPUS, vocab_size=400, min_frequency=2)


def _random_unicode(rng: random.Random, n: int) -> str:
    chars = []
    for _ in range(n):
        plane = rng.random()
        if plane < 0.4:
            cp = rng.randrange(0x20, 0x7F)
        elif plane < 0.5:
            cp = rng.choice([0x0, 0x9, 0xA, 0xD, 0x1B, 0x7F, 0xA0, 0x200B, 0xFEFF, 0x2028])
        elif plane < 0.8:
            cp = rng.randrange(0x80, 0xD800)
        elif plane < 0.9:
            cp = rng.randrange(0xE000, 0x110000)
        else:
            cp = rng.randrange(0x1F300, 0x1FAFF)
        chars.append(chr(cp))
    return "".join(chars)


def test_roundtrip_arbitrary_unicode(tokenizer):
    rng = random.Random(0)
    samples = [_random_unicode(rng, rng.randrange(0, 200)) for _ in range(300)]
    samples += ["", " ", "  leading and trailing  ", "\n\n\t", "a\u0301 combining", "e\u0301\u0302",
                f"{IM_START}user\nhi{IM_END}\n{ENDOFTEXT}", "<|im_start", "👩‍👩‍👧‍👦", "ﬁ ligature Å Å"]
    for text in samples:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text, repr(text)


def test_special_tokens_and_no_bos(tokenizer):
    assert tokenizer.convert_tokens_to_ids([ENDOFTEXT, IM_START, IM_END]) == [0, 1, 2]
    assert tokenizer.eos_token == IM_END and tokenizer.eos_token_id == 2
    assert tokenizer.pad_token == ENDOFTEXT and tokenizer.pad_token_id == 0
    assert tokenizer.bos_token is None
    ids = tokenizer.encode("hello")
    assert 0 not in ids and 1 not in ids and 2 not in ids  # nothing added around the text
    assert tokenizer.encode(f"a{IM_END}")[-1] == 2  # special token text maps to its id
    assert len(tokenizer) <= 400


def test_vocab_size_is_respected_and_validated():
    assert len(train_tokenizer(CORPUS * 4, vocab_size=300, min_frequency=1)) == 300
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(CORPUS, vocab_size=100)


def test_chatml_template(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "4"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                    "<|im_start|>assistant\n4<|im_end|>\n")
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n")
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[0] == 1 and ids.count(2) == 2
    assert tokenizer.chat_template == CHAT_TEMPLATE


def test_save_and_load_roundtrip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Étape 1 : 12 − 3 = 9 ✓ 🎉\n<|im_end|>"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.decode(loaded.encode(text)) == text
    assert (loaded.eos_token, loaded.pad_token, loaded.bos_token) == (IM_END, ENDOFTEXT, None)
    assert loaded.chat_template == tokenizer.chat_template
    assert len(loaded) == len(tokenizer)


def test_decoding_any_ids_never_raises(tokenizer):
    rng = random.Random(1)
    for _ in range(200):
        ids = [rng.randrange(len(tokenizer)) for _ in range(rng.randrange(1, 20))]
        assert isinstance(tokenizer.decode(ids), str)
    lone_lead_byte = tokenizer.convert_tokens_to_ids("Ã")  # 0xC3 without its continuation byte
    assert tokenizer.decode([lone_lead_byte]) == "\ufffd"
