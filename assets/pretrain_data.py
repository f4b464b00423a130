"""pretrain_data_stage1/2/3: each stage's mixture, tokenized and packed with document boundaries."""


import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import corpus_rows
from assets.problems import read_problems
from assets.tokenizer import load_tokenizer, synthetic_texts
from mimo.data.stage_data import StageDataSpec, build_stage_data, render_sources
from mimo.problems.worked import worked_documents
from resources.lake import LakeResource

STAGES = ("stage1", "stage2", "stage3")
DEFAULT_SHARES = {
    "stage1": {"math": 0.15, "code": 0.15, "science": 0.1, "general": 0.6},
    "stage2": {"math": 0.4, "code": 0.3, "science": 0.1, "general": 0.2},
    "stage3": {"math": 0.35, "code": 0.25, "science": 0.1, "general": 0.2, "synthetic": 0.1},
}
DESCRIPTIONS = {
    "stage1": "all sources except synthetic reasoning, low-value content down-sampled by the corpus weight",
    "stage2": "math and code raised to about 70%",
    "stage3": "about 10% synthetic reasoning data, 4x longer context",
}


class StageDataConfig(dg.Config):
    """Target token shares per source (math, code, science, general, synthetic, problems), budget, row length."""

    shares: dict[str, float] = DEFAULT_SHARES["stage1"]
    total_tokens: int = 250_000
    seq_len: int = 256
    seed: int = 0


def stage_data_name(stage: str) -> str:
    return f"pretrain_data_{stage}"


def _make(stage: str) -> dg.AssetsDefinition:
    deps = ["tokenizer", "filtered_corpus"] + (["synthetic_reasoning", "reasoning_problems"] if stage != "stage1" else [])

    @dg.asset(name=stage_data_name(stage), deps=deps, group_name="pretrain_data", kinds={"numpy"},
              code_version="pretrain-data-v1",
              description=f"Pretraining {stage} data: {DESCRIPTIONS[stage]}; realized token shares in metadata; "
                          "packed rows with position resets at document starts (memory-mapped .npy).")
    def _asset(context: dg.AssetExecutionContext, config: StageDataConfig, lake: LakeResource) -> dg.MaterializeResult:
        meter = MemoryMeter()
        try:
            spec = StageDataSpec(**config.model_dump())
        except ValueError as e:
            raise dg.Failure(f"bad data config for {stage}: {e}") from e
        tok, tok_art = load_tokenizer(context, lake)
        rows, corpus = corpus_rows(context, lake, ["doc_id", "text", "domain", "weight"])
        conversations, synth_id = synthetic_texts(context, lake) if spec.shares.get("synthetic", 0) > 0 else ([], None)
        worked, problems_id, worked_meta = [], None, {}
        if spec.shares.get("problems", 0) > 0:
            problems, problems_art = read_problems(context, lake, "reasoning_problems")
            worked, overlap = worked_documents(problems)
            problems_id = problems_art["artifact_id"]
            worked_meta = {"worked_problems": len(worked), "worked_problems_removed_heldout_overlap": overlap}
            if not worked:
                raise dg.Failure(f"{stage}: the 'problems' share is {spec.shares['problems']} but reasoning_problems "
                                 "has no training-split problem with a solution")
        tokens, docs = render_sources(rows, conversations, tok, worked)
        eos_id = tok.convert_tokens_to_ids("<|endoftext|>")
        if eos_id is None or eos_id == tok.unk_token_id:
            eos_id = tok.eos_token_id

        def write(tmp: str) -> WriteStats:
            try:
                meta = build_stage_data(tokens, docs, spec, eos_id, tmp)
            except ValueError as e:
                raise dg.Failure(f"{stage}: {e}") from e
            return WriteStats(row_count=meta["rows"], token_count=meta["tokens_packed"], metadata={
                **meta, **worked_meta, "realized_shares": meta["mixture"]["realized_shares"], "stage": stage,
                "read_with": "mimo.data.packing.PackedDataset(['<path>'])"})

        upstream = [tok_art["artifact_id"], corpus["artifact_id"]] + [a for a in (synth_id, problems_id) if a]
        return write_artifact(context, lake, config.model_dump(), write, upstream_ids=upstream, meter=meter)

    return _asset


pretrain_data_stage1, pretrain_data_stage2, pretrain_data_stage3 = (_make(s) for s in STAGES)
