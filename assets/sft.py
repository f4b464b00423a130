"""SFT: the SFT dataset (selected, decontaminated, tokenized with the chat template, packed with an
assistant-only loss mask) and the SFT checkpoint, trained from the base model (pretraining stage 3)
through the same trainer and cluster resource as pretraining, MTP layer included."""


import json
from collections import Counter

import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from assets.pretraining import StageTrainingConfig, train_stage
from assets.problems import read_problems
from assets.synthetic_reasoning import evaluation_index
from mimo.data.decontam import SFT_NGRAM
from resources.cluster import ClusterResource
from resources.lake import LakeResource


class SFTDataConfig(dg.Config):
    """Selection and packing (MiMo: at most 8 responses per query, 16-gram decontamination, 32K rows)."""

    max_responses_per_query: int = 8
    mixed_script_max: float = 0.05  # share of letters outside the dominant script
    ngram: int = SFT_NGRAM
    seq_len: int = 1024  # MiMo: 32,768
    strategies: list[str] = ["problem_solution", "grounded_analysis", "general_query"]
    seed: int = 0  # order in which samples are packed


@dg.asset(
    deps=["synthetic_reasoning", "tokenizer", "evaluation_sets"], group_name="sft", kinds={"numpy"},
    code_version="sft-data-v1",
    description="SFT samples from the synthetic reasoning data (verified problem solutions, grounded analyses, "
                "general responses): incomplete and mixed-language responses dropped, queries with an n-gram "
                "overlap with an evaluation set dropped, at most N responses per query; rendered with the "
                "chat template and packed whole into rows with an assistant-only loss mask.",
)
def sft_data(context: dg.AssetExecutionContext, config: SFTDataConfig, lake: LakeResource) -> dg.MaterializeResult:
    import random

    from transformers import AutoTokenizer

    from mimo.sft.packing import pack_sft, tokenize_conversation
    from mimo.sft.select import select_samples

    meter = MemoryMeter()
    synth = upstream_artifact(context, lake, "synthetic_reasoning")
    tok_art = upstream_artifact(context, lake, "tokenizer")
    eval_problems, eval_art = read_problems(context, lake, "evaluation_sets")
    rows = lake.lake().read_parquet(f"{synth['path']}/samples.parquet").to_pylist()
    by_strategy = Counter(r["strategy"] for r in rows)
    rows = [r for r in rows if r["strategy"] in config.strategies]
    kept, report = select_samples(rows, max_per_query=config.max_responses_per_query,
                                  mixed_script_max=config.mixed_script_max,
                                  index=evaluation_index(eval_problems, config.ngram))
    if not kept:
        raise dg.Failure(f"no SFT samples left after selection: {report.to_metadata()}")
    random.Random(config.seed).shuffle(kept)
    tok = AutoTokenizer.from_pretrained(tok_art["path"])
    encoded = [tokenize_conversation(r["messages"], tok) for r in kept]
    context.log.info(f"sft_data: {len(kept)} of {report.input} samples selected; packing into rows of {config.seq_len}")

    def write(tmp: str) -> WriteStats:
        stats = pack_sft(encoded, config.seq_len, tok.pad_token_id or tok.eos_token_id, tmp,
                         meta={"source_artifact": synth["artifact_id"]})
        if stats.rows == 0:
            raise dg.Failure("every SFT sample is longer than seq_len; raise seq_len")
        kept_by = Counter(r["strategy"] for r in kept)
        return WriteStats(row_count=stats.rows, token_count=stats.tokens, metadata={
            "selection": report.to_metadata(), "input_by_strategy": dict(by_strategy),
            "kept_by_strategy": dict(kept_by), "kept_by_domain": dict(Counter(r["domain"] for r in kept)),
            "samples_packed": stats.samples, "dropped_too_long": stats.dropped_too_long, "rows": stats.rows,
            "seq_len": config.seq_len, "target_tokens": stats.target_tokens,
            "target_share": round(stats.target_tokens / max(stats.tokens, 1), 4),
            "padding_share": round(stats.padding_tokens / max(stats.tokens, 1), 4),
            "ngram": config.ngram, "read_with": "mimo.data.packing.PackedDataset(['<path>']) (loss_mask.npy)",
        })

    return write_artifact(context, lake, config.model_dump(), write,
                          upstream_ids=[synth["artifact_id"], tok_art["artifact_id"], eval_art["artifact_id"]],
                          meter=meter)


class SFTTrainingConfig(StageTrainingConfig):
    """SFT: constant LR (MiMo 3e-5 at batch 128; tiny: larger for a tiny model), ``epochs`` over the
    packed SFT shard, MTP layers trained (λ constant)."""

    epochs: float = 2.0
    lr_start: float = 3e-4
    lr_segments: list[dict] = [{"tokens": 1, "kind": "constant"}]
    batch_start: int = 8
    batch_end: int = 8
    batch_warmup_tokens: int = 0
    mtp_weight_points: list[list[float]] = [[0, 0.1]]
    checkpoint_every_steps: int = 20
    eval_rows: int = 4


@dg.asset(deps=["sft_data", "tokenizer", "pretrain_stage3"], group_name="sft", kinds={"pytorch"}, code_version="sft-v1",
          pool="gpu",
          description="The SFT model: the base model (stage 3) fine-tuned on the SFT data with the loss on "
                      "assistant tokens only, samples packed without cross-sample attention, constant LR, "
                      "the MTP layer trained too.")
def sft_model(context: dg.AssetExecutionContext, config: SFTTrainingConfig, lake: LakeResource,
              cluster: ClusterResource) -> dg.MaterializeResult:
    data = upstream_artifact(context, lake, "sft_data")
    meta = json.loads(data["metadata"])
    shard_tokens = int(meta["rows"]) * int(meta["seq_len"])
    stage_tokens = max(int(shard_tokens * config.epochs), config.batch_end * int(meta["seq_len"]))
    return train_stage(context, config, lake, cluster, "sft", "sft_data", "pretrain_stage3", 3,
                       stage_tokens=stage_tokens)
