"""The rollout engine over a streaming generator (in-flight batching, tiny random model)."""

from __future__ import annotations

import time

import pytest

from mimo.generate.base import SamplingParams
from mimo.rl.rollout import RolloutConfig, SeamlessRolloutEngine, tasks_from_problems
from mimo.rl.rollout.scripted import ParityReward
from mimo.rl.rollout.streaming import StreamingGenerationWorkers, is_streaming

SAMPLING = SamplingParams(temperature=1.0, max_tokens=48)
G = 4


@pytest.fixture(scope="module")
def streaming_generator(tiny_chat_model_dir):
    import torch

    from mimo.generate.inflight_backend import InflightTransformersGenerator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = InflightTransformersGenerator(str(tiny_chat_model_dir), sampling=SAMPLING, max_sequences=2 * G,
                                        device="cpu")
    yield gen
    gen.close()
    torch.set_num_threads(threads)


def _tasks(n: int):
    from mimo.problems.toy import generate_toy_problems

    return list(tasks_from_problems(generate_toy_problems(n, 0, seed=5), num_generations=G))


def _engine(gen, **flags):
    cfg = RolloutConfig(**flags, sampling=SAMPLING, reward_workers=1, reward_timeout_s=30.0, on_exhausted="partial")
    eng = SeamlessRolloutEngine(gen, ParityReward(), cfg)
    eng.warm_up()
    return eng


def test_engine_picks_streaming_workers(streaming_generator):
    assert is_streaming(streaming_generator)
    with _engine(streaming_generator) as eng:
        assert isinstance(eng.workers, StreamingGenerationWorkers) and eng.workers.capacity == 2 * G


def test_seamless_batch_is_fifo_and_in_flight_tasks_are_aborted(streaming_generator):
    tasks = _tasks(40)
    with _engine(streaming_generator) as eng:
        for _ in range(2):  # the second step starts with whatever the first one carried over
            batch = eng.collect(iter(tasks), 3)
            m = batch.metrics
            assert batch.complete and len(batch) == 3 and all(g.valid for g in batch.groups)
            idx = [g.task.launch_index for g in batch.groups]
            assert idx == sorted(idx)
            assert m.samples_generated == m.samples_used + m.samples_invalid + m.samples_surplus + m.samples_aborted
            assert m.samples_aborted == G * m.aborted_groups
            deadline = time.perf_counter() + 5
            while streaming_generator.running_sequences and time.perf_counter() < deadline:
                time.sleep(0.01)
            assert streaming_generator.running_sequences == 0  # aborted, not left running
            assert 0.0 <= m.idle_fraction < 1.0 and m.gen_busy_s > 0


def test_naive_and_continuous_without_async_reward(streaming_generator):
    tasks = _tasks(40)
    naive = dict(continuous=False, async_reward=False, early_termination=False)
    sync = dict(continuous=True, async_reward=False, early_termination=False)
    for flags in (naive, sync):
        with _engine(streaming_generator, **flags) as eng:
            batch = eng.collect(iter(tasks), 2)
        m = batch.metrics
        assert batch.complete and len(batch) == 2 and m.aborted_groups == 0 and m.samples_aborted == 0
        assert [g.task.launch_index for g in batch.groups] == sorted(g.task.launch_index for g in batch.groups)
        for g in batch.groups:
            assert len(g.samples) == G and all(s.token_ids for s in g.samples)
            assert all(s.reward == (1.0 if len(s.text) % 2 == 0 else 0.0) for s in g.samples)


def test_validation_returns_every_group_in_order(streaming_generator):
    tasks = _tasks(5)
    with _engine(streaming_generator) as eng:
        val = eng.validate(tasks)
    assert [g.task.prompt_id for g in val.groups] == [t.prompt_id for t in tasks]
    assert val.metrics.samples_generated == 5 * G and val.metrics.generation_failures == 0
