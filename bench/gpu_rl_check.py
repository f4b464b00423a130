"""GPU check of RL across processes: a few GRPO steps with one trainer rank and one rollout engine
(vLLM) on a ~0.5B MiMo config (Qwen2-0.5B's shape, random weights), printing generation tokens/s,
update time, weight-sync time and step time per step. Under 10 minutes on one H100/H200.

    python bench/gpu_rl_check.py                 # GPU: vLLM engine, trainer on cuda:0 (same GPU)
    python bench/gpu_rl_check.py --smoke         # CPU: the same path with a tiny model and the in-flight engine

Random weights give all-zero rewards, so dynamic sampling is off: every step updates (with zero
advantages, the same compute). The engine shares the trainer's GPU; weights go through a gloo group
staged on the CPU (two NCCL ranks cannot share one GPU). Ends with one JSON line of the medians.
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

HALF_B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
              num_key_value_heads=2, head_dim=64)
SMOKE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16)


def build(work: Path, shape: dict, vocab: int) -> tuple[str, str]:
    """A saved random model of ``shape`` with a tokenizer trained here, and toy math problems."""
    import pyarrow.parquet as pq

    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.records import problems_to_table
    from mimo.problems.toy import generate_toy_problems

    problems = [p for p in generate_toy_problems(400, 0, seed=0) if p.domain == "math"][:64]
    tok = train_tokenizer([p.prompt + "\n" + (p.solution or "") for p in problems] * 4, vocab_size=vocab)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0, **shape)
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(work / "model")
    tok.save_pretrained(work / "model")
    pq.write_table(problems_to_table(problems), work / "problems.parquet")
    print(f"model: {n / 1e6:.0f}M parameters", flush=True)
    return str(work / "model"), str(work / "problems.parquet")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU: tiny model, in-flight engine")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16, help="groups per step")
    ap.add_argument("--g", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--work", default="/tmp/mimo-gpu-rl-check")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model, problems = build(work, SMOKE if args.smoke else HALF_B, 512 if args.smoke else 8192)
    engines = {"count": 1, "backend": "inflight" if args.smoke else "vllm", "sync_backend": "gloo",
               "start_timeout_s": 600}
    if not args.smoke:
        engines["vllm"] = {"gpu_memory_utilization": 0.35, "max_model_len": 1024, "dtype": "bfloat16"}
    cfg = {"stage": "rl", "init_from": model, "problem_files": [problems], "out_dir": str(work / "run"),
           "rollout_backend": "engines", "engines": engines, "generation_batch_groups": args.batch,
           "reward_workers": 2, "checkpoint_every_steps": 1000, "threads": 2 if args.smoke else 8,
           "grpo": {"steps": args.steps, "num_generations": args.g, "batch_prompts": args.batch,
                    "mini_batch_prompts": max(1, args.batch // 2), "micro_batch_samples": 8 if args.smoke else 16,
                    "learning_rate": 1e-6, "max_completion_length": args.max_tokens, "dynamic_sampling": False,
                    "seed": 0}}
    path = work / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mimo.rl.train", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=3000)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-4000:])
        return 1
    history = json.loads((work / "run/final/rl_history.json").read_text())
    print(f"{'step':>4}{'gen tok/s':>11}{'rollout s':>11}{'update s':>10}{'sync s':>9}{'step s':>9}")
    for h in history:
        tps = (h.get("completion_tokens") or 0) / max(h["rollout_seconds"], 1e-9)
        print(f"{h['step']:>4}{tps:>11.0f}{h['rollout_seconds']:>11.2f}{h.get('update_seconds') or 0:>10.2f}"
              f"{h.get('weight_sync_seconds') or 0:>9.3f}{h['step_seconds']:>9.2f}")
    later = history[1:] or history  # the first step includes warm-up (vLLM graphs, the sync group)
    med = {k: statistics.median((h.get(k) or 0) for h in later)
           for k in ("rollout_seconds", "update_seconds", "weight_sync_seconds", "step_seconds")}
    med["generation_tokens_per_s"] = statistics.median((h.get("completion_tokens") or 0) / max(h["rollout_seconds"], 1e-9)
                                                       for h in later)
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(json.dumps({"device": device, "smoke": args.smoke, "wall_s": round(time.perf_counter() - t0, 1),
                      **{k: round(v, 4) for k, v in med.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
