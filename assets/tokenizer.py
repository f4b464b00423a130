"""tokenizer: byte-level BPE with ChatML tokens trained on the filtered corpus and the synthetic
reasoning data (tiny profile), or an existing Hugging Face tokenizer (cluster: Qwen2's)."""


from typing import Any

import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import corpus_rows, upstream_artifact
from mimo.paths import expand
from resources.lake import LakeResource


class TokenizerConfig(dg.Config):
    """Train a tokenizer, or copy a pretrained one (``pretrained``: HF name or local path)."""

    vocab_size: int = 4096
    min_frequency: int = 2
    pretrained: str | None = None


def synthetic_texts(context: Any, lake: LakeResource) -> tuple[list[list[dict]], str]:
    """Conversations of the latest synthetic_reasoning artifact and its id."""
    art = upstream_artifact(context, lake, "synthetic_reasoning")
    table = lake.lake().read_parquet(f"{art['path']}/samples.parquet", columns=["messages"])
    return table.column("messages").to_pylist(), art["artifact_id"]


@dg.asset(
    deps=["filtered_corpus", "synthetic_reasoning"], group_name="pretrain_data", kinds={"huggingface"},
    code_version="tokenizer-v1",
    description="Byte-level BPE tokenizer with <|im_start|>/<|im_end|> and a ChatML chat template, saved as a "
                "Hugging Face tokenizer (or a pretrained one, e.g. Qwen2's, on clusters).",
)
def tokenizer(context: dg.AssetExecutionContext, config: TokenizerConfig, lake: LakeResource) -> dg.MaterializeResult:
    from transformers import AutoTokenizer

    from mimo.model.tokenizer import train_tokenizer

    meter = MemoryMeter()
    rows, corpus = corpus_rows(context, lake, ["text"])
    conversations, synth_id = synthetic_texts(context, lake)
    if config.pretrained:
        tok = AutoTokenizer.from_pretrained(expand(config.pretrained))
        if tok.chat_template is None:
            raise dg.Failure(f"pretrained tokenizer {config.pretrained} has no chat template")
    else:
        texts = [r["text"] for r in rows] + ["\n".join(m["content"] for m in c) for c in conversations]
        context.log.info(f"training a {config.vocab_size}-token BPE on {len(texts)} texts")
        tok = train_tokenizer(texts, vocab_size=config.vocab_size, min_frequency=config.min_frequency)
    sample = [r["text"] for r in rows[:200]]
    n_tokens = sum(len(tok(t)["input_ids"]) for t in sample)
    chars_per_token = sum(len(t) for t in sample) / max(n_tokens, 1)

    def write(tmp: str) -> WriteStats:
        tok.save_pretrained(tmp)
        return WriteStats(metadata={
            "vocab_size": len(tok), "chars_per_token": round(chars_per_token, 3),
            "special_tokens": tok.all_special_tokens, "eos_token": tok.eos_token, "pad_token": tok.pad_token,
            "chat_template": tok.chat_template[:500], "source": config.pretrained or "trained",
            "load_with": "transformers.AutoTokenizer.from_pretrained('<path>')"})

    return write_artifact(context, lake, config.model_dump(), write,
                          upstream_ids=[corpus["artifact_id"], synth_id], meter=meter)


def load_tokenizer(context: Any, lake: LakeResource):
    """The latest tokenizer artifact as a transformers tokenizer, plus its catalog row."""
    from transformers import AutoTokenizer

    art = upstream_artifact(context, lake, "tokenizer")
    return AutoTokenizer.from_pretrained(art["path"]), art

