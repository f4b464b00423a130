"""The naive dynamic-sampling baseline and the validation path.

Naive (DAPO-style): launch a round of ``round_prompts`` tasks, wait until all are generated
(barrier), score all of them (generation idles), keep the valid groups, repeat until
``batch_prompts`` valid groups exist; the batch is the first ``batch_prompts`` valid groups in
launch order, the surplus valid groups of the last round are wasted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from mimo.rl.rollout.step import Step, to_score
from mimo.rl.rollout.types import RolloutBatch, RolloutTask

if TYPE_CHECKING:
    from mimo.rl.rollout.engine import SeamlessRolloutEngine


def _generate_all(step: Step, tasks: Sequence[RolloutTask]) -> list[tuple]:
    """Launch ``tasks`` and wait for all of their generations (the barrier)."""
    before = len(step.order)
    step.launch(tasks)
    mine = set(step.order[before:])
    got: dict[int, tuple] = {}
    while len(got) < len(mine):
        ev = step.events.get()
        got[ev[1].task.launch_index] = ev
    return [got[i] for i in step.order[before:]]


def _score_all(step: Step, generated: list[tuple]) -> None:
    """Score every generated group on the reward workers (blocking), then account them."""
    jobs = [(item.task.domain, item.task.payload, to_score(samples)) for _, item, samples, _, _ in generated]
    outcomes = step.engine.rewards.score_many(jobs)
    for (_, item, samples, t0, t1), out in zip(generated, outcomes):
        step.finish(step.group(item, samples, t0, t1, out))


def collect_naive(engine: SeamlessRolloutEngine, it: Iterator[RolloutTask], batch_prompts: int) -> RolloutBatch:
    """Generate-all -> score-all -> filter -> repeat (module docstring)."""
    step = Step(engine, "naive")
    round_size = engine.config.round_prompts or batch_prompts
    while step.metrics.valid_groups < batch_prompts:
        tasks = []
        while len(tasks) < round_size:
            t = engine._next_task(it)  # noqa: SLF001
            if t is None:
                break
            tasks.append(t)
        if not tasks:
            break
        step.metrics.rounds += 1
        _score_all(step, _generate_all(step, tasks))
    selected, _ = step.fifo(batch_prompts)
    return RolloutBatch(selected, step.close(selected), len(selected) >= batch_prompts)


def validate(engine: SeamlessRolloutEngine, tasks: list[RolloutTask]) -> RolloutBatch:
    """Every task generated and scored once; barrier (per ``round_prompts`` chunk) unless
    continuous with async reward."""
    cfg = engine.config
    step = Step(engine, "validate-" + ("seamless" if cfg.continuous and cfg.async_reward else "naive"))
    if cfg.continuous and cfg.async_reward:
        step.launch(tasks)
        while step.active:
            ev = step.events.get()
            if ev[0] == "generated":
                step.submit_reward(*ev[1:])
            else:
                step.finish(ev[1])
    else:  # chunks of ``round_prompts`` (default: all), each generated, then scored
        chunk = cfg.round_prompts or max(1, len(tasks))
        for k in range(0, len(tasks), chunk):
            _score_all(step, _generate_all(step, tasks[k: k + chunk]))
    groups = [step.finished[i] for i in step.order]
    return RolloutBatch(groups, step.close(groups), True, "validate")
