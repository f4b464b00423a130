"""RL across processes on CPU: the same GRPO steps with (1 trainer rank, 1 engine) and (2 trainer
ranks, 2 engines), each under torchrun with engine processes and weight sync over gloo.

Prints, per topology: rollout throughput (completion tokens per rollout second), update time and
weight-sync time per step; the largest absolute difference of the final weights; and, in a third run
(2 ranks, 2 engines) where engine 0 is SIGKILLed during a step's rollout, the re-queue latency and
that step's rollout time against the others. Ends with one JSON line
``{"max_weight_diff": ..., "rollout_throughput_ratio": ...}`` (2+2 over 1+1).

    .venv/bin/python bench/bench_rl_distributed.py --state .state           # the default run's SFT model and RL problems
    .venv/bin/python bench/bench_rl_distributed.py                          # a toy policy built here

Naive scheduling by default (seeded samples: both topologies train on the same samples, so the
weight difference measures the distributed update); ``--seamless`` uses the seamless engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def toy_setup(work: Path) -> tuple[str, list[str]]:
    """A tiny policy answering \\boxed{d} with a random digit, and its problems (as the RL tests)."""
    import pyarrow.parquet as pq

    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.records import problems_to_table
    from mimo.problems.toy import generate_toy_problems
    from mimo.rl.grpo.toy_policy import PHRASINGS, digit_problems, teach_random_digits

    toy = [p for p in generate_toy_problems(40, 0, seed=3) if p.domain == "math"][:6]
    tok = train_tokenizer([p.prompt + "\n" + (p.solution or "") for p in toy] * 5 + ["1 2 3 " * 20], vocab_size=300)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    problems = digit_problems(PHRASINGS)
    teach_random_digits(model, tok, problems)
    model.save_pretrained(work / "init")
    tok.save_pretrained(work / "init")
    pq.write_table(problems_to_table(problems), work / "problems.parquet")
    return str(work / "init"), [str(work / "problems.parquet")]


def run(name: str, work: Path, nproc: int, engines: dict, base: dict) -> dict:
    out = work / name
    cfg = {**base, "out_dir": str(out), "rollout_backend": "engines", "engines": engines}
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "mimo.rl.train", "--config", str(path)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    history = json.loads((out / "final/rl_history.json").read_text())
    updated = [h for h in history if h.get("updates")]
    tokens = sum(h.get("completion_tokens") or 0 for h in history)
    roll_s = sum(h["rollout_seconds"] for h in history)
    return {"name": name, "trainer_ranks": nproc, "engines": engines["count"], "wall_s": round(wall, 1),
            "rollout_tokens": tokens, "rollout_s": round(roll_s, 2),
            "rollout_tokens_per_s": round(tokens / roll_s, 1) if roll_s else None,
            "update_s_per_step": round(statistics.mean(h["update_seconds"] for h in updated), 3) if updated else None,
            "weight_sync_s_per_step": round(statistics.mean(h["weight_sync_seconds"] for h in updated), 4)
            if updated else None,
            "history": history, "final": str(out / "final/model.safetensors")}


def max_weight_diff(a: str, b: str) -> float:
    from safetensors.torch import load_file

    wa, wb = load_file(a), load_file(b)
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--state", default=None, help="a finished tiny run: its SFT model and curated RL problems")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="valid groups per step")
    ap.add_argument("--g", type=int, default=8, help="samples per group")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--seamless", action="store_true", help="the seamless engine instead of naive scheduling")
    ap.add_argument("--no-failure-run", action="store_true")
    ap.add_argument("--work", default="/tmp/mimo-bench-rl-distributed")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.state:
        from _run_state import catalog_paths

        paths = catalog_paths(args.state)
        model = f"{paths['sft_model']}/model"
        files = [f"{paths[a]}/problems.parquet" for a in ("rl_math_problems", "rl_code_problems")]
    else:
        model, files = toy_setup(work)
    schedule = {} if args.seamless else {"continuous": False, "async_reward": False, "early_termination": False}
    base = {"stage": "rl", "init_from": model, "problem_files": files, "threads": 1, "checkpoint_every_steps": 1000,
            "reward_workers": 1, "generation_batch_groups": args.batch, **schedule,
            "grpo": {"steps": args.steps, "num_generations": args.g, "batch_prompts": args.batch,
                     "mini_batch_prompts": max(1, args.batch // 2), "micro_batch_samples": 16,
                     "learning_rate": 1e-5, "max_completion_length": args.max_tokens, "seed": 0}}
    one = run("one", work, 1, {"count": 1, "threads": 1}, base)
    two = run("two", work, 2, {"count": 2, "threads": 1}, base)
    rows = [one, two]
    if not args.no_failure_run:
        fail_at = min(2, args.steps)
        kill = run("two-kill", work, 2, {"count": 2, "threads": 1, "kill_engine_at_step": fail_at}, base)
        rows.append(kill)
        row = kill["history"][fail_at - 1]
        others = [h["rollout_seconds"] for h in kill["history"] if h["step"] != fail_at]
        kill["failure"] = {"step": fail_at, "requeued": row.get("requeued"),
                           "requeue_latency_s": row.get("recovery_seconds_max"),
                           "rollout_s_that_step": row["rollout_seconds"],
                           "rollout_s_other_steps_median": statistics.median(others) if others else None,
                           "engines_live_after": kill["history"][-1].get("engines_live")}
    diff = max_weight_diff(one["final"], two["final"])
    print(f"{'topology':<22}{'tok/s rollout':>14}{'update s/step':>15}{'sync s/step':>13}{'wall s':>9}")
    for r in rows:
        print(f"{r['trainer_ranks']} rank(s), {r['engines']} engine(s){' (kill)' if 'failure' in r else '':<8}"
              f"{r['rollout_tokens_per_s'] or 0:>12.1f}{r['update_s_per_step'] or 0:>15.3f}"
              f"{r['weight_sync_s_per_step'] or 0:>13.4f}{r['wall_s']:>9.1f}")
    if len(rows) == 3:
        print("engine failure:", json.dumps(rows[2]["failure"]))
    print(f"max |w(2 ranks, 2 engines) - w(1 rank, 1 engine)| = {diff:.3g}")
    result = {"max_weight_diff": diff,
              "rollout_throughput_ratio": round(two["rollout_tokens_per_s"] / one["rollout_tokens_per_s"], 3)}
    record = {"args": vars(args), "rows": [{k: v for k, v in r.items() if k not in ("history", "final")} for r in rows],
              **result}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    with open(ROOT / "bench" / "results" / "rl_distributed.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
