"""The cluster-scale simulator: deterministic, Table-2 ordering, trace replay."""

from __future__ import annotations

import json
import random

from mimo.rl.rollout.simulate import SimConfig, load_trace, report, simulate

SMALL = SimConfig(gen_workers=32, slots_per_worker=8, reward_workers=16, batch_prompts=64, steps=3)


def _rows(result):
    return {r["config"]: r for r in result["table2"]}


def test_simulation_is_deterministic_and_reproduces_table2_ordering():
    a, b = simulate(SMALL), simulate(SMALL)
    assert a["table2"] == b["table2"] and a["table3"] == b["table3"]
    rows = _rows(a)
    naive, cont, asy, early = (rows[k] for k in ("naive", "+continuous rollout", "+async reward",
                                                 "+early termination"))
    assert naive["rollout_speedup"] == 1.0
    assert 1.0 < cont["rollout_speedup"] <= early["rollout_speedup"]
    assert asy["rollout_speedup"] <= early["rollout_speedup"]
    assert early["overall_speedup"] > 1.2
    assert early["idle_ratio"] < cont["idle_ratio"] < naive["idle_ratio"]
    assert early["sample_waste"] <= naive["sample_waste"]
    # taking back launched, not-started groups cuts the waste the scheduler causes
    assert early["scheduling_waste"] < rows["+early termination, no pruning"]["scheduling_waste"]
    assert a["table3"]["validation_speedup"] > 1.0
    assert "early termination" in report(a)


def test_trace_replay(tmp_path):
    rng = random.Random(0)
    samples = []
    for p in range(50):
        rate = rng.choice([0.0, 0.3, 0.6, 1.0])
        for _ in range(16):
            samples.append({"prompt_id": f"q{p}", "tokens": rng.lognormvariate(7, 1),
                            "reward_s": rng.choice([0.01, 3.0]), "passed": rng.random() < rate})
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"samples": samples}))
    trace = load_trace(path)
    assert len(trace) == 50
    rows = _rows(simulate(SMALL, trace))
    assert rows["+early termination"]["rollout_speedup"] > 1.0
