"""Data types of the rollout engine: tasks (prompt groups), samples, scored groups, batches, config."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mimo.generate.base import Message, SamplingParams

#: reward statuses of masked samples (never scored 0 silently; excluded from the group's variance)
REWARD_TIMEOUT, REWARD_ERROR, GENERATION_ERROR = "reward_timeout", "reward_error", "generation_error"


@dataclass(frozen=True)
class RolloutTask:
    """One prompt group: ``num_generations`` rollouts of one prompt.

    ``payload`` is what the reward needs (math: ``{"answer"}``; code: ``{"tests", ...}``);
    ``launch_index`` is set by the engine when the task is launched (FIFO order); ``seed`` (optional)
    seeds the task's request (sample i uses ``seed + i``), else ``RolloutConfig.sampling.seed``.
    """

    prompt_id: str
    messages: list[Message]
    domain: str
    payload: dict[str, Any]
    num_generations: int = 16
    launch_index: int = -1
    seed: int | None = None


@dataclass
class RolloutSample:
    """One rollout. ``reward`` is None when masked (reward worker crashed/hung, generation failed,
    or a masked reward status); ``token_ids``: the sampled ids when the backend returns them
    (transformers, vLLM), else None (the trainer re-tokenizes ``text``)."""

    text: str
    finish_reason: str
    completion_tokens: int
    reward: float | None = None
    reward_status: str = ""
    token_ids: list[int] | None = None

    @property
    def masked(self) -> bool:
        return self.reward is None


@dataclass
class GroupResult:
    """A task with its scored samples and timings (``time.perf_counter`` seconds)."""

    task: RolloutTask
    samples: list[RolloutSample]
    launched_at: float
    generated_at: float
    rewarded_at: float
    gen_started_at: float = 0.0
    informative_only: bool = True  # dynamic sampling: a group counts only when its rewards differ

    @property
    def rewards(self) -> list[float | None]:
        return [s.reward for s in self.samples]

    @property
    def scored(self) -> list[float]:
        """Rewards of the unmasked samples."""
        return [s.reward for s in self.samples if s.reward is not None]

    @property
    def valid(self) -> bool:
        """True when the unmasked rewards differ (GRPO advantage is non-zero; without dynamic
        sampling any group counts); needs >= 2 of them."""
        r = self.scored
        return len(r) >= 2 and (max(r) > min(r) or not self.informative_only)

    @property
    def masked_samples(self) -> int:
        return sum(s.masked for s in self.samples)


@dataclass
class RolloutConfig:
    """Engine settings; ``continuous``/``async_reward``/``early_termination`` all False = naive.

    * ``generation_threads``: concurrent ``generate_batch`` callers (1 for an in-process model;
      more for a server/openai backend), each taking up to ``micro_batch_groups`` tasks per call.
    * ``reward_workers``: reward worker processes; ``reward_timeout_s``: per-group deadline.
    * ``round_prompts`` (naive): prompts per generate-all round (default: ``batch_prompts``).
    * ``launch_slack``: continuous launch target = ``batch_prompts * launch_slack`` predicted valid.
    * ``initial_valid_rate``: prior of the valid-group rate before any group is seen.
    * ``prune_queued`` (continuous): after each scored group, launched tasks that have not started
      and that the prediction no longer needs go back to the task queue (not generated, not waste).
    * ``on_exhausted``: ``"raise"`` (:class:`NotEnoughValidGroups`) or ``"partial"`` (flagged batch).
    """

    continuous: bool = True
    async_reward: bool = True
    early_termination: bool = True
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=1.0, max_tokens=4096))
    generation_threads: int = 1
    micro_batch_groups: int = 4
    reward_workers: int = 2
    reward_timeout_s: float = 60.0
    round_prompts: int | None = None
    launch_slack: float = 1.0
    initial_valid_rate: float = 0.5
    prune_queued: bool = True
    dynamic_sampling: bool = True  # False: groups whose rewards are all equal count as valid too
    max_active_groups: int = 1 << 16
    pass_threshold: float = 1.0
    masked_statuses: tuple[str, ...] = ("error",)
    on_exhausted: Literal["raise", "partial"] = "raise"

    def __post_init__(self) -> None:
        if self.generation_threads < 1 or self.micro_batch_groups < 1 or self.reward_workers < 1:
            raise ValueError("generation_threads, micro_batch_groups and reward_workers must be >= 1")
        if self.reward_timeout_s <= 0 or self.launch_slack < 1:
            raise ValueError("reward_timeout_s must be > 0 and launch_slack >= 1")
        if not 0 < self.initial_valid_rate <= 1:
            raise ValueError("initial_valid_rate must be in (0, 1]")
        if self.on_exhausted not in ("raise", "partial"):
            raise ValueError(f"on_exhausted must be 'raise' or 'partial', got {self.on_exhausted!r}")

    @property
    def naive(self) -> bool:
        return not (self.continuous or self.async_reward or self.early_termination)

    @property
    def label(self) -> str:
        """Table-2 row name of this configuration."""
        if self.naive:
            return "naive"
        on = [n for n, f in (("continuous", self.continuous), ("async_reward", self.async_reward),
                             ("early_termination", self.early_termination)) if f]
        return "+" + "+".join(on)


class NotEnoughValidGroups(RuntimeError):
    """The task iterator ran out before ``batch_prompts`` valid groups were found."""

    def __init__(self, message: str, batch: Any) -> None:
        super().__init__(message)
        self.batch = batch


def tasks_from_problems(problems: Iterable[Any], num_generations: int = 16,
                        system_prompt: str | None = None, seed: int | None = None) -> Iterator[RolloutTask]:
    """Rollout tasks of :class:`~mimo.problems.records.Problem` records (the RL rollout prompt);
    with ``seed``, the k-th task gets the seed ``seed + k * num_generations`` (no two samples of
    the stream share a random stream)."""
    from mimo.rl.curation.rollouts import rollout_messages

    for idx, p in enumerate(problems):
        if p.domain == "math":
            payload: dict[str, Any] = {"answer": p.answer}
        else:
            payload = {"tests": [t.to_dict() for t in p.tests]}
            for k in ("time_limit_s", "memory_limit_mb"):
                if k in p.metadata:
                    payload[k] = p.metadata[k]
        task_seed = None if seed is None else seed + idx * num_generations
        yield RolloutTask(p.id, rollout_messages(p, system_prompt), p.domain, payload, num_generations,
                          seed=task_seed)


@dataclass
class RolloutBatch:
    """Valid groups in FIFO launch order, the step's metrics, and whether the batch is full."""

    groups: list[GroupResult]
    metrics: Any  # RolloutMetrics
    complete: bool = True
    config_label: str = ""

    def __len__(self) -> int:
        return len(self.groups)
