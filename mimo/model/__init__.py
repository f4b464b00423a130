"""Model-side building blocks. Exported here: the byte-level BPE tokenizer with its ChatML chat
template (:mod:`mimo.model.tokenizer`); import the other modules of this package directly."""

from mimo.model.tokenizer import (
    CHAT_TEMPLATE,
    ENDOFTEXT,
    IM_END,
    IM_START,
    SPECIAL_TOKENS,
    train_tokenizer,
)

__all__ = ["CHAT_TEMPLATE", "ENDOFTEXT", "IM_END", "IM_START", "SPECIAL_TOKENS", "train_tokenizer"]
