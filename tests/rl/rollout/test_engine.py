"""Seamless rollout engine on a scripted generator (real Generator subclass, controllable delays)."""

from __future__ import annotations

import random
import time

import pytest

from mimo.rl.rollout import NotEnoughValidGroups, RolloutConfig, SeamlessRolloutEngine
from mimo.rl.rollout.metrics import overlap
from mimo.rl.rollout.scripted import ScriptedGenerator, ScriptedReward, scripted_task

G = 4
SEAMLESS = dict(continuous=True, async_reward=True, early_termination=True)
NAIVE = dict(continuous=False, async_reward=False, early_termination=False)


def workload(specs):
    """``specs``: (passes, delay_s[, reward_s]) per task -> (tasks, generator)."""
    tasks, scripts = [], {}
    for i, spec in enumerate(specs):
        passes, delay = spec[0], spec[1]
        t, s = scripted_task(f"p{i}", G, passes, delay, reward_s=spec[2] if len(spec) > 2 else 0.0,
                             crash=spec[3] == "crash" if len(spec) > 3 else False,
                             hang=spec[3] == "hang" if len(spec) > 3 else False)
        tasks.append(t)
        scripts[t.prompt_id] = s
    return tasks, ScriptedGenerator(scripts)


def engine(gen, **kw):
    base = dict(generation_threads=4, micro_batch_groups=1, reward_workers=2, reward_timeout_s=5.0)
    eng = SeamlessRolloutEngine(gen, ScriptedReward(), RolloutConfig(**{**base, **kw}))
    eng.warm_up()
    return eng


def test_fifo_waits_for_earlier_slow_group_and_aborts_later_ones():
    # p0 valid but slow; p1, p2 valid and fast; p3 valid and very slow (launched, in flight)
    tasks, gen = workload([(2, 0.6), (1, 0.01), (3, 0.01), (2, 1.6)])
    with engine(gen, **SEAMLESS) as eng:
        start = time.perf_counter()
        batch = eng.collect(iter(tasks), 2)
        took = time.perf_counter() - start
    assert [g.task.prompt_id for g in batch.groups] == ["p0", "p1"]  # earliest launched, not fastest
    assert all(g.valid for g in batch.groups) and batch.complete
    assert took >= 0.6 and took < 1.5  # waited for p0, did not wait for p3
    m = batch.metrics
    assert m.aborted_groups == 1 and m.samples_generated == 4 * G and m.samples_used == 2 * G
    assert m.wasted_samples == 2 * G  # p2 (valid, beyond the batch) and p3 (aborted in flight)


def test_fifo_never_returns_later_group_while_earlier_runs():
    # p0 is slow and invalid: the batch is p1, p2, but only once p0 has finished
    tasks, gen = workload([(0, 0.5), (1, 0.01), (2, 0.01), (3, 0.01)])
    with engine(gen, **SEAMLESS) as eng:
        batch = eng.collect(iter(tasks), 2)
    ids = [g.task.prompt_id for g in batch.groups]
    assert ids == ["p1", "p2"]
    assert batch.metrics.wall_s >= 0.5
    launched_first = batch.groups[0].task.launch_index - 1
    assert launched_first >= 1  # p0 got an index before p1
    # every selected group's predecessors (by launch) were finished when the step ended
    assert batch.metrics.groups_finished >= 3


def test_dynamic_filtering_drops_all_pass_and_all_fail_groups():
    specs = [(0, 0.0), (G, 0.0), (2, 0.0), (0, 0.0), (G, 0.0), (1, 0.0), (3, 0.0), (2, 0.0)]
    for flags in (SEAMLESS, NAIVE):
        tasks, gen = workload(specs)
        with engine(gen, **flags) as eng:
            batch = eng.collect(iter(tasks), 3)
        assert [g.task.prompt_id for g in batch.groups] == ["p2", "p5", "p6"], flags
        for g in batch.groups:
            assert g.valid and len(g.samples) == G and None not in g.rewards
            assert all(s.reward_status in ("correct", "wrong") for s in g.samples)


def test_without_dynamic_sampling_every_scored_group_counts():
    specs = [(0, 0.0), (G, 0.0), (2, 0.0)]
    tasks, gen = workload(specs)
    with engine(gen, dynamic_sampling=False, **NAIVE) as eng:
        batch = eng.collect(iter(tasks), 3)
    assert [g.task.prompt_id for g in batch.groups] == ["p0", "p1", "p2"] and all(g.valid for g in batch.groups)


