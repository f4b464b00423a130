"""Benchmark: validation CE of the main head and each MTP layer, and MTP draft acceptance, after every
pretraining stage of a finished tiny run (stage 1, 2, 3, MTP expansion).

    python bench/bench_mtp.py [--state /tmp/st1] [--seq-len 256] [--max-docs 0] [--threads 2] \
        [--out bench/results/mtp.json]

Held-out text, tokenized with the run's tokenizer (no special tokens, ``<|endoftext|>`` after each
document, packed into rows of ``--seq-len`` with position resets, exactly like the training shards):

- ``math500``: the 500 MATH-500 problems + solutions (the decontamination target, never trained on);
- ``humaneval``: the 164 HumanEval prompts + canonical solutions (code the tiny corpus does not hold);
- ``own_tail``: the rows each checkpoint's training held out at the end of its own packed data (the
  ``eval_rows`` of its train config; the summary's ``val_loss_*`` come from these rows, though their
  documents may also occur earlier in the upsampled mixture).

The article-extraction ground truth is not used: those pages are the tiny crawl itself.

Definitions, at position ``i`` of a packed row ``x`` (teacher forcing: every input is the true text):

- ``ce_main``: mean cross-entropy of the main head at ``i`` on ``x[i+1]``; ``ce_mtp_k`` (k = 1, 2, 3):
  of MTP layer k at ``i`` (it reads ``x[<=i+k]``) on ``x[i+1+k]``. Means over every target that lies in
  the same document as ``i``; token-weighted over the whole set.
- ``accept_k``: MTP layer k's greedy draft at ``i`` (argmax of its logits, a guess for ``x[i+1+k]``)
  equals the main model's greedy token at ``i+k`` given the true prefix ``x[<=i+k]`` (what greedy
  speculative decoding would verify, if the text were the model's own greedy output). Over the
  positions where layer k's target is valid.
- ``accept_chain_k``: layers 1..k are all accepted at ``i`` (a draft only counts after its
  predecessors); ``drafts_per_step = sum_k accept_chain_k``: expected accepted draft tokens per
  main-model forward (tokens per forward = 1 + that).
- ``top1_main`` / ``top1_mtp_k``: greedy token equals the true next token / true ``x[i+1+k]``.
- references: ``accept_const_k``, the acceptance of the best constant draft (the most frequent main
  greedy token at those positions); ``ce_unigram``, the cross-entropy of the add-one unigram of the
  run's three packed stage shards on the main head's targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion")
DATA = ("pretrain_data_stage1", "pretrain_data_stage2", "pretrain_data_stage3")


def catalog(state: str) -> dict[str, dict]:
    """``asset_key -> {path, metadata}`` for the tokenizer, the packed stage data and the checkpoints."""
    import duckdb

    con = duckdb.connect(f"{state}/lake/_catalog/catalog.duckdb", read_only=True)
    keys = ("tokenizer", *DATA, *STAGES)
    rows = con.execute(f"SELECT asset_key, path, metadata FROM latest_artifacts WHERE asset_key IN "
                       f"({', '.join('?' * len(keys))})", list(keys)).fetchall()
    con.close()
    return {k: {"path": p, "metadata": json.loads(m) if m else {}} for k, p, m in rows}


def held_out_texts(shared: Path, max_docs: int) -> dict[str, list[str]]:
    """MATH-500 problem + solution and HumanEval prompt + canonical solution, in file order."""
    import gzip

    math = [json.loads(ln) for ln in (shared / "benchmarks/math500.jsonl").read_text().splitlines() if ln.strip()]
    with gzip.open(shared / "benchmarks/humaneval.jsonl.gz", "rt") as f:
        code = [json.loads(ln) for ln in f if ln.strip()]
    sets = {"math500": [r["problem"] + "\n\n" + r["solution"] for r in math],
            "humaneval": [r["prompt"] + r["canonical_solution"] for r in code]}
    return {k: v[:max_docs] if max_docs else v for k, v in sets.items()}


def pack_texts(texts: list[str], tok, seq_len: int, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(tokens, positions)`` packed like the training shards."""
    from mimo.data.packing import PackedDataset, pack_documents

    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    eos = tok.eos_token_id if eos is None or eos == tok.unk_token_id else eos
    pack_documents(tok(texts, add_special_tokens=False)["input_ids"], seq_len, eos, out)
    data = PackedDataset([out])
    return np.asarray(data.tokens[0], dtype=np.int64), np.asarray(data.positions[0], dtype=np.int64)


