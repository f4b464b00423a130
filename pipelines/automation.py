"""Automation conditions of the assets: eager refresh when upstream data changes, held back while
an upstream's blocking check has failed.

Data assets downstream of the crawl, the evaluations (a new checkpoint is evaluated on every
benchmark of the profile) and the report are always automated; the training assets only when the
profile sets ``automate_training`` (cheap on the tiny profile, a deliberate choice at 7B scale).
The conditions act only while ``automation_sensor`` runs. Crawl partitions come from
``crawl_files_sensor``, which adds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from mimo.eval.series import EVAL_ASSETS

DATA_ASSETS = {"deduplicated_pages", "tagger_model", "tagged_pages", "filtered_corpus",
               "synthetic_grounded_analyses", "synthetic_problem_solutions", "synthetic_general_responses",
               "synthetic_reasoning", "tokenizer", "pretrain_data_stage1", "pretrain_data_stage2",
               "pretrain_data_stage3", "sft_data"}
TRAINING_ASSETS = {"pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion", "sft_model",
                   "rl_math_problems", "rl_code_problems", "rl_zero_model", "rl_model"}
EVALUATION_ASSETS = {*EVAL_ASSETS.values(), "mtp_speculative_eval", "eval_report"}


def refresh_condition() -> dg.AutomationCondition:
    """Eager (new upstream data or newly missing partitions; nothing upstream missing or running),
    and every blocking check of every upstream passed."""
    return (dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
            ).with_label("eager, upstream checks passed")


def automated_assets(automate_training: bool) -> set[str]:
    """Names of the assets that carry the refresh condition."""
    return DATA_ASSETS | EVALUATION_ASSETS | (TRAINING_ASSETS if automate_training else set())


def with_automation(assets: Sequence[dg.AssetsDefinition], automate_training: bool) -> list[dg.AssetsDefinition]:
    """The assets, the automated ones with the refresh condition."""
    names = automated_assets(automate_training)
    condition = refresh_condition()
    return [a.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition))
            if a.key.to_user_string() in names else a for a in assets]
