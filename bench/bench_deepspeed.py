"""Benchmark: our training loop with DeepSpeed ZeRO vs with plain torch, same model, data and batch;
on a GPU also model FLOPs utilization (MFU) in bf16.

    python bench/bench_deepspeed.py [--size tiny|0.5b|1b] [--nproc 1] [--zero 2] [--steps 12] \
        [--warmup 3] [--seq 256] [--micro 4] [--batch 16] [--peak-tflops auto] [--out FILE]

Each side is one ``torchrun`` of ``python -m mimo.train.pretrain`` on random-token packed rows
(``--seq`` tokens per row, a fresh model of ``--size``), so it exercises exactly the code the
pipeline runs. Throughput comes from the loop's own per-step metrics (``tokens_per_s``, logged every
step), with the first ``--warmup`` steps left out. MFU = achieved FLOP/s / peak, where a token costs
6 × (parameters except the input embedding) + 6 × the head again (reused by MTP) + 12 × layers ×
hidden × seq (attention) FLOPs for forward and backward. On CPU the peak is unknown and MFU is not
reported; the CPU run measures DeepSpeed's overhead against plain torch (fp32, torch AdamW, gloo).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # Qwen2-like shapes (about 0.5B and 1B with the MTP layer and a 32K vocabulary)
    "tiny": {"preset": "tiny"},
    "0.5b": {"preset": "tiny", "vocab_size": 32_000, "hidden_size": 1024, "intermediate_size": 2816,
             "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 64},
    "1b": {"preset": "tiny", "vocab_size": 32_000, "hidden_size": 1536, "intermediate_size": 4096,
           "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 96},
}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}


def make_data(root: Path, seq: int, rows: int, vocab: int) -> Path:
    """Random-token documents packed into ``rows`` rows of ``seq`` tokens."""
    import numpy as np

    from mimo.data.packing import pack_documents

    rng = np.random.default_rng(0)
    docs = [rng.integers(5, vocab, size=int(rng.integers(seq // 4, seq * 2))).tolist() for _ in range(rows)]
    pack_documents(docs, seq, 1, root / "data")
    return root / "data"


def run_side(name: str, args: argparse.Namespace, data: Path, work: Path, backend: dict) -> dict:
    """One torchrun of the training entry point; per-step tokens/s parsed from its metrics lines."""
    import yaml

    model = dict(SIZES[args.size])
    vocab = model.get("vocab_size", 4096)
    cfg = {"stage": f"bench-{name}", "data_dirs": [str(data)], "out_dir": str(work / name),
           "model": model, "stage_tokens": args.steps * args.batch * args.seq,
           "micro_batch_size": args.micro, "batch": {"start": args.batch, "end": args.batch, "warmup_tokens": 0},
           "lr": {"start_lr": 1e-4, "segments": [{"tokens": 1, "kind": "constant"}]},
           "checkpoint_every_steps": 10**9, "log_every_steps": 1, "eval_rows": 0, "seed": 0, **backend}
    if args.threads:
        cfg["threads"] = args.threads
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "mimo.train.pretrain", "--config", str(path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    rates = [json.loads(m)["tokens_per_s"] for m in re.findall(r"\] metrics (\{.*\})", proc.stdout)]
    summary = json.loads((work / name / "final/training_summary.json").read_text())
    timed = rates[args.warmup:]
    return {"median_tokens_per_s": statistics.median(timed), "steps_timed": len(timed),
            "parameters": summary["parameters"], "vocab": vocab, "final_loss_main": summary["final_loss_main"]}


def flops_per_token(model: dict, params: int, seq: int) -> float:
    """Forward + backward FLOPs per token: 6 × (parameters except the input embedding), plus the
    output head a second time (the MTP layer reuses it), plus attention scores (12 × layers × hidden
    × seq, the MTP layer counted as a layer)."""
    from mimo.model.presets import get_preset

    shape = {**get_preset("tiny").model_dump(), **model}
    v, h, layers = shape["vocab_size"], shape["hidden_size"], shape["num_hidden_layers"] + 1
    return 6 * (params - v * h) + 6 * v * h + 12 * layers * h * seq


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--nproc", type=int, default=1, help="ranks (GPUs, or CPU processes)")
    ap.add_argument("--zero", type=int, default=2, choices=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--peak-tflops", default="auto", help="peak bf16 TFLOP/s per GPU (auto: from the GPU name)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/deepspeed.json"))
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(tempfile.gettempdir()) / "mimo-torch-ext"))
    with tempfile.TemporaryDirectory(prefix="bench-ds-") as tmp:
        work = Path(tmp)
        vocab = SIZES[args.size].get("vocab_size", 4096)
        data = make_data(work, args.seq, rows=(args.steps + 2) * args.batch * 2, vocab=vocab)
        sides = {"torch": run_side("torch", args, data, work, {}),
                 "deepspeed": run_side("deepspeed", args, data, work,
                                       {"backend": "deepspeed", "deepspeed": {"zero_stage": args.zero}})}
    result = {"setup": {**vars(args), "gpu": gpu, "torch": torch.__version__}, **sides,
              "ratio_deepspeed_vs_torch": round(sides["deepspeed"]["median_tokens_per_s"]
                                                / sides["torch"]["median_tokens_per_s"], 3)}
    if gpu:
        peak = (next((v for k, v in PEAK_BF16_TFLOPS.items() if k in gpu), None) if args.peak_tflops == "auto"
                else float(args.peak_tflops))
        fpt = flops_per_token(SIZES[args.size], sides["deepspeed"]["parameters"], args.seq)
        achieved = fpt * sides["deepspeed"]["median_tokens_per_s"] / args.nproc / 1e12
        result["deepspeed"].update(tflops_per_gpu=round(achieved, 1), peak_tflops=peak,
                                   mfu=round(achieved / peak, 3) if peak else None)
    for name in ("torch", "deepspeed"):
        print(f"{name:<10} {sides[name]['median_tokens_per_s']:>10.1f} tok/s  params {sides[name]['parameters']:,}")
    print(json.dumps({k: v for k, v in result.items() if k not in ("torch", "deepspeed")}, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