def test_every_scored_group_reaches_the_hook_valid_or_not():
    """The easy pool needs the all-pass groups that dynamic sampling drops."""
    specs = [(G, 0.0), (1, 0.0), (0, 0.0), (2, 0.0)]
    for flags in (SEAMLESS, NAIVE):
        tasks, gen = workload(specs)
        seen = []
        with engine(gen, **flags) as eng:
            eng.on_group_scored = lambda g: seen.append((g.task.prompt_id, g.valid))
            batch = eng.collect(iter(tasks), 2)
        assert [g.task.prompt_id for g in batch.groups] == ["p1", "p3"]
        assert ("p0", False) in seen and ("p2", False) in seen and ("p1", True) in seen, (flags, seen)


def test_batch_full_when_enough_valid_and_clear_error_when_exhausted():
    rng = random.Random(1)
    specs = [(rng.choice([0, G, 1, 2]), rng.uniform(0, 0.02)) for _ in range(60)]
    tasks, gen = workload(specs)
    with engine(gen, **SEAMLESS) as eng:
        shared = iter(tasks)
        for _ in range(3):  # successive steps draw from the same iterator
            batch = eng.collect(shared, 4)
            assert len(batch) == 4 and batch.complete and all(g.valid for g in batch.groups)
    tasks, gen = workload([(0, 0.0), (2, 0.0), (G, 0.0)])
    for flags in (SEAMLESS, NAIVE):
        with engine(gen, **flags) as eng:
            with pytest.raises(NotEnoughValidGroups, match="exhausted with 1/3") as e:
                eng.collect(iter(tasks), 3)
            assert len(e.value.batch.groups) == 1 and not e.value.batch.complete
        with engine(gen, on_exhausted="partial", **flags) as eng:
            batch = eng.collect(iter(tasks), 3)
            assert len(batch) == 1 and not batch.complete


def test_crashed_and_hung_reward_workers_are_masked_and_counted():
    specs = [(2, 0.0, 0.0, "crash"), (2, 0.0, 0.0, "hang"), (1, 0.0), (2, 0.0), (3, 0.0)]
    tasks, gen = workload(specs)
    start = time.perf_counter()
    with engine(gen, reward_timeout_s=1.0, **SEAMLESS) as eng:
        val = eng.validate(tasks)
        statuses = {g.task.prompt_id: {s.reward_status for s in g.samples} for g in val.groups}
        assert statuses["p0"] == {"reward_error"} and statuses["p1"] == {"reward_timeout"}
        assert val.groups[0].rewards == [None] * G and not val.groups[0].valid
        assert val.metrics.reward_failures == 2 * G
        batch = eng.collect(iter(tasks), 3)  # the pool recovered: workers replaced
        assert [g.task.prompt_id for g in batch.groups] == ["p2", "p3", "p4"]
        assert batch.metrics.reward_failures == 2 * G
        assert eng.rewards.restarts >= 4
    assert time.perf_counter() - start < 20


def test_naive_has_barriers_and_seamless_idles_less_with_equal_validity():
    rng = random.Random(0)
    specs = [(rng.choice([0, 0, G, 1, 2, 3]), min(0.4, rng.lognormvariate(-3.6, 0.9)),
              rng.choice([0.0, 0.03, 0.08])) for _ in range(120)]
    out = {}
    for name, flags in (("naive", NAIVE), ("seamless", SEAMLESS)):
        tasks, gen = workload(specs)
        with engine(gen, **flags) as eng:
            batch = eng.collect(iter(tasks), 8)
            out[name] = batch
            if name == "naive":  # no reward ran while the generator was generating
                rewards = eng.rewards.busy_intervals()
                assert sum(overlap(rewards, a, b) for a, b, _ in gen.calls) == pytest.approx(0, abs=0.02)
                assert batch.metrics.rounds >= 2
    n, s = out["naive"], out["seamless"]
    assert len(n) == len(s) == 8 and all(g.valid for g in n.groups + s.groups)
    assert s.metrics.idle_fraction < n.metrics.idle_fraction
    assert s.metrics.wall_s < n.metrics.wall_s


