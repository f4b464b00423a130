"""Benchmark: transformers backend in-process vs the openai backend through the local server.

    python bench/bench_generation.py [--requests 16] [--max-tokens 128] [--repeats 3] \
        [--hidden 256] [--layers 4] [--vocab 4096] [--concurrency 16] [--no-batch1] \
        [--out bench/results/generation.json]

One tiny random-initialized Qwen2 chat model (built here; tokenizer trained on MATH-500 + article
texts from ../shared/benchmarks when present, else on the bundled toy problems), one
``TransformersGenerator`` (batch size = ``--requests``, ``ignore_eos`` so every sample runs to
``--max-tokens``), ``--requests`` distinct prompts at temperature 1.0 with per-request seeds:

- ``transformers``: ``generate_batch`` in-process (one padded batch);
- ``openai``: ``OpenAIGenerator`` (``--concurrency`` threads, one HTTP call per sample) against
  ``mimo.generate.server`` wrapping the same generator (dynamic batching: 20 ms gap, 100 ms cap);
- ``transformers_batch1`` (context): the same requests one at a time.

Runs are interleaved ``--repeats`` times (transformers, openai, transformers, ...); the table shows
the median tokens/s (completion tokens actually produced / wall seconds), the JSON also the ratio
of each adjacent pair. With the same seeds both paths must produce the same samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", ROOT.parent / "shared")) / "benchmarks"


def tokenizer_texts() -> tuple[list[str], str]:
    """Realistic text when the shared benchmarks are there, else the bundled toy problems."""
    math500, articles = SHARED / "math500.jsonl", SHARED / "article_extraction/ground-truth.json"
    if math500.exists() and articles.exists():
        texts = [json.loads(line)["problem"] + "\n" + json.loads(line)["solution"]
                 for line in math500.read_text(encoding="utf-8").splitlines() if line.strip()]
        arts = json.loads(articles.read_text(encoding="utf-8"))
        texts += [v["articleBody"] for v in arts.values() if v.get("articleBody")]
        return texts, "shared: math500 + article_extraction bodies"
    from mimo.generate.tiny_model import default_tokenizer_texts

    return default_tokenizer_texts(), "bundled toy problems"


def build_requests(n: int, max_tokens: int) -> list:
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.problems.toy import generate_toy_problems

    problems = generate_toy_problems(n, 0, seed=7)
    return [GenerationRequest([{"role": "user", "content": p.prompt}],
                              SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=1000 + i),
                              f"bench-{i}") for i, p in enumerate(problems)]


def timed(generator, requests) -> tuple[dict, list]:
    from mimo.generate.base import generate_all

    results, usage = generate_all(generator, requests, show_progress=False)
    if usage.failed_requests:
        raise RuntimeError(f"{usage.failed_requests} requests failed: {results[0].error}")
    return {"seconds": usage.seconds, "completion_tokens": usage.completion_tokens,
            "prompt_tokens": usage.prompt_tokens, "tokens_per_s": usage.tokens_per_s}, results


def machine_info() -> dict:
    import tokenizers
    import torch
    import transformers

    cpu = "?"
    if Path("/proc/cpuinfo").exists():
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "cpu": cpu, "cores": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def summarize(runs: list[dict]) -> dict:
    tps = [r["tokens_per_s"] for r in runs]
    return {"median_tokens_per_s": statistics.median(tps), "best_tokens_per_s": max(tps),
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "completion_tokens": runs[0]["completion_tokens"], "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-batch1", action="store_true", help="skip the one-at-a-time context run")
    ap.add_argument("--out", default=str(ROOT / "bench/results/generation.json"))
    args = ap.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from mimo.generate.openai_backend import OpenAIGenerator
    from mimo.generate.server import GenerationServer
    from mimo.generate.tiny_model import build_tiny_chat_model, count_parameters
    from mimo.generate.transformers_backend import TransformersGenerator

    texts, text_source = tokenizer_texts()
    with tempfile.TemporaryDirectory(prefix="bench_generation_") as tmp:
        t0 = time.perf_counter()
        model_dir = build_tiny_chat_model(tmp, texts=texts, vocab_size=args.vocab,
                                          hidden_size=args.hidden, num_layers=args.layers)
        n_params = count_parameters(model_dir)
        gen = TransformersGenerator(str(model_dir), device=args.device, batch_size=args.requests,
                                    ignore_eos=True)
        vocab = len(gen.tokenizer)
        print(f"[bench] model: {n_params / 1e6:.2f}M params, vocab {vocab}, hidden {args.hidden}, "
              f"{args.layers} layers, {gen.describe()['device']} (built in {time.perf_counter() - t0:.1f}s)",
              flush=True)
        requests = build_requests(args.requests, args.max_tokens)
        timed(gen, build_requests(4, 8))  # warm-up
        runs: dict[str, list[dict]] = {"transformers": [], "openai": [], "transformers_batch1": []}
        batch_sizes: list[int] = []
        identical = []
        with GenerationServer(gen, max_batch=args.requests) as server, \
                OpenAIGenerator(server.model_name, base_url=server.base_url,
                                concurrency=args.concurrency, max_retries=0) as client:
            timed(client, build_requests(4, 8))  # warm-up (connections, threads)
            server.stats.batch_sizes.clear()
            for rep in range(args.repeats):
                stats, direct = timed(gen, requests)
                runs["transformers"].append(stats)
                stats, remote = timed(client, requests)
                runs["openai"].append(stats)
                identical.append(sum(a.completions[0].text == b.completions[0].text
                                     for a, b in zip(direct, remote)))
                print(f"[bench] repeat {rep + 1}: transformers {runs['transformers'][-1]['tokens_per_s']:.0f} "
                      f"tok/s, openai {runs['openai'][-1]['tokens_per_s']:.0f} tok/s", flush=True)
            batch_sizes = list(server.stats.batch_sizes)
        if not args.no_batch1:
            single = TransformersGenerator("bench", model_obj=gen.hf_model, tokenizer_obj=gen.tokenizer,
                                           batch_size=1, ignore_eos=True)
            runs["transformers_batch1"].append(timed(single, requests)[0])
    rows = {name: summarize(r) for name, r in runs.items() if r}
    ratio = rows["openai"]["median_tokens_per_s"] / rows["transformers"]["median_tokens_per_s"]
    pair_ratios = [round(o["tokens_per_s"] / t["tokens_per_s"], 3)
                   for t, o in zip(runs["transformers"], runs["openai"])]
    print(f"\n{'path':<22}{'tokens/s (median)':>19}{'best':>10}{'seconds':>10}{'tokens':>9}")
    for name, row in rows.items():
        print(f"{name:<22}{row['median_tokens_per_s']:>19.0f}{row['best_tokens_per_s']:>10.0f}"
              f"{row['median_seconds']:>10.2f}{row['completion_tokens']:>9}")
    print(f"\nopenai / transformers throughput: {ratio:.2f} (ratio of medians); per repeat: {pair_ratios}")
    print(f"server batch sizes: {batch_sizes}; identical samples per repeat: {identical} of {args.requests}")
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "model": {"params": n_params, "vocab": vocab, "hidden": args.hidden, "layers": args.layers,
                  "tokenizer_texts": text_source},
        "workload": {"requests": args.requests, "max_tokens": args.max_tokens, "temperature": 1.0,
                     "ignore_eos": True, "concurrency": args.concurrency, "repeats": args.repeats},
        "results": rows, "openai_over_transformers": ratio, "openai_over_transformers_per_repeat": pair_ratios,
        "server_batch_sizes": batch_sizes,
        "identical_samples_per_repeat": identical, "machine": machine_info(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"[bench] wrote {args.out}")


if __name__ == "__main__":
    main()
