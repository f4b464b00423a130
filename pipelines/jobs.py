"""Jobs over the asset graph. Asset settings come from the active profile as config defaults
(pipelines/profile_config.py), so a job needs no run config; the launchpad shows those values."""

from __future__ import annotations

import dagster as dg

from mimo.eval.series import EVAL_ASSETS
from pipelines.profiles import Profile

CRAWL_ASSETS = ["crawl_warc", "extracted_pages"]
CORPUS_ASSETS = ["deduplicated_pages", "tagger_model", "tagged_pages", "filtered_corpus"]
REASONING_ASSETS = ["reasoning_problems", "evaluation_sets", "synthetic_grounded_analyses",
                    "synthetic_problem_solutions", "synthetic_general_responses", "synthetic_reasoning"]
PRETRAIN_ASSETS = ["tokenizer", "pretrain_data_stage1", "pretrain_data_stage2", "pretrain_data_stage3",
                   "pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion"]
POST_TRAINING_ASSETS = ["sft_data", "sft_model", "rl_math_problems", "rl_code_problems"]
RL_ASSETS = ["rl_zero_model", "rl_model"]
EVAL_ASSET_NAMES = list(EVAL_ASSETS.values())
REPORT_ASSETS = ["mtp_speculative_eval", "eval_report"]


def build_jobs(profile: Profile) -> list[dg.UnresolvedAssetJobDefinition]:
    """crawl_job (per crawl file partition), corpus_job (global dedup to filtered corpus),
    reasoning_data_job (problems and synthetic reasoning data), pretrain_job (tokenizer to base
    model and MTP expansion), post_training_job (SFT, RL problem curation), rl_job (RL-Zero, RL),
    eval_job (the series' evaluations on one benchmark partition) and report_job."""
    loggers = profile.run_config()

    def job(name: str, assets: list[str], description: str) -> dg.UnresolvedAssetJobDefinition:
        return dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), config=loggers,
                                   description=description)

    return [
        job("crawl_job", CRAWL_ASSETS, "Read one WARC file and extract its pages (one run per crawl partition)."),
        job("corpus_job", CORPUS_ASSETS,
            "Global dedup over all crawl files, tagging, filtering into the pretraining corpus."),
        job("reasoning_data_job", REASONING_ASSETS,
            "Problem sets, evaluation sets and the three synthetic reasoning strategies, merged and "
            "decontaminated (needs filtered_corpus for grounded analyses)."),
        job("pretrain_job", PRETRAIN_ASSETS,
            "Tokenizer, the three stages' packed data, pretraining stages 1-3 through the cluster resource, "
            "and the MTP expansion."),
        job("post_training_job", POST_TRAINING_ASSETS,
            "SFT data and the SFT model (from the base model), then the curated RL problem sets."),
        job("rl_job", RL_ASSETS, "GRPO with the seamless rollout engine: RL-Zero from the base model, RL from "
                                 "the SFT model."),
        job("eval_job", EVAL_ASSET_NAMES,
            "The series' checkpoints on one benchmark (a partition), with the regression check of each "
            "checkpoint against its parent."),
        job("report_job", REPORT_ASSETS,
            "MTP speculative decoding (acceptance per layer, decode speed) and the evaluation report "
            "(HTML + Markdown) from the latest evaluations, curves and lineage."),
    ]
