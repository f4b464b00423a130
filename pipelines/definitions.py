"""The Dagster code location: assets, checks, jobs, sensors and resources for the active profile.

The profile comes from ``MIMO_PROFILE`` (default ``tiny``); see ``pipelines/profiles/``. Its asset
settings become the assets' config defaults, so every launch path uses them.
"""

from __future__ import annotations

import warnings

import dagster as dg

from assets import (
    checks,
    corpus,
    crawl,
    dedup,
    extraction,
    pretrain_data,
    pretraining,
    problems,
    report,
    rl,
    rl_problems,
    sft,
    speculative,
    synthetic,
    synthetic_reasoning,
    tagging,
    tokenizer,
)
from assets.evaluation import build_eval_assets
from pipelines.automation import with_automation
from pipelines.jobs import build_jobs
from pipelines.profile_config import apply_profile_defaults
from pipelines.profiles import Profile, load_profile
from pipelines.sensors import build_schedules, build_sensors
from resources.cluster import ClusterResource
from resources.generator import GeneratorResource
from resources.lake import CrawlSourceResource, LakeResource

# Dagster's own conversion of assets with check specs passes a beta parameter; nothing to act on
warnings.filterwarnings("ignore", message=".*`execution_type`.*", category=dg.BetaWarning)

ASSET_MODULES = [crawl, extraction, dedup, tagging, corpus, problems, synthetic, synthetic_reasoning, tokenizer,
                 pretrain_data, pretraining, sft, rl_problems, rl, speculative, report]
CHECK_MODULES = [checks, synthetic_reasoning]


def build_definitions(profile: Profile) -> dg.Definitions:
    """Definitions for one profile."""
    eval_assets = build_eval_assets(profile.eval_benchmarks)
    assets, asset_checks = apply_profile_defaults(
        [*dg.load_assets_from_modules(ASSET_MODULES), *eval_assets],
        dg.load_asset_checks_from_modules(CHECK_MODULES), profile)
    return dg.Definitions(
        assets=with_automation(assets, profile.automate_training),
        asset_checks=asset_checks,
        jobs=build_jobs(profile),
        sensors=build_sensors(profile.sensors_running_by_default),
        schedules=build_schedules(list(eval_assets[0].partitions_def.get_partition_keys())),
        resources={
            "lake": LakeResource(root=profile.lake_root, catalog_path=profile.catalog_path),
            "crawl_source": CrawlSourceResource(input_uri=profile.crawl_input),
            "generator": GeneratorResource(**profile.generator),
            "cluster": ClusterResource(**profile.cluster),
        },
    )


defs = build_definitions(load_profile())