def tail_rows(data_dir: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The last ``rows`` rows of a packed shard (the training's held-out rows)."""
    from mimo.data.packing import PackedDataset

    data = PackedDataset([data_dir], holdout_rows=rows)
    tok, pos, _ = data.holdout_batch(0, rows)
    return tok, pos


def unigram_ce(data_dirs: list[str], vocab: int, tokens: np.ndarray, positions: np.ndarray) -> float:
    """Cross-entropy of the add-one unigram of ``data_dirs`` on the next-token targets of the rows."""
    from mimo.data.packing import PackedDataset, labels_from

    counts = np.zeros(vocab, dtype=np.int64)
    for d in data_dirs:
        counts += np.bincount(np.asarray(PackedDataset([d]).tokens[0]).ravel(), minlength=vocab)[:vocab]
    logp = np.log((counts + 1) / (counts.sum() + vocab))
    targets = labels_from(tokens, positions, 1)
    return round(float(-logp[targets[targets != -100]].mean()), 4)


class Tally:
    """Running sums of the metrics over batches."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.ce = np.zeros(layers + 1)
        self.n = np.zeros(layers + 1, dtype=np.int64)
        self.top1 = np.zeros(layers + 1, dtype=np.int64)
        self.accept = np.zeros(layers, dtype=np.int64)
        self.chain = np.zeros(layers, dtype=np.int64)
        self.verified: list[np.ndarray] = [np.zeros(0, dtype=np.int64) for _ in range(layers)]

    def add(self, logits, mtp_logits, ids, pos) -> None:
        from torch.nn import functional as F

        from mimo.model.modeling_mimo import IGNORE_INDEX, shift_left, shifted_targets

        heads = [logits, *mtp_logits]
        greedy = logits.argmax(-1)
        chain = None
        for h, head in enumerate(heads):  # h = 0: main head; h = k >= 1: MTP layer k
            target = shifted_targets(ids, 1 + h, pos)
            valid = target != IGNORE_INDEX
            self.ce[h] += float(F.cross_entropy(head.float().flatten(0, 1), target.flatten(),
                                                ignore_index=IGNORE_INDEX, reduction="sum"))
            self.n[h] += int(valid.sum())
            draft = head.argmax(-1)
            self.top1[h] += int(((draft == target) & valid).sum())
            if h == 0:
                continue
            ok = (draft == shift_left(greedy, h)) & valid
            chain = ok if chain is None else chain & ok
            self.accept[h - 1] += int(ok.sum())
            self.chain[h - 1] += int(chain.sum())
            counts = np.bincount(shift_left(greedy, h)[valid].numpy())
            old = self.verified[h - 1]
            size = max(len(old), len(counts))
            self.verified[h - 1] = np.pad(old, (0, size - len(old))) + np.pad(counts, (0, size - len(counts)))

    def result(self) -> dict:
        out = {"tokens": int(self.n[0]), "ce_main": round(self.ce[0] / self.n[0], 4),
               "top1_main": round(self.top1[0] / self.n[0], 4)}
        drafts = 0.0
        for k in range(1, self.layers + 1):
            n = max(int(self.n[k]), 1)
            out[f"ce_mtp_{k}"] = round(self.ce[k] / n, 4)
            out[f"top1_mtp_{k}"] = round(self.top1[k] / n, 4)
            out[f"accept_{k}"] = round(self.accept[k - 1] / n, 4)
            out[f"accept_chain_{k}"] = round(self.chain[k - 1] / n, 4)
            out[f"accept_const_{k}"] = round(int(self.verified[k - 1].max(initial=0)) / n, 4)
            drafts += self.chain[k - 1] / n
        if self.layers:
            out["drafts_per_step"] = round(drafts, 4)
        return out


def evaluate(model, tokens: np.ndarray, positions: np.ndarray, micro: int) -> dict:
    """All metrics of one model on one set of packed rows."""
    import torch

    tally = Tally(len(model.model.mtp_layers))
    with torch.no_grad():
        for start in range(0, len(tokens), micro):
            ids = torch.from_numpy(tokens[start:start + micro])
            pos = torch.from_numpy(positions[start:start + micro])
            out = model(input_ids=ids, position_ids=pos, output_mtp_logits=True, use_cache=False)
            tally.add(out.logits, out.mtp_logits or (), ids, pos)
    return tally.result()


def machine_info(threads: int) -> dict:
    import torch
    import transformers

    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "cpu": cpu, "cores": len(os.sched_getaffinity(0)),
            "torch_threads": threads}


def print_table(results: dict) -> None:
    cols = ["tokens", "ce_main", "ce_mtp_1", "ce_mtp_2", "ce_mtp_3", "top1_main", "top1_mtp_1", "accept_1",
            "accept_2", "accept_3", "accept_chain_3", "drafts_per_step", "accept_const_1"]
    print(f"{'checkpoint':<16} {'set':<10} " + " ".join(f"{c:>{len(c)}}" for c in cols))
    for stage, sets in results.items():
        for name, r in sets.items():
            cells = [f"{r.get(c, '-'):>{len(c)}}" for c in cols]
            print(f"{stage:<16} {name:<10} " + " ".join(cells))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default="/tmp/st1", help="state dir of a finished tiny run")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared/ dir (benchmarks)")
    ap.add_argument("--seq-len", type=int, default=256, help="row length (the tiny run's stage 1-2 context)")
    ap.add_argument("--max-docs", type=int, default=0, help="documents per held-out set (0 = all)")
    ap.add_argument("--micro", type=int, default=8, help="rows per forward")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench/results/mtp.json"))
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    import mimo.model  # noqa: F401 - registers MiMo with the Auto classes
    from mimo.model.modeling_mimo import MiMoForCausalLM

    torch.set_num_threads(args.threads)
    arts = catalog(args.state)
    missing = [k for k in ("tokenizer", *DATA, *STAGES) if k not in arts]
    if missing:
        print(f"error: {args.state} has no {', '.join(missing)} artifact(s); run the tiny pipeline first",
              file=sys.stderr)
        return 1
    tok = AutoTokenizer.from_pretrained(arts["tokenizer"]["path"])
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-mtp-") as tmp:
        for name, texts in held_out_texts(Path(args.shared), args.max_docs).items():
            sets[name] = pack_texts(texts, tok, args.seq_len, Path(tmp) / name)
    train_dirs = [arts[d]["path"] for d in DATA]
    reference = {name: {"ce_unigram": unigram_ce(train_dirs, len(tok), t, p)} for name, (t, p) in sets.items()}
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    for stage in STAGES:
        model_dir = Path(arts[stage]["path"]) / "model"
        model = MiMoForCausalLM.from_pretrained(model_dir).eval()
        summary = json.loads((model_dir / "training_summary.json").read_text())
        eval_rows = arts[stage]["metadata"].get("train_config", {}).get("eval_rows", 16)
        own = {"own_tail": tail_rows(summary["data_dirs"][0], eval_rows)} if eval_rows else {}
        results[stage] = {name: evaluate(model, t, p, args.micro) for name, (t, p) in {**sets, **own}.items()}
        if "own_tail" in results[stage]:
            results[stage]["own_tail"]["summary_val_loss_main"] = summary.get("val_loss_main")
        print(f"[bench] {stage}: {len(model.model.mtp_layers)} MTP layer(s), "
              f"{summary['global_tokens_end']} global tokens", flush=True)
    print_table(results)
    print("unigram reference (add-one, stage 1-3 shards): "
          + ", ".join(f"{k} CE {v['ce_unigram']}" for k, v in reference.items()))
    out = {"setup": {"state": args.state, "seq_len": args.seq_len, "max_docs": args.max_docs,
                     "rows": {k: len(v[0]) for k, v in sets.items()}, "checkpoints": {
                         s: str(Path(arts[s]["path"]) / "model") for s in STAGES}},
           "results": results, "reference": reference, "seconds": round(time.perf_counter() - t0, 1), "machine": machine_info(args.threads)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
