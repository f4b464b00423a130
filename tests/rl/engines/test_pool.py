"""The engine pool over real engine processes on 127.0.0.1: requests spread over the engines, an
engine killed mid-generation has its requests finished by the others (counted), weight syncs reach
every engine and a mismatched one is refused before anything is sent, and engines that cannot
start are clear errors."""

import os
import signal
import threading
import time

import pytest
import torch
from transformers import AutoTokenizer

from mimo.generate.base import GenerationRequest, SamplingParams
from mimo.rl.engines import EnginesConfig, WeightSyncError, open_pool
from mimo.rl.engines.pool import EnginePool

SAMPLING = SamplingParams(temperature=1.0, max_tokens=24)


def _requests(problems, k, n=4):
    return [GenerationRequest([{"role": "user", "content": problems[i % len(problems)].prompt}],
                              SamplingParams(n=n, temperature=1.0, max_tokens=24, seed=i), f"r{i}") for i in range(k)]


def _submit_all(pool, requests):
    """Submit every request; (results by id, an event set when all arrived)."""
    results, done = {}, threading.Event()

    def on_done(result, _t):
        results[result.request_id] = result
        if len(results) == len(requests):
            done.set()

    for r in requests:
        pool.submit(r, on_done)
    return results, done


def _run_all(pool, requests, timeout=120):
    results, done = _submit_all(pool, requests)
    assert done.wait(timeout), f"{len(results)} of {len(requests)} results"
    return results


@pytest.fixture
def pool(policy_dir, tmp_path):
    model_dir, _ = policy_dir
    tok = AutoTokenizer.from_pretrained(model_dir)
    p = open_pool(str(model_dir), tok, EnginesConfig(count=2, threads=1), SAMPLING, 8, tmp_path / "rdv")
    yield p
    p.close()


def test_requests_spread_over_both_engines(pool, policy_dir):
    _, problems = policy_dir
    served = {e.engine_id: 0 for e in pool.engines}
    results = _run_all(pool, _requests(problems, 12))
    assert all(r.error is None and len(r.completions) == 4 for r in results.values())
    assert all(c.token_ids for r in results.values() for c in r.completions)
    for e in pool.engines:
        served[e.engine_id] = e._submitted
    assert all(v > 0 for v in served.values()), served


def test_a_killed_engine_has_its_requests_finished_by_the_other(pool, policy_dir):
    _, problems = policy_dir
    requests = _requests(problems, 16)
    results, done = _submit_all(pool, requests)
    victim = pool.engines[0]
    assert victim.outstanding > 0
    os.kill(pool.processes[0].pid, signal.SIGKILL)
    assert done.wait(120), f"stalled: {len(results)} of {len(requests)}"
    assert all(r.error is None and len(r.completions) == 4 for r in results.values())
    stats = pool.stats()
    assert stats["engine_failures"] == 1 and stats["requeued"] > 0 and stats["engines_live"] == 1
    assert stats["recovery_seconds_max"] is not None
    # the survivor alone still serves, and a weight sync goes to it alone
    from mimo.model.modeling_mimo import MiMoForCausalLM

    model = MiMoForCausalLM.from_pretrained(policy_dir[0])
    weights = {k: v for k, v in model.state_dict().items() if ".mtp_layers." not in k}
    assert pool.sync_weights(weights)["weight_sync_mb"] > 0 and pool.version == 1


def test_weight_sync_reaches_every_engine_and_mismatch_is_refused(pool, policy_dir):
    from mimo.model.modeling_mimo import MiMoForCausalLM

    model_dir, problems = policy_dir
    model = MiMoForCausalLM.from_pretrained(model_dir)
    weights = {k: v for k, v in model.state_dict().items() if ".mtp_layers." not in k}
    bad = dict(weights)
    bad["model.norm.weight"] = torch.ones(7)
    with pytest.raises(WeightSyncError, match=r"engine 0: model\.norm\.weight: shape \(7,\) sent"):
        pool.sync_weights(bad)
    wrong_dtype = {**weights, "model.norm.weight": weights["model.norm.weight"].double()}
    with pytest.raises(WeightSyncError, match="dtype float64 sent"):
        pool.sync_weights(wrong_dtype)
    assert pool.version == 0  # nothing was sent
    # an all-zero lm_head makes every token equally likely: the engines' samples change after the sync
    greedy = [GenerationRequest(r.messages, SamplingParams(n=1, temperature=1.0, max_tokens=24, seed=7), r.request_id)
              for r in _requests(problems, 4)]
    before = _run_all(pool, greedy)
    flat = {**weights, "lm_head.weight": torch.zeros_like(weights["lm_head.weight"])}
    timing = pool.sync_weights(flat)
    assert pool.version == 1 and timing["weight_sync_seconds"] > 0
    for e in pool.engines:
        assert e.call("ping")["version"] == 1
    after = _run_all(pool, greedy)
    assert [r.completions[0].token_ids for r in after.values()] != [r.completions[0].token_ids for r in before.values()]


def test_a_result_from_older_weights_is_refused_as_stale(pool, policy_dir):
    _, problems = policy_dir
    got = []
    deliver = pool._delivery(lambda result, _t: got.append(result))
    result = _run_all(pool, _requests(problems, 1))["r0"]
    pool.version = 2  # the policy moved on twice while this sample was generated with version 1
    deliver(result, 1, 1)
    assert got[0].error and "stale weights" in got[0].error and pool.counters["stale_results"] == 1
    pool.max_staleness = 1
    deliver(result, 1, 1)  # within the configured bound (off-policy by one version): kept
    assert got[1].error is None
    pool.version = 0


def test_engines_that_cannot_start_are_clear_errors(policy_dir, tmp_path):
    model_dir, _ = policy_dir
    tok = AutoTokenizer.from_pretrained(model_dir)
    with pytest.raises(RuntimeError, match=r"rollout engine 0 exited with code .* before it listened"):
        open_pool(str(tmp_path / "no-such-model"), tok, EnginesConfig(count=1, threads=1), SAMPLING, 8, tmp_path / "a")
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"rollout engine\(s\) \[0, 1\] did not announce themselves"):
        open_pool(str(model_dir), tok, EnginesConfig(count=2, launch="external", start_timeout_s=1.5), SAMPLING, 8,
                  tmp_path / "b")
    assert time.monotonic() - t0 < 10
    # announced, but nothing listens there any more (a node that went away)
    from mimo.rl.engines.protocol import write_json_atomic
    from mimo.rl.engines.weight_sync import free_port

    write_json_atomic(tmp_path / "c/engine-0.json", {"engine_id": 0, "host": "127.0.0.1", "port": free_port(),
                                                      "pid": 0, "max_sequences": 8, "backend": "inflight"})
    with pytest.raises(RuntimeError, match=r"rollout engine 0 at 127\.0\.0\.1:\d+ is unreachable"):
        open_pool(str(model_dir), tok, EnginesConfig(count=1, launch="external"), SAMPLING, 8, tmp_path / "c")
    with pytest.raises(ValueError, match="at least one engine"):
        EnginePool([], tok)
