"""pretrain_data: per-stage mixture, tokenized and packed (one static partition per stage)."""


import dagster as dg

from assets.common import MemoryMeter, WriteStats, corpus_rows, write_artifact
from assets.tokenizer import load_tokenizer, synthetic_texts
from mimo.data.stage_data import StageDataSpec, build_stage_data, render_sources
from resources.lake import LakeResource

STAGES = ["stage1", "stage2", "stage3"]
stage_partitions = dg.StaticPartitionsDefinition(STAGES)


class PretrainDataConfig(dg.Config):
    """Per-stage target shares, token budget and sequence length (keys: stage1, stage2, stage3)."""

    stages: dict[str, dict] = {
        "stage1": {"shares": {"math": 0.15, "code": 0.15, "science": 0.1, "general": 0.6},
                   "total_tokens": 400_000, "seq_len": 256},
        "stage2": {"shares": {"math": 0.4, "code": 0.3, "science": 0.1, "general": 0.2},
                   "total_tokens": 150_000, "seq_len": 256},
        "stage3": {"shares": {"math": 0.35, "code": 0.25, "science": 0.1, "general": 0.2, "synthetic": 0.1},
                   "total_tokens": 100_000, "seq_len": 1024},
    }
    seed: int = 0


@dg.asset(
    deps=["tokenizer", "filtered_corpus", "synthetic_reasoning"], partitions_def=stage_partitions,
    group_name="pretrain_data", kinds={"numpy"}, code_version="pretrain-data-v1",
    description="One pretraining stage's data: mixture with target token shares per source (realized shares "
                "in metadata), tokenized and packed with document boundaries (memory-mapped .npy).",
)
def pretrain_data(context: dg.AssetExecutionContext, config: PretrainDataConfig, lake: LakeResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    stage = context.partition_key
    if stage not in config.stages:
        raise dg.Failure(f"PretrainDataConfig.stages has no entry for {stage} (has {sorted(config.stages)})")
    try:
        spec = StageDataSpec(**config.stages[stage], seed=config.seed)
    except ValueError as e:
        raise dg.Failure(f"bad data config for {stage}: {e}") from e
    tok, tok_art = load_tokenizer(lake)
    rows, corpus = corpus_rows(lake, ["doc_id", "text", "domain", "weight"])
    conversations, synth_id = synthetic_texts(lake) if spec.shares.get("synthetic", 0) > 0 else ([], None)
    tokens, docs = render_sources(rows, conversations, tok)
    eos_id = tok.convert_tokens_to_ids("<|endoftext|>")
    if eos_id is None or eos_id == tok.unk_token_id:
        eos_id = tok.eos_token_id

    def write(tmp: str) -> WriteStats:
        meta = build_stage_data(tokens, docs, spec, eos_id, tmp)
        return WriteStats(row_count=meta["rows"], token_count=meta["tokens_packed"], metadata={
            **meta, "realized_shares": meta["mixture"]["realized_shares"], "stage": stage,
            "read_with": "mimo.data.packing.PackedDataset(['<path>'])"})

    upstream = [tok_art["artifact_id"], corpus["artifact_id"]] + ([synth_id] if synth_id else [])
    return write_artifact(context, lake, {**config.model_dump(), "stage": stage}, write,
                          upstream_ids=upstream, partition=stage, meter=meter)
