"""Per-step histories (``rl_history.json``, ``loss_curve.json``): the row shape the RL loop writes
and the readers every consumer (asset metadata, curves, the report, benches) goes through.

Every RL row has the same keys. A step whose update was skipped has ``update_skipped: true``, a
``skip_reason`` (:data:`NO_INFORMATIVE_GROUP`: no group with differing rewards among the step's
prompts; :data:`NO_TRAINABLE_SAMPLE`: valid groups, but masking left fewer than two samples in
each) and ``null`` for the metrics of the update (:data:`UPDATE_METRICS`); its rollout metrics
(idle/waste fractions, valid groups, ...) are still there, and ``rollout_pass_rate`` /
``rollout_reward_mean`` are ``null`` when no sample was scored. Rows written before this shape
may lack keys: the readers treat a missing key, ``null``, a non-number and NaN alike.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]
Point = tuple[float, float]

NO_INFORMATIVE_GROUP = "no_informative_group"
NO_TRAINABLE_SAMPLE = "no_trainable_sample"

#: metrics of the GRPO update (``GRPOTrainer.step``), ``None`` in a skipped step's row
UPDATE_METRICS: tuple[str, ...] = (
    "reward_mean", "pass_rate", "response_length_mean", "response_length_max", "loss", "clip_fraction_low",
    "clip_fraction_high", "grad_norm", "entropy", "mean_ratio")

#: the ``final_<key>`` values of the RL assets' metadata
FINAL_KEYS: tuple[str, ...] = ("reward_mean", "pass_rate", "idle_fraction", "waste_fraction", "easy_pool_size",
                               "response_length_mean", "entropy")


def skipped_update(reason: str, groups: int = 0, masked_samples: int = 0) -> dict[str, Any]:
    """The update part of a skipped step's row: counts, the reason, ``None`` for each update metric."""
    return {"groups": groups, "samples": 0, "masked_samples": masked_samples, "updates": 0,
            "update_skipped": True, "skip_reason": reason, **dict.fromkeys(UPDATE_METRICS)}


def applied_update(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A trained step's update metrics with the same keys as :func:`skipped_update`."""
    return {**dict.fromkeys(UPDATE_METRICS), **metrics, "update_skipped": False, "skip_reason": None}


def value(row: Row, key: str) -> float | None:
    """``row[key]`` when it is a finite number (int or float, not bool), else ``None``."""
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def series(history: Iterable[Row], key: str, x: str = "step") -> list[Point]:
    """``(x, value)`` of the rows that have both ``x`` and ``key``, in order."""
    pairs = ((value(r, x), value(r, key)) for r in history)
    return [(a, b) for a, b in pairs if a is not None and b is not None]


def per_step(history: Iterable[Row], key: str, digits: int = 4) -> list[float | None]:
    """One value per row (rounded), ``None`` where the row lacks ``key``."""
    return [None if (v := value(r, key)) is None else round(v, digits) for r in history]


def last_value(history: Sequence[Row], key: str) -> float | None:
    """``key`` of the last row that has it (``None`` when none has)."""
    return next((v for r in reversed(history) if (v := value(r, key)) is not None), None)


def is_skipped(row: Row) -> bool:
    """True when the step's update was skipped."""
    return bool(row.get("update_skipped"))


def skipped_steps(history: Iterable[Row]) -> list[int]:
    """Step numbers whose update was skipped."""
    return [int(r["step"]) for r in history if is_skipped(r) and value(r, "step") is not None]


def skip_reasons(history: Iterable[Row]) -> dict[str, int]:
    """Skipped steps counted by reason (``unknown`` for rows without one)."""
    return dict(Counter(str(r.get("skip_reason") or "unknown") for r in history if is_skipped(r)))


def history_metadata(history: Sequence[Row], final_keys: Sequence[str] = FINAL_KEYS) -> dict[str, Any]:
    """Asset metadata of an RL run: ``final_<key>`` (from the last step that has it),
    ``reward_curve`` (one value per step, ``None`` where the update was skipped),
    ``skipped_update_steps`` (their step numbers) and ``skip_reasons`` (counts)."""
    return {**{f"final_{k}": last_value(history, k) for k in final_keys},
            "reward_curve": per_step(history, "reward_mean"),
            "skipped_update_steps": skipped_steps(history), "skip_reasons": skip_reasons(history)}


def mark_skipped(ax: Any, steps: Sequence[float], color: str = "0.6", label: str | None = "update skipped") -> None:
    """Mark skipped steps on a matplotlib axis (dotted vertical lines, one legend entry)."""
    for i, s in enumerate(steps):
        ax.axvline(s, color=color, ls=":", lw=1, zorder=0, label=label if i == 0 else None)
