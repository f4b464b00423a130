"""Byte-level BPE tokenizer with a ChatML (Qwen-style) chat template.

Trained with the ``tokenizers`` library and wrapped as a ``transformers`` fast tokenizer, so it saves
and loads with ``save_pretrained`` / ``AutoTokenizer.from_pretrained``. Byte-level means every
string round-trips: ``decode(encode(x)) == x`` for any Unicode text (no normalizer, no prefix space,
no cleanup of spaces), and an arbitrary token sequence always decodes (a partial UTF-8 byte sequence
becomes U+FFFD). Every digit is a token of its own (as in Qwen2's tokenizer), so numbers are
learned digit by digit rather than as arbitrary merged chunks.

Special tokens (ids 0, 1, 2 in this order):

- ``<|endoftext|>``: document separator and padding token. There is no BOS token and nothing is
  added around encoded text (``add_special_tokens`` has no effect).
- ``<|im_start|>`` / ``<|im_end|>``: ChatML turn delimiters; ``<|im_end|>`` is the EOS token, so a
  chat model stops at the end of its turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

#: ChatML: ``<|im_start|>role\ncontent<|im_end|>\n`` per message; the generation prompt opens an
#: assistant turn. No default system prompt is inserted.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _batches(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096,
                    min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` (streamed once).

    ``vocab_size`` counts the 3 special tokens and the 256 byte symbols; the result can be smaller
    when the corpus has too few pairs seen ``min_frequency`` times.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must be >= {len(SPECIAL_TOKENS) + 256}, got {vocab_size}")
    core = Tokenizer(models.BPE())
    # every digit its own token (as Qwen2's tokenizer does: numbers stay learnable digit by digit),
    # then the GPT-2 style split (letters, punctuation, whitespace runs) on raw bytes; no prefix space
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(_batches(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 30,
        padding_side="left",
    )
