"""Metrics of one ``collect()`` / ``validate()`` call; the same definitions for naive and seamless.

* ``wall_s``: call start to return.
* ``gen_busy_s``: useful generation time: time generation threads spent inside ``generate_batch``
  calls of this step that finished within it (summed over threads). A call abandoned by early
  termination counts as idle, in this step and in the next one that waits for it (MiMo: "aborted
  tasks count as idle"); ``gen_busy_all_s`` counts every call.
  ``idle_fraction = 1 - gen_busy_s / (generation_threads * wall_s)``.
* ``samples_generated``: samples of every task whose generation started in this call, including
  in-flight tasks aborted by early termination (their compute is spent).
* ``samples_used``: samples in the returned batch; ``wasted = generated - used`` =
  ``samples_invalid`` (groups dynamic sampling drops: all pass / all fail) + ``samples_surplus``
  (valid groups beyond the batch) + ``samples_aborted`` (in flight or unscored at the end);
  ``waste_fraction``. The part the scheduler controls is ``scheduling_waste_fraction`` =
  (surplus + aborted) / generated; ``invalid_fraction`` = invalid / generated depends only on the
  model and the problems (the same for every configuration in expectation).
* ``valid_groups``: valid groups seen (may exceed the batch); ``pass_rate``: fraction of scored
  samples with reward >= ``pass_threshold``; ``reward_mean``: their mean reward (every scored
  group, valid or not); ``reward_s``: reward-worker busy time (summed).
* ``reward_failures``: samples masked because their reward worker crashed or hung.
* ``requeued_groups``: launched, not started when early termination ended the step (relaunched
  first by the next step); ``unlaunched_groups``: queued tasks taken back during the step because
  the valid-group prediction no longer needed them (``RolloutConfig.prune_queued``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


def overlap(intervals: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Total length of ``intervals`` clipped to ``[start, end]`` (intervals summed, not merged)."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)


@dataclass
class RolloutMetrics:
    """See the module docstring."""

    mode: str = ""
    wall_s: float = 0.0
    gen_busy_s: float = 0.0
    gen_busy_all_s: float = 0.0
    generation_threads: int = 1
    samples_generated: int = 0
    samples_used: int = 0
    samples_invalid: int = 0
    samples_surplus: int = 0
    samples_aborted: int = 0
    groups_launched: int = 0
    groups_finished: int = 0
    valid_groups: int = 0
    aborted_groups: int = 0
    requeued_groups: int = 0
    unlaunched_groups: int = 0
    scored_samples: int = 0
    passed_samples: int = 0
    reward_sum: float = 0.0
    reward_s: float = 0.0
    reward_failures: int = 0
    generation_failures: int = 0
    rounds: int = 0
    completion_tokens: int = 0

    @property
    def idle_fraction(self) -> float:
        cap = self.generation_threads * self.wall_s
        return max(0.0, 1.0 - self.gen_busy_s / cap) if cap > 0 else 0.0

    @property
    def wasted_samples(self) -> int:
        return max(0, self.samples_generated - self.samples_used)

    @property
    def waste_fraction(self) -> float:
        return self.wasted_samples / self.samples_generated if self.samples_generated else 0.0

    @property
    def scheduling_waste_fraction(self) -> float:
        n = self.samples_surplus + self.samples_aborted
        return n / self.samples_generated if self.samples_generated else 0.0

    @property
    def invalid_fraction(self) -> float:
        return self.samples_invalid / self.samples_generated if self.samples_generated else 0.0

    @property
    def pass_rate(self) -> float:
        return self.passed_samples / self.scored_samples if self.scored_samples else 0.0

    @property
    def reward_mean(self) -> float:
        return self.reward_sum / self.scored_samples if self.scored_samples else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict including the derived fractions."""
        d = asdict(self)
        d.update(idle_fraction=round(self.idle_fraction, 4), wasted_samples=self.wasted_samples,
                 waste_fraction=round(self.waste_fraction, 4), pass_rate=round(self.pass_rate, 4),
                 reward_mean=round(self.reward_mean, 4),
                 scheduling_waste_fraction=round(self.scheduling_waste_fraction, 4),
                 invalid_fraction=round(self.invalid_fraction, 4))
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def table2(rows: dict[str, dict[str, float]], baseline: str = "naive",
           train_s: float = 0.0) -> list[dict[str, Any]]:
    """Table-2 rows from per-config ``{"rollout_s", "idle_fraction", "waste_fraction"}`` (and
    optionally ``"scheduling_waste_fraction"``).

    ``rollout speedup = rollout_s(naive) / rollout_s``; ``overall`` adds ``train_s`` (total training
    time of the same steps) to both (rollout and training alternate, on-policy).
    """
    base = rows[baseline]["rollout_s"]
    out = []
    for name, r in rows.items():
        row = {"config": name,
               "overall_speedup": round((base + train_s) / (r["rollout_s"] + train_s), 3),
               "rollout_speedup": round(base / r["rollout_s"], 3),
               "idle_ratio": round(r["idle_fraction"], 4),
               "sample_waste": round(r["waste_fraction"], 4)}
        if "scheduling_waste_fraction" in r:
            row["scheduling_waste"] = round(r["scheduling_waste_fraction"], 4)
        out.append(row)
    return out


def aggregate(steps: list[RolloutMetrics]) -> dict[str, float]:
    """Totals over several steps: rollout time, idle and waste fractions (sample-weighted)."""
    wall = sum(m.wall_s for m in steps)
    cap = sum(m.generation_threads * m.wall_s for m in steps)
    gen = sum(m.samples_generated for m in steps)
    frac = (lambda n: n / gen if gen else 0.0)
    return {"rollout_s": wall, "idle_fraction": 1 - sum(m.gen_busy_s for m in steps) / cap if cap else 0.0,
            "waste_fraction": frac(sum(m.wasted_samples for m in steps)),
            "scheduling_waste_fraction": frac(sum(m.samples_surplus + m.samples_aborted for m in steps)),
            "invalid_fraction": frac(sum(m.samples_invalid for m in steps)),
            "samples_generated": gen, "samples_used": sum(m.samples_used for m in steps)}


def format_table(rows: list[dict[str, Any]], title: str = "") -> str:
    """A fixed-width text table of :func:`table2` rows."""
    sched = any("scheduling_waste" in r for r in rows)
    head = f"{'config':<34}{'overall':>9}{'rollout':>9}{'idle':>8}{'waste':>8}" + (f"{'sched.':>8}" if sched else "")
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for r in rows:
        extra = f"{100 * r.get('scheduling_waste', 0.0):>7.1f}%" if sched else ""
        lines.append(f"{r['config']:<34}{r['overall_speedup']:>8.2f}x{r['rollout_speedup']:>8.2f}x"
                     f"{100 * r['idle_ratio']:>7.1f}%{100 * r['sample_waste']:>7.1f}%" + extra)
    return "\n".join(lines)
