"""Book-keeping shared by the naive and seamless paths: one ``collect()``/``validate()`` call."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mimo.generate.base import GenerationResult
from mimo.rl.rollout.generation import Launched
from mimo.rl.rollout.metrics import RolloutMetrics, overlap
from mimo.rl.rollout.rewards import RewardOutcome
from mimo.rl.rollout.types import GENERATION_ERROR, GroupResult, RolloutSample, RolloutTask

if TYPE_CHECKING:
    from mimo.rl.rollout.engine import SeamlessRolloutEngine


def to_samples(result: GenerationResult, n: int) -> list[RolloutSample]:
    """``n`` samples of one request; failed or missing generations are masked samples."""
    out = [RolloutSample(c.text, c.finish_reason, c.completion_tokens,
                         reward_status=GENERATION_ERROR if c.finish_reason == "error" else "",
                         token_ids=list(c.token_ids) if c.token_ids is not None else None)
           for c in result.completions[:n]]
    out += [RolloutSample("", "error", 0, reward_status=GENERATION_ERROR) for _ in range(n - len(out))]
    return out


def to_score(samples: Sequence[RolloutSample]) -> list[str]:
    """Texts of the samples that need a reward (not generation failures)."""
    return [s.text for s in samples if s.reward_status != GENERATION_ERROR]


class Step:
    """State of one call: launched tasks, finished groups, events, metrics."""

    def __init__(self, engine: SeamlessRolloutEngine, mode: str) -> None:
        self.engine, self.cfg = engine, engine.config
        self.epoch = engine._new_epoch()  # noqa: SLF001
        self.events: queue.Queue = queue.Queue()
        self.order: list[int] = []  # launch indices of this call, in launch order
        self.launched: dict[int, Launched] = {}
        self.finished: dict[int, GroupResult] = {}
        self.cancelled = threading.Event()
        self.metrics = RolloutMetrics(mode=mode, generation_threads=engine.workers.threads)
        self.start = time.perf_counter()

    @property
    def active(self) -> int:
        return len(self.launched) - len(self.finished)

    def launch(self, tasks: Sequence[RolloutTask], post: Any = None) -> None:
        """Give launch indices to ``tasks`` and queue them for generation."""
        items = []
        now = time.perf_counter()
        for t in tasks:
            t = self.engine._index(t)  # noqa: SLF001
            item = Launched(t, now, post or self.post_generated, self.epoch)
            self.launched[t.launch_index] = item
            self.order.append(t.launch_index)
            items.append(item)
        self.metrics.groups_launched += len(items)
        self.engine.workers.launch(items)

    def unlaunch(self, k: int) -> list[RolloutTask]:
        """Take back up to ``k`` launched tasks that have not started (latest first); they leave
        this step's FIFO order and are returned (in launch order) for a later launch."""
        items = self.engine.workers.drop_latest(self.epoch, k)
        for x in items:
            self.launched.pop(x.task.launch_index, None)
            self.order.remove(x.task.launch_index)
        self.metrics.groups_launched -= len(items)
        self.metrics.unlaunched_groups += len(items)
        return sorted((x.task for x in items), key=lambda t: t.launch_index)

    def post_generated(self, items: list[Launched], results: list[GenerationResult], t0: float, t1: float) -> None:
        """Generation-thread callback: hand raw samples to the coordinator."""
        for item, res in zip(items, results):
            self.events.put(("generated", item, to_samples(res, item.task.num_generations), t0, t1))

    def post_scored_inline(self, items: list[Launched], results: list[GenerationResult], t0: float,
                           t1: float) -> None:
        """Generation-thread callback for synchronous rewards: score on this thread, then report."""
        if self.cancelled.is_set():
            return
        samples = [to_samples(r, it.task.num_generations) for it, r in zip(items, results)]
        jobs = [(it.task.domain, it.task.payload, to_score(s)) for it, s in zip(items, samples)]
        try:
            outcomes = self.engine.rewards.score_many(jobs)
        except Exception as e:  # noqa: BLE001 - masked, never lost
            now = time.perf_counter()
            outcomes = [RewardOutcome([None] * len(j[2]), now, now, "reward_error", str(e)) for j in jobs]
        for it, s, out in zip(items, samples, outcomes):
            self.events.put(("scored", self.group(it, s, t0, t1, out)))

    def submit_reward(self, item: Launched, samples: list[RolloutSample], t0: float, t1: float) -> None:
        """Score one group asynchronously; a ``("scored", group)`` event follows."""
        def done(_: Any, out: RewardOutcome) -> None:
            self.events.put(("scored", self.group(item, samples, t0, t1, out)))

        self.engine.rewards.submit(item.task.launch_index, item.task.domain, item.task.payload,
                                   to_score(samples), done, self.cancelled.is_set)

    def group(self, item: Launched, samples: list[RolloutSample], t0: float, t1: float,
              out: RewardOutcome) -> GroupResult:
        """Attach the reward outcome to the samples (masked statuses -> reward None)."""
        scores = iter(out.scores)
        for s in samples:
            if s.reward_status == GENERATION_ERROR:
                continue
            sc = next(scores, None)
            if sc is None:
                s.reward, s.reward_status = None, out.failure or "reward_error"
            else:
                s.reward, s.reward_status = sc[0], sc[1]
                if sc[1] in self.cfg.masked_statuses:
                    s.reward = None
        return GroupResult(item.task, samples, item.launched_at, t1, out.finished, t0,
                           informative_only=self.engine.config.dynamic_sampling)

    def finish(self, g: GroupResult) -> None:
        """Account a scored group."""
        m = self.metrics
        self.finished[g.task.launch_index] = g
        m.groups_finished += 1
        m.valid_groups += g.valid
        for s in g.samples:
            m.completion_tokens += s.completion_tokens
            if s.reward_status == GENERATION_ERROR:
                m.generation_failures += 1
            elif s.reward_status in ("reward_timeout", "reward_error"):
                m.reward_failures += 1
            elif s.reward is not None:
                m.scored_samples += 1
                m.passed_samples += s.reward >= self.cfg.pass_threshold
                m.reward_sum += s.reward
        self.engine._observe(g.valid)  # noqa: SLF001
        hook = getattr(self.engine, "on_group_scored", None)
        if hook is not None:  # e.g. the easy pool sees every scored group, valid or not
            hook(g)

    def fifo(self, batch_prompts: int) -> tuple[list[GroupResult], bool]:
        """Earliest-launched valid groups; ``ready`` when ``batch_prompts`` of them are found and
        every task launched before the last one has finished."""
        selected: list[GroupResult] = []
        for idx in self.order:
            g = self.finished.get(idx)
            if g is None:
                return selected, False
            if g.valid:
                selected.append(g)
                if len(selected) == batch_prompts:
                    return selected, True
        return selected, False

    def close(self, selected: list[GroupResult], dropped: Sequence[int] = ()) -> RolloutMetrics:
        """Final metrics; ``dropped``: launch indices removed before their generation started.
        In-flight tasks (launched, not dropped, not finished) count as generated and wasted."""
        end = time.perf_counter()
        m = self.metrics
        self.cancelled.set()
        gone = set(dropped)
        m.requeued_groups = len(gone)
        m.aborted_groups = self.active - len(gone)
        m.wall_s = end - self.start
        m.gen_busy_s = self.engine.workers.busy_s(self.start, end, self.epoch)
        m.gen_busy_all_s = self.engine.workers.busy_s(self.start, end)
        m.reward_s = overlap(self.engine.rewards.busy_intervals(), self.start, end)
        m.samples_generated = sum(x.task.num_generations for i, x in self.launched.items() if i not in gone)
        m.samples_used = sum(len(g.samples) for g in selected)
        chosen = {g.task.launch_index for g in selected}
        m.samples_invalid = sum(len(g.samples) for i, g in self.finished.items() if not g.valid and i not in chosen)
        m.samples_surplus = sum(len(g.samples) for i, g in self.finished.items() if g.valid and i not in chosen)
        m.samples_aborted = sum(x.task.num_generations for i, x in self.launched.items()
                                if i not in gone and i not in self.finished)
        return m
