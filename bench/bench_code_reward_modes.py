"""Benchmark: vanilla vs strict vs soft code reward over GRPO training steps (MiMo §3.3.1).

    .venv/bin/python bench/bench_code_reward_modes.py [--steps 10] [--out bench/results/code_reward_modes.json]

The tiny profile's SFT checkpoint never writes a program that compiles, so every scheme would give
0 everywhere. This bench therefore uses a small MiMo model (tiny preset, 2 layers, hidden 32, its
own byte-level BPE tokenizer) taught for a few hundred supervised steps to answer any code task
with one of six generic programs, picked at random (it does not read the task). The tasks are
six stdin/stdout problems with one test per difficulty level 1-3, each fully solved by exactly one
of the programs; the other programs pass some levels (e.g. ``print(input())`` passes ``|n|`` for
n = 0 and 7, not for -4). Then, for each scheme, the real RL loop (``train_rl``: seamless rollout
engine, sandboxed code reward under that scheme, GRPO updates) trains a copy of that model for the
same steps with the same seed. Per step it records, over every scored rollout of the step (valid
groups or not), the pass rate (all tests pass: the same definition for every scheme) and the mean
reward (the scheme's own), and at the end pass@1 of the final model on every task (16 samples).
Results: ``bench/results/code_reward_modes.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCHEMES = ("vanilla", "strict", "soft")
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 16}
PROGRAMS = ("print(input())", "print(abs(int(input())))", "print(2 * int(input()))",
            "print(int(input()) ** 2)", "print(0)", "print(-int(input()))")
#: (prompt, the program that solves it, test inputs for levels 1, 2, 3)
TASKS = (("Read an integer n and print its absolute value.", 1, ("0", "7", "-4")),
         ("Read an integer n and print 2 * n.", 2, ("0", "1", "-6")),
         ("Read an integer n and print n squared.", 3, ("0", "1", "-3")),
         ("Read a line of text and print it unchanged.", 0, ("5", "-2", "hello")),
         ("Read an integer n and print n - n.", 4, ("0", "9", "-9")),
         ("Read an integer n and print -n.", 5, ("0", "-5", "8")))


def _expected(program: str, stdin: str) -> str:
    """Output of one of our own generic programs (trusted, run here)."""
    import contextlib
    import io

    out, old = io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin + "\n")
    try:
        with contextlib.redirect_stdout(out):
            exec(program, {})  # noqa: S102 - the fixed programs above
    finally:
        sys.stdin = old
    return out.getvalue()


def problems() -> list:
    from mimo.problems.records import Problem, TestCase

    return [Problem(id=f"task-{i}", source="bench", domain="code", prompt=prompt, solution=PROGRAMS[k],
                    tests=tuple(TestCase(input=x + "\n", output=_expected(PROGRAMS[k], x), level=lv + 1)
                                for lv, x in enumerate(inputs)), split="train")
            for i, (prompt, k, inputs) in enumerate(TASKS)]


def teach(out: Path, tasks: list, steps: int, seed: int) -> Path:
    """A small model that answers every task with a uniformly random program of ``PROGRAMS``."""
    import torch

    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer
    from mimo.rl.curation.rollouts import rollout_messages
    from mimo.rl.grpo.toy_policy import supervised_step

    texts = [t.prompt for t in tasks] * 5 + [f"```python\n{p}\n```" for p in PROGRAMS] * 20
    tok = train_tokenizer(texts, vocab_size=400)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=seed, **SMALL)
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        convs = [rollout_messages(t, "") + [{"role": "assistant",
                                             "content": f"```python\n{rng.choice(PROGRAMS)}\n```"}]
                 for t in rng.sample(tasks, 4)]
        supervised_step(model, tok, convs, opt)
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def pass_at_1(model_dir: Path, tasks: list, n: int, seed: int) -> dict[str, float]:
    """Mean full-pass rate of ``n`` samples per task (temperature 1.0), per task."""
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.transformers_backend import TransformersGenerator
    from mimo.rl.curation.rollouts import rollout_messages
    from mimo.verifiers.code import score_code

    gen = TransformersGenerator(str(model_dir), device="cpu", batch_size=64)
    try:
        res = gen.generate_batch([GenerationRequest(rollout_messages(t, ""), SamplingParams(
            n=n, temperature=1.0, max_tokens=48, seed=seed), t.id) for t in tasks])
    finally:
        gen.close()
    out = {}
    for t, r in zip(tasks, res):
        items = [{"id": i, "response": c.text, "tests": [x.to_dict() for x in t.tests]}
                 for i, c in enumerate(r.completions)]
        out[t.id] = sum(s.reward for s in score_code(items, scheme="vanilla")) / n
    return out


def plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mimo.rl.history import series

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for scheme, rows in result["curves"].items():  # a step with no scored rollout has no point
        for ax, key in ((a, "pass_rate"), (b, "reward_mean")):
            if points := series(rows, key):
                ax.plot(*zip(*points), marker="o", label=scheme)
    a.set_title("pass rate (all tests) of the step's rollouts")
    b.set_title("mean reward of the step's rollouts (own scheme)")
    for ax in (a, b):
        ax.set_xlabel("GRPO step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--teach-steps", type=int, default=300)
    ap.add_argument("--g", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="valid groups per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-n", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "bench/results/code_reward_modes.json"))
    args = ap.parse_args()
    import pyarrow.parquet as pq

    from mimo.problems.records import problems_to_table
    from mimo.rl.grpo import GRPOConfig
    from mimo.rl.grpo.loop import RLTrainConfig, train_rl

    start = time.perf_counter()
    tasks = problems()
    result: dict = {"setup": {**vars(args), "programs": PROGRAMS,
                              "tasks": [{"prompt": p, "solved_by": PROGRAMS[k], "inputs": x} for p, k, x in TASKS]},
                    "curves": {}, "final_pass_at_1": {}, "seconds": {}}
    with tempfile.TemporaryDirectory(prefix="code-reward-modes-") as tmp:
        root = Path(tmp)
        init = teach(root / "init", tasks, args.teach_steps, args.seed)
        pq.write_table(problems_to_table(tasks), root / "tasks.parquet")
        result["initial_pass_at_1"] = pass_at_1(init, tasks, args.eval_n, args.seed + 1)
        print(f"[bench] initial pass@1 {sum(result['initial_pass_at_1'].values()) / len(tasks):.3f}", flush=True)
        for scheme in SCHEMES:
            t0 = time.perf_counter()
            rows: list[dict] = []
            cfg = RLTrainConfig(
                stage=f"rl-{scheme}", init_from=str(init), problem_files=[str(root / "tasks.parquet")],
                out_dir=str(root / scheme), system_prompt="", threads=1, reward_workers=2,
                checkpoint_every_steps=args.steps, generation_batch_groups=4,
                grpo=GRPOConfig(num_generations=args.g, batch_prompts=args.batch, mini_batch_prompts=args.batch // 2,
                                micro_batch_samples=32, learning_rate=args.lr, max_completion_length=48,
                                steps=args.steps, seed=args.seed, code_reward_scheme=scheme,
                                max_sampling_rounds=4, easy_pool_probability=0.1))
            train_rl(cfg, lambda event, payload, rows=rows: rows.append(payload) if event == "metrics" else None)
            curve = [{"step": r["step"], "pass_rate": r["rollout_pass_rate"], "reward_mean": r["rollout_reward_mean"],
                      "valid_groups": r["valid_groups"], "groups_scored": r["groups_scored"],
                      "update_skipped": bool(r.get("update_skipped"))} for r in rows]
            result["curves"][scheme] = curve
            result["final_pass_at_1"][scheme] = pass_at_1(root / scheme / "final", tasks, args.eval_n, args.seed + 1)
            result["seconds"][scheme] = round(time.perf_counter() - t0, 1)
            final = sum(result["final_pass_at_1"][scheme].values()) / len(tasks)
            print(f"[bench] {scheme:<8} pass rate per step {[c['pass_rate'] for c in curve]} "
                  f"final pass@1 {final:.3f} ({result['seconds'][scheme]} s)", flush=True)
    result["seconds"]["total"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
