"""One real run: transformers backend on a tiny random model, real math reward (Math-Verify)."""

from __future__ import annotations

import pytest

from mimo.generate.base import SamplingParams
from mimo.rl.rollout import (
    MiMoRewardFn,
    RolloutConfig,
    SeamlessRolloutEngine,
    tasks_from_problems,
)
from mimo.verifiers.math import MATH_STATUSES


@pytest.fixture(scope="module")
def tiny_generator(tiny_chat_model_dir):
    from mimo.generate.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(str(tiny_chat_model_dir), device="cpu", batch_size=8)
    yield gen
    gen.close()


def test_tiny_model_with_math_reward(tiny_generator):
    from mimo.problems.toy import generate_toy_problems

    problems = [p for p in generate_toy_problems(4, 0, seed=3)]
    sampling = SamplingParams(temperature=1.0, max_tokens=12, seed=0)
    for flags in ((True, True, True), (False, False, False)):
        cfg = RolloutConfig(*flags, sampling=sampling, micro_batch_groups=2, reward_workers=1,
                            reward_timeout_s=30.0, on_exhausted="partial")
        with SeamlessRolloutEngine(tiny_generator, MiMoRewardFn(), cfg) as eng:
            val = eng.validate(tasks_from_problems(problems, num_generations=2))
            assert [g.task.prompt_id for g in val.groups] == [p.id for p in problems]
            for g in val.groups:
                assert len(g.samples) == 2 and all(s.completion_tokens > 0 for s in g.samples)
                assert all(s.reward_status in MATH_STATUSES for s in g.samples)
                assert all(s.reward == 0.0 for s in g.samples)  # a random model does not solve them
            assert val.metrics.reward_failures == 0 and val.metrics.samples_generated == 8
            # dynamic sampling: a random model yields no valid group -> flagged partial batch
            batch = eng.collect(tasks_from_problems(problems, num_generations=2), 2)
            assert not batch.complete and len(batch) == 0 and batch.metrics.groups_finished == 4
            assert 0.0 <= batch.metrics.idle_fraction < 1.0