def test_early_termination_requeues_unstarted_tasks():
    specs = [(1, 0.3)] * 2 + [(2, 0.3)] * 10
    tasks, gen = workload(specs)
    with engine(gen, generation_threads=1, initial_valid_rate=0.2, **SEAMLESS) as eng:
        batch = eng.collect(iter(tasks), 1)
        assert [g.task.prompt_id for g in batch.groups] == ["p0"]
        carried = eng.carried_tasks
        m = batch.metrics
        assert carried >= 1 and m.requeued_groups + m.unlaunched_groups == carried
        assert m.aborted_groups == 1  # p1 was being generated: abandoned, wasted
        assert m.samples_aborted == G and m.samples_used == G and m.wasted_samples == G
        nxt = eng.collect(iter([]), 1)  # served from the requeued tasks, in their launch order
        assert nxt.groups[0].task.prompt_id == "p2"


def test_pruning_takes_back_queued_tasks_the_prediction_no_longer_needs():
    # every group is valid, but the 0.2 prior launches 5 tasks per needed group; one thread
    specs = [(2, 0.05)] * 12
    waste = {}
    for prune in (False, True):
        tasks, gen = workload(specs)
        with engine(gen, generation_threads=1, initial_valid_rate=0.2, prune_queued=prune,
                    **{**SEAMLESS, "early_termination": False}) as eng:
            batch = eng.collect(iter(tasks), 2)
        m = batch.metrics
        assert [g.task.prompt_id for g in batch.groups] == ["p0", "p1"] and batch.complete
        assert m.samples_generated == m.samples_used + m.samples_invalid + m.samples_surplus + m.samples_aborted
        waste[prune] = (m.samples_surplus, m.unlaunched_groups)
    assert waste[False][1] == 0 and waste[False][0] >= 4 * G  # without ET every launched group runs
    assert waste[True][1] >= 4 and waste[True][0] < waste[False][0]


def test_launches_fill_whole_generate_calls():
    """A batch-synchronous backend costs as much for a partial call as for a full one: continuous
    launches keep the not-started tasks a multiple of micro_batch_groups."""
    specs = [(1 if i % 3 else 0, 0.02) for i in range(40)]
    tasks, gen = workload(specs)
    with engine(gen, generation_threads=1, micro_batch_groups=4, initial_valid_rate=0.5,
                **{**SEAMLESS, "early_termination": False}) as eng:
        for _ in range(2):
            batch = eng.collect(iter(tasks), 3)
            assert batch.complete and len(batch) == 3
    sizes = [len(keys) for _, _, keys in gen.calls]
    assert sizes and all(n == 4 for n in sizes), sizes


def test_start_gate_holds_queued_calls_while_pending_results_may_suffice():
    from types import SimpleNamespace

    _, gen = workload([])
    with engine(gen, generation_threads=1, initial_valid_rate=0.5, **SEAMLESS) as eng:
        step = SimpleNamespace(epoch=7, active=4, metrics=SimpleNamespace(valid_groups=1))
        # 2 queued, 2 started and unfinished: 1 + 0.5 * 2 = 2 >= 2 -> wait for their results
        assert not eng._may_start(step, 2.0, 7, 2)
        assert eng._may_start(step, 3.0, 7, 2)  # 2 < 3: the queued call is predicted needed
        assert eng._may_start(step, 2.0, 6, 2)  # another step's tasks are not held
        assert eng._may_start(SimpleNamespace(epoch=7, active=2, metrics=step.metrics), 2.0, 7, 2)


def test_aborted_generation_counts_as_idle():
    # p1's call is still running when the step ends: its time is idle, not useful generation
    tasks, gen = workload([(1, 0.05), (2, 0.6)])
    q, script = scripted_task("q", G, 1, 0.0)
    gen.add("q", script)
    with engine(gen, generation_threads=1, micro_batch_groups=1, initial_valid_rate=0.1, **SEAMLESS) as eng:
        first = eng.collect(iter(tasks), 1)
        second = eng.collect(iter([q]), 1)
    m = first.metrics
    assert m.aborted_groups == 1 and m.gen_busy_all_s > m.gen_busy_s
    # the next step waits for the abandoned call: that wait is idle too
    assert second.metrics.wall_s >= 0.4 and second.metrics.idle_fraction > 0.5


def test_config_flags_and_labels():
    assert RolloutConfig(**NAIVE).label == "naive" and RolloutConfig(**NAIVE).naive
    assert RolloutConfig(**SEAMLESS).label == "+continuous+async_reward+early_termination"
    with pytest.raises(ValueError):
        RolloutConfig(launch_slack=0.5)
    _, gen = workload([])
    with engine(gen, continuous=False, async_reward=True, early_termination=False) as eng:
        with pytest.raises(ValueError, match="continuous"):
            eng.collect(iter([]), 1)
