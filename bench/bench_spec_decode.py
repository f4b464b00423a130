"""Benchmark: MTP speculative decoding vs plain decoding of the same checkpoint, in the same run.

    python bench/bench_spec_decode.py [--model PATH] [--state /tmp/st2] [--ks 1,2,3] \
        [--num-prompts 8] [--max-new-tokens 64] [--max-prompt-tokens 128] [--repeats 2] \
        [--temperature 0.6] [--top-p 0.95] [--threads 1] [--out bench/results/spec_decode.json]

``--model`` is a checkpoint directory with MTP layers (default: the latest ``mtp_expansion`` artifact
of the finished tiny run in ``--state``, read from its DuckDB catalog). Prompts, raw text without
special tokens, cut to their last ``--max-prompt-tokens`` tokens:

- ``math500``: the first MATH-500 problems (in-domain for a math model, never trained on);
- ``toy_heldout``: held-out toy math problems as worked-problem openings (the asset's prompts; only
  with ``--state``): the model decodes its own solutions;
- ``train_tail``: documents starting in the held-out tail rows of the run's stage-3 packed data
  (the model's own pretraining distribution; only with ``--state``).

For each prompt set, :func:`mimo.generate.speculative.measure_speculative` interleaves plain decoding
and speculative decoding with 1..3 drafts per prompt (fastest of ``--repeats``), EOS ignored so every
decode is ``--max-new-tokens`` long:

- ``greedy``: acceptance per draft position (= MTP layer), tokens per main forward, decode tokens/s
  and the ratio to plain decoding, and whether every output equals plain greedy decoding;
- ``sampled``: the same at ``--temperature``/``--top-p`` (MiMo's evaluation settings) with the
  distribution-preserving acceptance rule and drafts sampled from the MTP layers.
- ``ceiling`` (context): greedy with the MTP layers still computed but their guess replaced by
  plain greedy decoding's next tokens (100% acceptance): the speedup this machine would give if the
  tiny MTP layers were always right, i.e. the cost of the drafting machinery itself.

Decode tokens/s excludes the main model's prompt forward (the same in both); the MTP layers' pass
over the prompt counts against speculation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", ROOT.parent / "shared")) / "benchmarks"


def catalog_paths(state: str) -> dict[str, str]:
    """``asset_key -> path`` of the latest mtp_expansion and pretrain_data_stage3 artifacts (read-only)."""
    import duckdb

    db = Path(state) / "lake/_catalog/catalog.duckdb"
    if not db.exists():
        return {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT asset_key, path FROM latest_artifacts WHERE asset_key IN "
                           "('mtp_expansion', 'pretrain_data_stage3', 'evaluation_sets') ORDER BY created_at").fetchall()
    finally:
        con.close()
    return dict(rows)


def toy_prompts(arts: dict[str, str], n: int) -> list[str]:
    """The first ``n`` held-out toy math problems as worked-problem openings (as the asset's
    ``prompt_source: toy_heldout``): the model continues with its own worked solution."""
    from _run_state import heldout_problems
    from mimo.problems.worked import worked_prompt

    return [worked_prompt(p) for p in heldout_problems(arts) if p.domain == "math"][:n]


def train_tail_prompts(data_dir: str, n: int, max_tokens: int, min_tokens: int = 16) -> list[list[int]]:
    """Up to ``n`` prompts: document starts in the held-out tail rows of a packed shard."""
    import numpy as np

    tokens = np.load(Path(data_dir) / "tokens.npy", mmap_mode="r")
    positions = np.load(Path(data_dir) / "positions.npy", mmap_mode="r")
    prompts: list[list[int]] = []
    for row in range(tokens.shape[0] - 1, -1, -1):
        starts = np.flatnonzero(positions[row] == 0)
        for s in starts:
            end = s + 1
            while end < tokens.shape[1] and positions[row, end] == positions[row, end - 1] + 1 and end - s < max_tokens:
                end += 1
            if end - s >= min_tokens:
                prompts.append([int(t) for t in tokens[row, s:end]])
                if len(prompts) == n:
                    return prompts
    return prompts


def oracle_ceiling(model: Any, prompts: list[list[int]], max_new: int, ks: list[int], repeats: int) -> dict:
    """Greedy speculative decoding with each draft replaced by plain greedy decoding's token (the MTP
    layers still run): 100% acceptance, so the speedup is what the machinery allows at best."""
    import torch

    from mimo.generate import speculative as spec

    original = spec._MTPDrafter.layer_logits
    state: dict[str, Any] = {}

    def forced(self, k: int, m: int) -> torch.Tensor:
        logits = original(self, k, m)
        target = state["sequence"][m + 1 + k] if m + 1 + k < len(state["sequence"]) else 0
        out = torch.full_like(logits, -1e4)
        out[target] = 0.0
        return out

    results: dict[str, Any] = {}
    spec._MTPDrafter.layer_logits = forced
    try:
        for k in ks:
            plain_s = spec_s = 0.0
            tokens = 0
            accepted_all = True
            for prompt in prompts:
                best_plain = best_spec = float("inf")
                for _ in range(repeats):
                    base = spec.plain_generate(model, prompt, max_new)
                    state["sequence"] = list(prompt) + base.tokens
                    out = spec.speculative_generate(model, prompt, max_new, k)
                    accepted_all &= out.tokens == base.tokens and all(
                        a == p for a, p in zip(out.stats.accepted, out.stats.proposed))
                    best_plain, best_spec = min(best_plain, base.decode_s), min(best_spec, out.decode_s)
                plain_s, spec_s, tokens = plain_s + best_plain, spec_s + best_spec, tokens + max_new
            results[str(k)] = {"plain_tokens_per_s": round(tokens / plain_s, 2),
                               "speculative_tokens_per_s": round(tokens / spec_s, 2),
                               "speedup": round(plain_s / spec_s, 3), "all_accepted_and_identical": accepted_all}
    finally:
        spec._MTPDrafter.layer_logits = original
    return results


def cost_model(model: Any, prompt: list[int], max_k: int, calls: int = 200) -> dict:
    """Per-call decode costs on this machine, relative to one plain step (a main forward of one token
    with its KV cache): the verify forward over ``1 + k`` tokens and one MTP layer's draft (the
    steady state, one new position). A step with ``k`` drafts commits ``1 + E[accepted]`` tokens for
    ``verify(1 + k) + k * mtp``, so the speedup at acceptance ``a`` per draft is predicted as
    ``(1 + a + ... + a^k) / (verify(1 + k) + k * mtp)``; ``break_even`` is the acceptance each k
    needs for 1.2x (None: out of reach even at 100 %)."""
    import torch

    from mimo.generate import speculative as spec

    def timed(fn: Any) -> float:
        fn()
        best = float("inf")
        for _ in range(3):  # fastest of 3 blocks: a shared machine's spikes do not count
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best = min(best, (time.perf_counter() - t0) / calls)
        return best

    with torch.inference_mode():
        ids = torch.tensor([prompt])
        length = ids.shape[1]
        out, cache = spec._prefill(model, ids)

        def verify(n: int) -> Any:
            def run() -> None:
                model(input_ids=ids[:, :n], position_ids=torch.arange(length, length + n)[None],
                      past_key_values=cache, use_cache=True)
                cache.crop(length - cache.get_seq_length())
            return run

        drafter = spec._MTPDrafter(model, 1, length + 4, ids.device, out.pre_norm_hidden_state.dtype)
        drafter.main_hidden[:, :length] = out.pre_norm_hidden_state
        drafter.ids[:length] = ids[0]
        drafter.layer_logits(0, length - 1)  # the layer's cache over the prompt

        def draft() -> None:
            drafter.layer_logits(0, length)
            index = drafter.cache_index[0]
            drafter.caches[0].crop(length - 1 - drafter.caches[0].get_seq_length(index))
            drafter.cached[0] = length - 1

        plain = timed(verify(1))
        rel = {n: timed(verify(n)) / plain for n in range(2, max_k + 2)}
        mtp = timed(draft) / plain

    def predicted(k: int, a: float) -> float:
        return sum(a ** j for j in range(k + 1)) / (rel[k + 1] + k * mtp)

    def break_even(k: int, target: float = 1.2) -> float | None:
        if predicted(k, 1.0) < target:
            return None
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if predicted(k, mid) >= target else (mid, hi)
        return round(hi, 3)

    ks = range(1, max_k + 1)
    return {"plain_step_ms": round(plain * 1e3, 3), "context_tokens": length,
            "verify_relative": {str(n): round(r, 3) for n, r in rel.items()},
            "mtp_draft_relative": round(mtp, 3),
            "predicted_speedup": {str(k): {str(a): round(predicted(k, a), 3) for a in (0.7, 0.8, 0.9, 1.0)} for k in ks},
            "break_even_acceptance_for_1.2x": {str(k): break_even(k) for k in ks}}


def machine_info(threads: int) -> dict:
    import torch
    import transformers

    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpu": cpu, "cores": len(os.sched_getaffinity(0)), "torch_threads": threads,
            "load_average_1m": round(os.getloadavg()[0], 2)}


def print_table(name: str, res: dict) -> None:
    plain = res["plain"]["decode_tokens_per_s"]
    print(f"\n[{name}] plain decode {plain:.1f} tok/s ({res['prompts']} prompts x {res['max_new_tokens']} tokens, "
          f"temperature {res['temperature']})")
    print(f"{'k':>2} {'accept/layer':<24} {'cond. accept':<24} {'tok/step':>8} {'tok/s':>8} {'speedup':>8} {'identical':>9}")
    for k, r in res["speculative"].items():
        acc = ", ".join("-" if a is None else f"{a:.2f}" for a in r["acceptance_per_layer"])
        cond = ", ".join("-" if a is None else f"{a:.2f}" for a in r["conditional_acceptance_per_layer"])
        print(f"{k:>2} {acc:<24} {cond:<24} {r['tokens_per_step']:>8.2f} {r['decode_tokens_per_s']:>8.1f} "
              f"{r['speedup']:>8.3f} {r['identical']!s:>9}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint dir (default: the state's latest mtp_expansion)")
    ap.add_argument("--state", default="/tmp/st2", help="state dir of a finished tiny run")
    ap.add_argument("--ks", default="1,2,3", help="draft lengths")
    ap.add_argument("--num-prompts", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--max-prompt-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.6, help="sampled run (0 skips it)")
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-ceiling", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/results/spec_decode.json"))
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    import mimo.model  # noqa: F401 - registers MiMo with the Auto classes
    from mimo.generate.spec_prompts import encode_prompts, load_prompt_texts
    from mimo.generate.speculative import measure_speculative, num_mtp_layers
    from mimo.model.modeling_mimo import MiMoForCausalLM

    torch.set_num_threads(args.threads)
    arts = catalog_paths(args.state) if args.state else {}
    model_dir = args.model or (f"{arts['mtp_expansion']}/model" if "mtp_expansion" in arts else None)
    if model_dir is None or not Path(model_dir, "config.json").exists():
        print(f"error: no checkpoint (--model {args.model}, state {args.state}); run the tiny pipeline first",
              file=sys.stderr)
        return 1
    model = MiMoForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    layers = num_mtp_layers(model)
    ks = [k for k in (int(x) for x in args.ks.split(",")) if 1 <= k <= layers]
    params = sum(p.numel() for p in model.parameters())
    print(f"[bench] {model_dir}: {params / 1e6:.2f}M params ({layers} MTP layers), threads {args.threads}", flush=True)
    sets = {"math500": encode_prompts(tok, load_prompt_texts(SHARED / "math500.jsonl", "problem", args.num_prompts),
                                      args.max_prompt_tokens)}
    if "evaluation_sets" in arts:
        sets["toy_heldout"] = encode_prompts(tok, toy_prompts(arts, args.num_prompts),
                                             args.max_prompt_tokens)
    if "pretrain_data_stage3" in arts:
        sets["train_tail"] = train_tail_prompts(arts["pretrain_data_stage3"], args.num_prompts, args.max_prompt_tokens)
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    for name, prompts in sets.items():
        common = {"eos_token_ids": (), "repeats": args.repeats}
        results[name] = {"greedy": measure_speculative(model, prompts, args.max_new_tokens, ks, **common)}
        print_table(f"{name} greedy", results[name]["greedy"])
        if args.temperature > 0:
            results[name]["sampled"] = measure_speculative(model, prompts, args.max_new_tokens, ks, warmup=False,
                                                           temperature=args.temperature, top_p=args.top_p, **common)
            print_table(f"{name} sampled", results[name]["sampled"])
    costs = cost_model(model, sets["math500"][0], max(ks))
    print(f"\n[costs] plain step {costs['plain_step_ms']} ms; verify over 1+k tokens "
          f"{costs['verify_relative']} and one MTP draft {costs['mtp_draft_relative']} plain steps")
    for k, row in costs["predicted_speedup"].items():
        print(f"  k={k}: predicted speedup at acceptance {row}; 1.2x needs acceptance "
              f"{costs['break_even_acceptance_for_1.2x'][k]}")
    ceiling = None
    if not args.no_ceiling:
        ceiling = oracle_ceiling(model, sets["math500"], args.max_new_tokens, ks, args.repeats)
        print("\n[ceiling] 100% acceptance (drafts forced to plain greedy's tokens, MTP layers still run):")
        for k, r in ceiling.items():
            print(f"  k={k}: {r['speculative_tokens_per_s']:.1f} vs {r['plain_tokens_per_s']:.1f} tok/s, "
                  f"speedup {r['speedup']:.3f}, all accepted and identical: {r['all_accepted_and_identical']}")
    out = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
           "model": {"path": model_dir, "params": params, "mtp_layers": layers,
                     "mtp_hidden_source": model.config.mtp_hidden_source},
           "workload": {"prompt_sets": {k: len(v) for k, v in sets.items()}, "max_new_tokens": args.max_new_tokens,
                        "max_prompt_tokens": args.max_prompt_tokens, "ks": ks, "repeats": args.repeats,
                        "sampled": {"temperature": args.temperature, "top_p": args.top_p}, "ignore_eos": True},
           "results": results, "ceiling_100pct_acceptance": ceiling, "costs": costs,
           "targets": {"acceptance_layer_1": 0.7, "decode_speedup": 1.2},
           "seconds": round(time.perf_counter() - t0, 1), "machine": machine_info(args.threads)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"[bench] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
