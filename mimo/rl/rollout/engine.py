"""The seamless rollout engine (MiMo-7B report, RL infrastructure).

* ``continuous``: no barrier between generation and reward; finished groups are scored at once;
  new tasks are launched only while ``valid + valid_rate * active < batch_prompts * launch_slack``
  (``valid_rate``: observed fraction of valid groups, kept across steps, with a prior); after each
  scored group, launched tasks that have not started and are no longer predicted to be needed go
  back to the queue, and a queued call only starts while the started, unfinished groups are not
  predicted to fill the batch (``prune_queued``: the launch prediction applied again when a call
  would start; it waits for pending rewards rather than generate a call that may be wasted).
  Launches and take-backs keep the not-started tasks a
  multiple of ``micro_batch_groups``, so each ``generate_batch`` call of a batch-synchronous
  backend is full (a call costs about as long as its longest sample, whatever its size).
* ``async_reward``: groups are scored in reward worker processes while generation goes on
  (without it, the generation thread scores each micro-batch itself and waits).
* ``early_termination``: the batch is the earliest-launched valid groups; the step ends as soon
  as ``batch_prompts`` of them exist and every task launched before them has finished (FIFO, so
  short responses are not favoured). Not-started tasks are requeued for the next step; in-flight
  ones are abandoned (their samples count as waste). A running ``generate_batch`` call of a
  batch-synchronous backend cannot be interrupted, so the next step waits for it; a streaming
  backend (continuous batching: :mod:`mimo.rl.rollout.streaming`) cancels them at once.

With all three off, :meth:`SeamlessRolloutEngine.collect` runs the naive loop of
:mod:`mimo.rl.rollout.naive` (generate all -> score all -> filter -> repeat).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from mimo.generate.base import Generator
from mimo.rl.rollout.generation import GenerationWorkers
from mimo.rl.rollout.rewards import RewardFn, RewardPool
from mimo.rl.rollout.step import Step
from mimo.rl.rollout.streaming import StreamingGenerationWorkers, is_streaming
from mimo.rl.rollout.types import GroupResult, NotEnoughValidGroups, RolloutBatch, RolloutConfig, RolloutTask

PRIOR_WEIGHT = 2.0  # pseudo-groups behind ``initial_valid_rate``


class SeamlessRolloutEngine:
    """Collects GRPO batches of valid groups from a :class:`Generator` and a :class:`RewardFn`."""

    def __init__(self, generator: Generator, reward_fn: RewardFn, config: RolloutConfig | None = None) -> None:
        self.config = cfg = config or RolloutConfig()
        self.generator = generator
        self.workers: GenerationWorkers | StreamingGenerationWorkers
        if is_streaming(generator):
            self.workers = StreamingGenerationWorkers(generator, cfg.sampling)
        else:
            self.workers = GenerationWorkers(generator, cfg.sampling, cfg.generation_threads, cfg.micro_batch_groups)
        self.rewards = RewardPool(reward_fn, cfg.reward_workers, cfg.reward_timeout_s)
        self._lock = threading.Lock()
        self._epoch = 0
        self._next_index = 0
        self._carry: deque[RolloutTask] = deque()  # dropped by early termination, relaunched first
        self._valid_seen = 0
        self._groups_seen = 0
        #: called with every scored group (valid or not), in the collecting thread
        self.on_group_scored: Callable[[GroupResult], None] | None = None

    # ------------------------------------------------------------------ helpers used by Step
    def _new_epoch(self) -> int:
        with self._lock:
            self._epoch += 1
            return self._epoch

    def _index(self, task: RolloutTask) -> RolloutTask:
        with self._lock:
            self._next_index += 1
            return replace(task, launch_index=self._next_index)

    def _observe(self, valid: bool) -> None:
        with self._lock:
            self._groups_seen += 1
            self._valid_seen += bool(valid)

    @property
    def valid_rate(self) -> float:
        """Estimated fraction of valid groups (observations plus the configured prior)."""
        with self._lock:
            return ((self._valid_seen + PRIOR_WEIGHT * self.config.initial_valid_rate)
                    / (self._groups_seen + PRIOR_WEIGHT))

    @property
    def carried_tasks(self) -> int:
        """Tasks dropped by early termination, waiting to be relaunched."""
        return len(self._carry)

    @property
    def _call_groups(self) -> int:
        """Groups per generate call: ``micro_batch_groups``, or 1 for a streaming backend."""
        return 1 if isinstance(self.workers, StreamingGenerationWorkers) else self.config.micro_batch_groups

    def _next_task(self, it: Iterator[RolloutTask]) -> RolloutTask | None:
        if self._carry:
            return self._carry.popleft()
        return next(it, None)

    def warm_up(self) -> None:
        """Start the reward worker processes now."""
        self.rewards.warm_up()

    # ------------------------------------------------------------------ public API
    def collect(self, tasks: Iterable[RolloutTask], batch_prompts: int) -> RolloutBatch:
        """A batch of ``batch_prompts`` valid groups in FIFO launch order (see the module docstring).

        When ``tasks`` runs out first: :class:`NotEnoughValidGroups` (``on_exhausted="raise"``,
        the partial batch is attached) or a batch with ``complete=False``.
        """
        if batch_prompts < 1:
            raise ValueError(f"batch_prompts must be >= 1, got {batch_prompts}")
        it = iter(tasks)
        if self.config.naive:
            from mimo.rl.rollout.naive import collect_naive

            batch = collect_naive(self, it, batch_prompts)
        elif self.config.continuous:
            batch = self._collect_continuous(it, batch_prompts)
        else:  # async reward and/or early termination over barrier rounds: not a MiMo configuration
            raise ValueError("async_reward/early_termination need continuous=True (or turn all off for naive)")
        return self._finish(batch, batch_prompts)

    def validate(self, tasks: Iterable[RolloutTask]) -> RolloutBatch:
        """Generate and score every task once (no dynamic sampling): barrier when naive, else
        rewards overlap generation. Groups are returned in input order, valid or not."""
        from mimo.rl.rollout.naive import validate

        return validate(self, list(tasks))

    def _finish(self, batch: RolloutBatch, batch_prompts: int) -> RolloutBatch:
        batch.config_label = self.config.label
        if len(batch.groups) < batch_prompts:
            batch.complete = False
            if self.config.on_exhausted == "raise":
                raise NotEnoughValidGroups(
                    f"task iterator exhausted with {len(batch.groups)}/{batch_prompts} valid groups "
                    f"({batch.metrics.groups_finished} groups scored)", batch)
        return batch

    def _collect_continuous(self, it: Iterator[RolloutTask], batch_prompts: int) -> RolloutBatch:
        cfg = self.config
        step = Step(self, cfg.label)
        post = step.post_generated if cfg.async_reward else step.post_scored_inline
        target = batch_prompts * cfg.launch_slack
        if cfg.prune_queued:
            self.workers.gate = lambda epoch, queued: self._may_start(step, target, epoch, queued)
        if isinstance(self.workers, StreamingGenerationWorkers):
            self.workers.sync_post = not cfg.async_reward  # inline scoring holds the generator
        try:
            return self._continuous_loop(step, it, batch_prompts, target, post)
        finally:
            self.workers.gate = None

    def _may_start(self, step: Step, target: float, epoch: int, queued: int) -> bool:
        """Start the next queued call only while the started, unfinished groups are not predicted to
        fill the batch (else wait for their results: they decide whether the call is needed)."""
        if epoch != step.epoch:
            return True
        started = step.active - queued
        return started <= 0 or step.metrics.valid_groups + self.valid_rate * started < target

    def _continuous_loop(self, step: Step, it: Iterator[RolloutTask], batch_prompts: int, target: float,
                         post: Callable) -> RolloutBatch:
        cfg = self.config
        exhausted = False
        while True:
            new: list[RolloutTask] = []
            # taken-back tasks (``_carry``) are relaunched even after the iterator ran out
            while (not exhausted or self._carry) and step.active + len(new) < cfg.max_active_groups:
                valid = step.metrics.valid_groups
                if valid + self.valid_rate * (step.active + len(new)) >= target:
                    break
                task = self._next_task(it)
                if task is None:
                    exhausted = True
                    break
                new.append(task)
            if new and not exhausted:  # fill the next generate call (batch-synchronous backends)
                short = -(self.workers.queued(step.epoch) + len(new)) % self._call_groups
                while short > 0 and step.active + len(new) < cfg.max_active_groups:
                    task = self._next_task(it)
                    if task is None:
                        exhausted = True
                        break
                    new.append(task)
                    short -= 1
            if new:
                step.launch(new, post)
            selected, ready = step.fifo(batch_prompts)
            if ready and (cfg.early_termination or step.active == 0):
                break
            if step.active == 0 and ((exhausted and not self._carry) or step.metrics.valid_groups >= batch_prompts):
                break  # exhausted (partial batch), or the prediction stopped launches too early
            if step.active == 0:
                continue
            ev = step.events.get()
            if ev[0] == "generated":
                _, item, samples, t0, t1 = ev
                step.submit_reward(item, samples, t0, t1)
            else:
                step.finish(ev[1])
                if cfg.prune_queued:
                    self._prune(step, target)
        dropped = self.workers.drop(step.epoch) if step.active else []
        if step.active and isinstance(self.workers, StreamingGenerationWorkers):
            self.workers.abort(step.epoch)  # per-sequence backends stop the in-flight tasks now
        self._carry.extendleft(reversed([x.task for x in dropped]))
        metrics = step.close(selected, [x.task.launch_index for x in dropped])
        return RolloutBatch(selected, metrics, len(selected) >= batch_prompts)

    def _prune(self, step: Step, target: float) -> None:
        """Take back queued tasks beyond the predicted need (``valid + rate * active >= target``
        without them); they are relaunched first when needed again, in this step or the next."""
        rate = self.valid_rate
        excess = int((step.metrics.valid_groups + rate * step.active - target) / rate)
        if excess < 1:
            return
        mb = self._call_groups  # keep the queue in whole generate calls
        queued = self.workers.queued(step.epoch)
        take = queued - -(-max(0, queued - excess) // mb) * mb
        if take >= 1:
            self._carry.extendleft(reversed(step.unlaunch(take)))

    def close(self) -> None:
        """Stop the generation threads and the reward workers."""
        self.workers.close()
        self.rewards.close()

    def __enter__(self) -> SeamlessRolloutEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
