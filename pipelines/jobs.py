"""Jobs over the asset graph, with the profile's settings as default run config."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import eval_partitions
from pipelines.profiles import Profile

CRAWL_ASSETS = ["crawl_warc", "extracted_pages"]
CORPUS_ASSETS = ["deduplicated_pages", "tagger_model", "tagged_pages", "filtered_corpus"]
REASONING_ASSETS = ["reasoning_problems", "evaluation_sets", "synthetic_grounded_analyses",
                    "synthetic_problem_solutions", "synthetic_general_responses", "synthetic_reasoning"]
PRETRAIN_ASSETS = ["tokenizer", "pretrain_data_stage1", "pretrain_data_stage2", "pretrain_data_stage3",
                   "pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion"]
POST_TRAINING_ASSETS = ["sft_data", "sft_model", "rl_math_problems", "rl_code_problems"]
RL_ASSETS = ["rl_zero_model", "rl_model"]
EVAL_ASSETS = ["eval_results"]
REPORT_ASSETS = ["mtp_speculative_eval", "eval_report"]
REASONING_CHECKS = {"synthetic_no_eval_contamination": "synthetic_reasoning"}
CORPUS_CHECKS = {"dedup_rate_in_band": "deduplicated_pages", "no_empty_shard": "filtered_corpus",
                 "math_code_share": "filtered_corpus", "no_benchmark_contamination": "filtered_corpus"}


def build_jobs(profile: Profile) -> list[dg.UnresolvedAssetJobDefinition]:
    """crawl_job (per crawl file partition), corpus_job (global dedup to filtered corpus),
    reasoning_data_job (problems and synthetic reasoning data), pretrain_job (tokenizer to base
    model and MTP expansion), post_training_job (SFT, RL problem curation), rl_job (RL-Zero, RL),
    eval_job (one (checkpoint, benchmark) partition) and report_job (the evaluation report)."""
    crawl_job = dg.define_asset_job(
        "crawl_job",
        selection=dg.AssetSelection.assets(*CRAWL_ASSETS),
        config=profile.run_config(CRAWL_ASSETS),
        description="Read one WARC file and extract its pages (one run per crawl partition).",
    )
    corpus_job = dg.define_asset_job(
        "corpus_job",
        selection=dg.AssetSelection.assets(*CORPUS_ASSETS),
        config=profile.run_config(CORPUS_ASSETS, CORPUS_CHECKS),
        description="Global dedup over all crawl files, tagging, filtering into the pretraining corpus.",
    )
    reasoning_data_job = dg.define_asset_job(
        "reasoning_data_job",
        selection=dg.AssetSelection.assets(*REASONING_ASSETS),
        config=profile.run_config(REASONING_ASSETS, REASONING_CHECKS),
        description="Problem sets, evaluation sets and the three synthetic reasoning strategies, "
                    "merged and decontaminated (needs filtered_corpus for grounded analyses).",
    )
    pretrain_job = dg.define_asset_job(
        "pretrain_job",
        selection=dg.AssetSelection.assets(*PRETRAIN_ASSETS),
        config=profile.run_config(PRETRAIN_ASSETS),
        description="Tokenizer, the three stages' packed data, pretraining stages 1-3 through the cluster "
                    "resource, and the MTP expansion.",
    )
    post_training_job = dg.define_asset_job(
        "post_training_job",
        selection=dg.AssetSelection.assets(*POST_TRAINING_ASSETS),
        config=profile.run_config(POST_TRAINING_ASSETS),
        description="SFT data and the SFT model (from the base model), then the curated RL problem sets.",
    )
    rl_job = dg.define_asset_job(
        "rl_job",
        selection=dg.AssetSelection.assets(*RL_ASSETS),
        config=profile.run_config(RL_ASSETS),
        description="GRPO with the seamless rollout engine: RL-Zero from the base model, RL from the SFT model.",
    )
    eval_job = dg.define_asset_job(
        "eval_job",
        selection=dg.AssetSelection.assets(*EVAL_ASSETS),
        partitions_def=eval_partitions,
        config=profile.run_config(EVAL_ASSETS),
        description="One checkpoint on one benchmark (a (checkpoint, benchmark) partition), with the "
                    "regression check against the parent checkpoint.",
    )
    report_job = dg.define_asset_job(
        "report_job",
        selection=dg.AssetSelection.assets(*REPORT_ASSETS),
        config=profile.run_config(REPORT_ASSETS),
        description="MTP speculative decoding (acceptance per layer, decode speed) and the evaluation report "
                    "(HTML + Markdown) from the latest evaluations, curves and lineage.",
    )
    return [crawl_job, corpus_job, reasoning_data_job, pretrain_job, post_training_job, rl_job, eval_job, report_job]
