"""Benchmark: what a tiny MiMo model learns of the toy curriculum in minutes on this machine.

    .venv/bin/python bench/bench_tiny_budget.py --shapes h192l4 h256l4 --tokens 300000 600000

For every model shape x token budget: a fresh ``MiMoForCausalLM`` (one MTP layer, the project's
digit-splitting BPE tokenizer) is trained with the project's training loop (``mimo.train.loop``:
AdamW, MTP loss, packed rows, loss on assistant tokens) on the SFT rendering of the toy curriculum
(``mimo.problems.toy``: the solve prompt, the rule-based teacher's think-then-answer response),
then evaluated on held-out prompts with the evaluation code (``mimo.eval.evaluate``: temperature
0.6, top-p 0.95, ``--samples`` per problem, Math-Verify), per difficulty level. This is how the
default profile's model shape, token budgets and curriculum mix were picked (docs/budgets.md).
Results: one JSON line per run, also appended to ``bench/results/tiny_budget.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHAPE = re.compile(r"h(\d+)l(\d+)(?:f(\d+))?(?:a(\d+))?(?:k(\d+))?")


def parse_shape(text: str) -> dict:
    """``h192l4`` (hidden 192, 4 layers, FFN ~2.7x, hidden/64 heads, half as many KV heads) or with
    ``f<ffn>``, ``a<heads>``, ``k<kv heads>`` (``h192l4a4k4``) into model overrides."""
    m = SHAPE.fullmatch(text)
    if not m:
        raise SystemExit(f"shape {text!r}: expected h<hidden>l<layers>[f<ffn>]")
    hidden, layers = int(m[1]), int(m[2])
    ffn = int(m[3]) if m[3] else (hidden * 8 // 3 + 15) // 16 * 16
    heads = int(m[4]) if m[4] else max(2, hidden // 64)
    kv = int(m[5]) if m[5] else max(1, heads // 2)
    return {"hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": ffn,
            "num_attention_heads": heads, "num_key_value_heads": kv, "head_dim": hidden // heads}


def build_data(work: Path, n_math: int, n_code: int, heldout: int, seed: int, seq_len: int,
               level_weights: dict[int, float] | None = None) -> tuple[Path, Path, list]:
    """Toy problems, teacher responses, tokenizer and packed SFT rows (cached in ``work``)."""
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.config import ProceduralOptions
    from mimo.generate.procedural import ProceduralTeacher
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.toy import generate_toy_problems
    from mimo.rl.curation.rollouts import rollout_messages
    from mimo.data.packing import pack_documents
    from mimo.problems.worked import worked_text
    from mimo.sft.packing import pack_sft, tokenize_conversation

    frac = heldout / (n_math + n_code)
    problems = generate_toy_problems(n_math, n_code, seed=seed, heldout_fraction=frac, level_weights=level_weights)
    test = [p for p in problems if p.split == "heldout"]
    tok_dir, data_dir = work / "tokenizer", work / "sft"
    if (data_dir / "meta.json").exists():
        return tok_dir, data_dir, test
    train = [p for p in problems if p.split == "train"]
    teacher = ProceduralTeacher(ProceduralOptions(wrong_answer_rate=0, no_answer_rate=0, truncate_rate=0), train)
    convs = []
    for p in train:
        messages = rollout_messages(p)
        (res,) = teacher.generate_batch([GenerationRequest(messages, SamplingParams(n=1, seed=seed), p.id)])
        convs.append(messages + [{"role": "assistant", "content": res.completions[0].text}])
    texts = [m["content"] for c in convs for m in c] + [worked_text(p) for p in train]
    tok = train_tokenizer(texts, vocab_size=4096, min_frequency=2)
    tok.save_pretrained(tok_dir)
    samples = [tokenize_conversation(c, tok) for c in convs]
    pack_sft(samples, seq_len, tok.pad_token_id, data_dir, meta={"source": "toy curriculum"})
    docs = [tok(worked_text(p), add_special_tokens=False)["input_ids"] for p in train]
    pack_documents(docs, seq_len, tok.pad_token_id, work / "pretrain", meta={"source": "toy worked problems"})
    return tok_dir, data_dir, test


def train_one(work: Path, tok_dir: Path, data_dir: Path, shape: dict, tokens: int, lr: float, batch: int,
              micro: int, seed: int, init_from: Path | None = None) -> tuple[Path, dict]:
    """Train a fresh model to ``tokens`` tokens with the project's loop; return (model dir, summary)."""
    from mimo.train.config import TrainConfig
    from mimo.train.loop import train

    warm = min(tokens // 10, 50_000)
    cfg = TrainConfig(
        stage="bench", data_dirs=[str(data_dir)], out_dir=str(work), tokenizer=str(tok_dir),
        model={"preset": "tiny", **shape}, init_from=str(init_from) if init_from else None, stage_tokens=tokens, micro_batch_size=micro,
        batch={"start": batch, "end": batch, "warmup_tokens": 0},
        lr={"start_lr": 0.0, "segments": [{"tokens": warm, "kind": "linear", "end_lr": lr},
                                           {"tokens": tokens - warm, "kind": "cosine", "end_lr": lr * 0.1},
                                           {"tokens": 10**12, "kind": "constant"}]},
        mtp_weight={"points": [[0, 0.3]]}, seed=seed, checkpoint_every_steps=10**6, eval_rows=4,
        log_every_steps=25, threads=2)
    t0 = time.perf_counter()
    res = train(cfg, report=lambda event, payload: print(f"  [{event}] {json.dumps(payload)}", flush=True)
                if event == "log" or payload.get("step", 0) % 100 == 0 else None)
    loss = res.history[-1]["loss_main"] if res.history else None
    return res.final_dir, {"train_s": round(time.perf_counter() - t0, 1), "steps": res.steps,
                           "final_loss": loss, "tokens_per_s": res.throughput.get("tokens_per_s")}


def eval_one(model_dir: Path, problems: list, samples: int, max_tokens: int, seed: int,
             keep_scores: bool = False) -> dict:
    """pass@1 (``samples`` at temperature 0.6, 95 % interval over problems) overall and per level, with
    the evaluation code; ``keep_scores`` adds per-problem scores (``scores``) for paired differences."""
    from mimo.eval.stats import pass1_interval, problem_scores

    from mimo.eval.evaluate import evaluate
    from mimo.generate.base import SamplingParams
    from mimo.generate.config import GeneratorConfig, make_generator

    gen = make_generator(GeneratorConfig(backend="transformers", model=str(model_dir), batch_size=64))
    t0 = time.perf_counter()
    try:
        rows, _ = evaluate(problems, gen, n=samples, sampling=SamplingParams(
            temperature=0.6, top_p=0.95, max_tokens=max_tokens, seed=seed), benchmark="toy_heldout",
            show_progress=False)
    finally:
        gen.close()
    level = {p.id: int(p.metadata.get("level", 0)) for p in problems}
    by_level: dict[int, list[float]] = {}
    for r in rows:
        by_level.setdefault(level[r["problem_id"]], []).append(r["reward"])
    rewards = [r["reward"] for r in rows]
    ci = pass1_interval(rows)
    out = {"eval_s": round(time.perf_counter() - t0, 1), "pass@1": round(sum(rewards) / len(rewards), 4),
           "pass@1_ci95": [round(ci["lo"], 4), round(ci["hi"], 4)],
           "per_level": {str(k): round(sum(v) / len(v), 4) for k, v in sorted(by_level.items())},
           "mean_completion_tokens": round(sum(r["completion_tokens"] for r in rows) / len(rows), 1)}
    if keep_scores:
        out["scores"] = problem_scores(rows)
    return out


def emit(result: dict, out: Path) -> None:
    """Print one result as a JSON line and append it to ``out``."""
    print(json.dumps(result), flush=True)
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", nargs="+", default=["h192l4"])
    ap.add_argument("--tokens", nargs="+", type=int, default=[300_000])
    ap.add_argument("--pretrain-tokens", type=int, default=0,
                    help="first train on plain-text worked problems (pretraining) for this many tokens")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=16, help="rows per optimizer step")
    ap.add_argument("--micro", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--math", type=int, default=6000)
    ap.add_argument("--code", type=int, default=0)
    ap.add_argument("--heldout", type=int, default=256)
    ap.add_argument("--level-weights", default="", help="e.g. 0.4,0.3,0.2,0.1 for levels 1-4 (default: templates uniform)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default="/tmp/mimo-bench-tiny-budget")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    work = Path(args.work)
    weights = {i + 1: float(w) for i, w in enumerate(args.level_weights.split(","))} if args.level_weights else None
    data_key = f"m{args.math}c{args.code}h{args.heldout}s{args.seed}L{args.seq_len}w{args.level_weights or 'uniform'}"
    tok_dir, data_dir, test = build_data(work / data_key, args.math, args.code, args.heldout, args.seed, args.seq_len,
                                         weights)
    out = ROOT / "bench" / "results" / "tiny_budget.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    for shape_name in args.shapes:
        shape = parse_shape(shape_name)
        for tokens in args.tokens:
            run_dir = work / data_key / f"{shape_name}-p{args.pretrain_tokens}-t{tokens}-lr{args.lr}-b{args.batch}"
            base, pre = None, {}
            if args.pretrain_tokens:
                base, trained = train_one(run_dir / "pretrain", tok_dir, work / data_key / "pretrain", shape,
                                          args.pretrain_tokens, args.lr, args.batch, args.micro, args.seed)
                pre = {f"pretrain_{k}": v for k, v in trained.items()}
                pre.update({f"base_{k}": v for k, v in eval_one(base, test, args.samples, args.max_tokens,
                                                                 args.seed).items()})
                print(json.dumps(pre), flush=True)
            model_dir, trained = train_one(run_dir / "sft", tok_dir, data_dir, shape, tokens, args.lr, args.batch,
                                           args.micro, args.seed, init_from=base)
            result = {"shape": shape_name, "pretrain_tokens": args.pretrain_tokens, "tokens": tokens, "lr": args.lr,
                      "batch": args.batch, "data": data_key, "heldout": len(test), **pre, **trained,
                      **eval_one(model_dir, test, args.samples, args.max_tokens, args.seed)}
            emit(result, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
