"""RL problem curation (MiMo-7B recipe): dedup, format and reference-solution filters,
decontamination, rollout pass rates, difficulty filter and code test levels (no Dagster import).
See docs/rl-curation.md."""

from mimo.rl.curation.difficulty import difficulty_filter, no_signal_message, pass_rate_histogram, signal_by_level
from mimo.rl.curation.filters import (
    check_reference_solutions,
    decontaminate_problems,
    dedup_problems,
    filter_format,
    format_reason,
)
from mimo.rl.curation.rollouts import RolloutStats, rollout_pass_rates
from mimo.rl.curation.test_levels import assign_levels, level_tests

__all__ = [
    "RolloutStats", "assign_levels", "check_reference_solutions", "decontaminate_problems",
    "dedup_problems", "difficulty_filter", "filter_format", "format_reason", "level_tests",
    "no_signal_message", "pass_rate_histogram", "rollout_pass_rates", "signal_by_level",
]
