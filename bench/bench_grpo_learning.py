"""Benchmark: does the RL loop raise pass@1, on held-out prompts, where the policy can learn?

    .venv/bin/python bench/bench_grpo_learning.py [--steps 15] [--backends batch inflight]

The tiny profile's SFT model solves about 1% of the toy reasoning problems, so its 4-step RL runs
cannot show what GRPO does. This bench is a controlled stand-in: a small MiMo model (2 layers,
hidden 32, own tokenizer) is taught to answer "Say the digit d." prompts (d in 1..3, six
phrasings) with ``\\boxed{d'}``, d' uniformly random (:mod:`mimo.rl.grpo.toy_policy`; it ignores
the prompt). The real RL loop (``train_rl``: rollout engine, Math-Verify in reward workers, GRPO
with MiMo's loss, clip-higher, dynamic sampling, easy pool) trains it on four phrasings of "Say
the digit 1."; pass@1 (16 samples, MiMo's evaluation sampling: temperature 0.6, top-p 0.95) is
measured before and after on the two phrasings it never trained on. What it shows: the loop moves
the policy toward rewarded answers and the change carries over to unseen prompts. What it does
not show: reasoning, or learning to read the digit (a prompt-conditional answer; 60 steps at
several learning rates did not learn it at this size). Each backend (batch-synchronous and
in-flight rollouts) trains from the same start; results: ``bench/results/grpo_learning.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 16}


def pass_at_1(model_dir: Path, problems: list, n: int, seed: int) -> float:
    """Mean Math-Verify reward of ``n`` samples per problem (temperature 0.6, top-p 0.95)."""
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.transformers_backend import TransformersGenerator
    from mimo.rl.curation.rollouts import rollout_messages
    from mimo.verifiers.math import verify_response

    gen = TransformersGenerator(str(model_dir), device="cpu", batch_size=64)
    try:
        res = gen.generate_batch([GenerationRequest(rollout_messages(p), SamplingParams(
            n=n, temperature=0.6, top_p=0.95, max_tokens=16, seed=seed), p.id) for p in problems])
    finally:
        gen.close()
    scores = [verify_response((c.text, p.answer))[0] == "correct" for p, r in zip(problems, res) for c in r.completions]
    return sum(scores) / len(scores)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--backends", nargs="+", choices=("batch", "inflight"), default=["batch", "inflight"])
    ap.add_argument("--n", type=int, default=16, help="samples per problem for pass@1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/grpo_learning.json"))
    args = ap.parse_args()

    import pyarrow.parquet as pq
    import torch

    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.records import problems_to_table
    from mimo.rl.grpo.loop import RLTrainConfig, train_rl
    from mimo.rl.grpo.toy_policy import PHRASINGS, digit_problems, teach_random_digits
    from mimo.rl.history import per_step

    torch.set_num_threads(1)
    start = time.perf_counter()
    taught = digit_problems(PHRASINGS[:4])
    train = digit_problems(PHRASINGS[:4], digits="1")
    held_out = digit_problems(PHRASINGS[4:], digits="1", split="test")
    result: dict = {"args": vars(args), "runs": {}}
    with tempfile.TemporaryDirectory(prefix="grpo-learning-") as tmp:
        root = Path(tmp)
        texts = [p.prompt for p in digit_problems()] * 5 + ["\\boxed{1} \\boxed{2} \\boxed{3}"] * 20
        tok = train_tokenizer(texts, vocab_size=300)
        model = create_model("tiny", stage=1, tokenizer=tok, seed=args.seed, **SMALL)
        teach_random_digits(model, tok, taught, steps=150, seed=args.seed)
        model.save_pretrained(root / "init")
        tok.save_pretrained(root / "init")
        pq.write_table(problems_to_table(train), root / "train.parquet")
        before = {"held_out": pass_at_1(root / "init", held_out, args.n, args.seed),
                  "train": pass_at_1(root / "init", train, args.n, args.seed)}
        result["before"] = before
        print(f"before RL: pass@1 held-out {before['held_out']:.3f}, train {before['train']:.3f}", flush=True)
        for backend in args.backends:
            cfg = RLTrainConfig(stage="rl", init_from=str(root / "init"), problem_files=[str(root / "train.parquet")],
                                out_dir=str(root / f"rl-{backend}"), threads=1, reward_workers=1,
                                checkpoint_every_steps=args.steps, rollout_backend=backend,
                                grpo={"num_generations": 8, "batch_prompts": 4, "mini_batch_prompts": 2,
                                      "micro_batch_samples": 16, "learning_rate": args.lr,
                                      "max_completion_length": 16, "steps": args.steps, "max_sampling_rounds": 8,
                                      "seed": args.seed})
            t0 = time.perf_counter()
            history: list[dict] = []
            summary = train_rl(cfg, lambda kind, payload: history.append(payload) if kind == "metrics" else None)
            rl_s = time.perf_counter() - t0
            final = Path(summary["final_dir"])
            after = {"held_out": pass_at_1(final, held_out, args.n, args.seed),
                     "train": pass_at_1(final, train, args.n, args.seed)}
            curve = [{k: h.get(k) for k in ("step", "rollout_pass_rate", "valid_groups", "rollout_seconds",
                                            "step_seconds", "loss", "entropy", "update_skipped")} for h in history]
            result["runs"][backend] = {"after": after, "rl_seconds": round(rl_s, 1), "curve": curve}
            print(f"{backend}: after {args.steps} GRPO steps ({rl_s:.1f} s, rollouts "
                  f"{sum(c['rollout_seconds'] for c in curve):.1f} s): pass@1 held-out {after['held_out']:.3f} "
                  f"({100 * (after['held_out'] - before['held_out']):+.1f} points), train {after['train']:.3f}")
            rates = per_step(curve, "rollout_pass_rate", 2)  # None: no rollout of the step was scored
            print("  rollout pass rate per step: " + " ".join("-" if r is None else f"{r:.2f}" for r in rates),
                  flush=True)
    result["seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
