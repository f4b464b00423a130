"""The training loop shared by pretraining stages, MTP expansion and SFT.

Token-based schedules (LR, batch warm-up, MTP weight) over global tokens; packed rows with
document-boundary position resets (the model builds the block-causal mask and never predicts across
documents); atomic checkpoints with optimizer, data position and RNG states; bit-identical resume on
CPU; metrics to Dagster Pipes (a no-op outside Dagster) and a loss-curve plot with the checkpoint.
Throughput (``tokens_per_s``) goes only to the reported metrics and :attr:`TrainResult.throughput`:
the files of the final model (loss curve, summary) hold no wall-clock values, so the same seed, data
and config give the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimo.data.packing import PackedDataset
from mimo.train.checkpoint import latest_checkpoint, load_trainer_state, restore_rng_state, save_checkpoint, write_error
from mimo.train.config import TrainConfig
from mimo.train.curves import save_curves
from mimo.train.distributed import DistContext, barrier, init_distributed, mean_across_ranks, shutdown
from mimo.train.model_init import build_model, trainable_parameters
from mimo.train.steppers import make_stepper

Reporter = Callable[[str, dict[str, Any]], None]  # (event, payload): "log" / "metrics"


@dataclass
class TrainResult:
    """Where the final model is and what the stage did."""

    final_dir: Path
    steps: int
    tokens: int
    history: list[dict] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)  # this process's wall clock: not in any file


def _batch_tensors(data: PackedDataset, n: int, rank: int = 0, world: int = 1,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """This rank's slice of the next global micro-batch: input ids, position ids and labels (-100
    where the loss mask excludes a target). Every rank reads the same rows, so reader states agree."""
    tokens, positions, mask = data.next_batch(n * world)
    tokens, positions = tokens[rank * n:(rank + 1) * n], positions[rank * n:(rank + 1) * n]
    mask = None if mask is None else mask[rank * n:(rank + 1) * n]
    ids = torch.from_numpy(tokens)
    labels = ids.clone()
    if mask is not None:
        labels[~torch.from_numpy(mask)] = -100
    return ids, torch.from_numpy(positions), labels


@torch.no_grad()
def evaluate(model: Any, data: PackedDataset, rows: int, micro: int) -> dict[str, float]:
    """Mean main and per-layer MTP cross-entropy on the held-out rows."""
    if rows == 0 or not data.holdout:
        return {}
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for start in range(0, len(data.holdout), micro):
        tok, pos, mask = data.holdout_batch(start, micro)
        labels = torch.from_numpy(tok).clone()
        if mask is not None:
            labels[~torch.from_numpy(mask)] = -100
        out = model(input_ids=torch.from_numpy(tok), position_ids=torch.from_numpy(pos), labels=labels,
                    mtp_loss_weight=1.0)
        sums["val_loss_main"] = sums.get("val_loss_main", 0.0) + float(out.main_loss)
        for k, l in enumerate(out.mtp_losses or ()):
            sums[f"val_loss_mtp_{k + 1}"] = sums.get(f"val_loss_mtp_{k + 1}", 0.0) + float(l)
        count += 1
    model.train()
    return {k: round(v / count, 4) for k, v in sums.items()}


def train(cfg: TrainConfig, report: Reporter | None = None) -> TrainResult:
    """Train one stage to ``cfg.stage_tokens`` tokens, resuming from the newest complete checkpoint."""
    report = report or (lambda event, payload: print(f"[{event}] {json.dumps(payload)}", flush=True))
    ctx = init_distributed()
    if not ctx.is_main:
        report = lambda event, payload: None  # noqa: E731 - only rank 0 talks
    try:
        return _train(cfg, report, ctx)
    finally:
        shutdown(ctx)


def _train(cfg: TrainConfig, report: Reporter, ctx: DistContext) -> TrainResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    out_dir = Path(cfg.out_dir)
    ckpt_root = out_dir / "checkpoints"
    data = PackedDataset(cfg.data_dirs, seed=cfg.seed, holdout_rows=cfg.eval_rows)
    resume = latest_checkpoint(ckpt_root, warn=lambda message: report("warning", {"message": message}))
    model = build_model(cfg, resume)
    params = trainable_parameters(model, cfg)
    stepper = make_stepper(model, params, cfg, ctx)
    if cfg.backend == "deepspeed":
        ds = stepper.ds_config
        report("log", {"message": f"deepspeed: ZeRO stage {ds['zero_optimization'].get('stage', 0)}, "
                                  f"bf16 {ds.get('bf16', {}).get('enabled', False)}, device {ctx.device}"})
    if ctx.enabled:
        report("log", {"message": f"data parallel ({cfg.backend}): world size {ctx.world_size}"})
        print(f"data parallel ({cfg.backend}): world size {ctx.world_size}", flush=True)
    step, tokens_done, history, resume_step = 0, 0, [], -1
    if resume is not None:
        state = load_trainer_state(resume)
        stepper.load(resume, state)
        data.load_state_dict(state["data"])
        step, tokens_done, history = state["step"], state["tokens_done"], state["history"]
        resume_step = step
        restore_rng_state(state["rng"])
        report("log", {"message": f"resumed from {resume} at step {step}, {tokens_done} tokens"})
    if tokens_done >= cfg.stage_tokens:
        report("log", {"message": f"nothing to train: {resume} already holds {tokens_done} of "
                                  f"{cfg.stage_tokens} tokens for {cfg.stage}; writing the final model"})
    micro, seq_len = cfg.micro_batch_size, data.seq_len
    model.train()
    t_start, tokens_start = time.perf_counter(), tokens_done
    t_last, tokens_last = t_start, tokens_done
    while tokens_done < cfg.stage_tokens:
        global_tokens = cfg.tokens_offset + tokens_done
        batch = cfg.batch.batch_at(global_tokens, multiple_of=micro * ctx.world_size)
        lr = cfg.lr.lr_at(global_tokens)
        lam = cfg.mtp_weight.value_at(global_tokens)
        stepper.begin_step(batch, lr)
        main_sum, mtp_sums, accum = 0.0, [], stepper.micro_batches
        for i in range(accum):
            ids, pos, labels = _batch_tensors(data, micro, ctx.rank, ctx.world_size)
            out = stepper.micro_step(i, input_ids=ids, position_ids=pos, labels=labels,
                                     mtp_loss_weight=lam)
            main_sum += out.main_loss.item() / accum
            for k, l in enumerate(out.mtp_losses or ()):
                if len(mtp_sums) <= k:
                    mtp_sums.append(0.0)
                mtp_sums[k] += l.item() / accum
        main_sum = mean_across_ranks(main_sum, ctx)
        mtp_sums = [mean_across_ranks(v, ctx) for v in mtp_sums]
        grad_norm = stepper.finish_step()
        if not math.isfinite(main_sum) or not math.isfinite(grad_norm):
            raise FloatingPointError(f"{cfg.stage}: non-finite loss/grad at step {step} (loss {main_sum}, grad {grad_norm})")
        step += 1
        tokens_done += batch * seq_len
        row = {"step": step, "tokens": cfg.tokens_offset + tokens_done, "lr": lr, "batch": batch,
               "mtp_weight": lam, "loss_main": round(main_sum, 4), "grad_norm": round(grad_norm, 4)}
        row.update({f"loss_mtp_{k + 1}": round(v, 4) for k, v in enumerate(mtp_sums)})
        history.append(row)
        if step % cfg.log_every_steps == 0 or tokens_done >= cfg.stage_tokens:
            now = time.perf_counter()
            rate = round((tokens_done - tokens_last) / max(now - t_last, 1e-9), 1)
            t_last, tokens_last = now, tokens_done
            report("metrics", {**row, "tokens_per_s": rate, "stage": cfg.stage,
                               "progress": round(min(1.0, tokens_done / cfg.stage_tokens), 4)})
        if step % cfg.checkpoint_every_steps == 0 and tokens_done < cfg.stage_tokens:
            _checkpoint(ckpt_root, step, model, stepper, data, tokens_done, history, cfg, ctx)
    if step > resume_step:
        _checkpoint(ckpt_root, step, model, stepper, data, tokens_done, history, cfg, ctx)
    throughput = _throughput(tokens_done - tokens_start, time.perf_counter() - t_start)
    if not ctx.is_main:
        barrier(ctx)
        return TrainResult(out_dir / "final", step, tokens_done, history, {}, throughput)
    val = evaluate(model, data, cfg.eval_rows, micro)
    final = _write_final(out_dir, model, cfg, step, tokens_done, history, val)
    rate = f" at {throughput['tokens_per_s']} tokens/s" if throughput else ""
    report("log", {"message": f"{cfg.stage}: {step} steps, {tokens_done} tokens{rate} -> {final}"})
    barrier(ctx)
    summary = json.loads((final / "training_summary.json").read_text())
    # the "done" message carries the throughput to the asset (metadata), never the files
    return TrainResult(final, step, tokens_done, history, {**summary, "throughput": throughput}, throughput)


def _throughput(tokens: int, seconds: float) -> dict[str, float]:
    """Tokens trained by this process and their wall time (empty when nothing was trained)."""
    if tokens <= 0:
        return {}
    return {"train_seconds": round(seconds, 2), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1)}


def _checkpoint(root: Path, step: int, model: Any, stepper: Any, data: PackedDataset, tokens_done: int,
                history: list[dict], cfg: TrainConfig, ctx: DistContext) -> None:
    """Collective: the stepper stages its part on every rank, rank 0 completes the checkpoint."""
    staged = stepper.stage_checkpoint(root, step)
    if ctx.is_main:
        save_checkpoint(root, step, model, {"optimizer": stepper.optimizer_state(), "data": data.state_dict(),
                                            "tokens_done": tokens_done, "history": history,
                                            "config": cfg.model_dump()}, keep_last=cfg.keep_last, staged=staged)
    barrier(ctx)


def _write_final(out_dir: Path, model: Any, cfg: TrainConfig, steps: int, tokens: int, history: list[dict],
                 val: dict[str, float]) -> Path:
    """``<out_dir>/final``: model (+ tokenizer), summary, loss curve (written aside, then renamed)."""
    final = out_dir / "final"
    tmp = out_dir / f"final.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        if cfg.tokenizer:
            from transformers import AutoTokenizer

            AutoTokenizer.from_pretrained(cfg.tokenizer).save_pretrained(tmp)
        _write_summary(tmp, model, cfg, steps, tokens, history, val)
    except (OSError, RuntimeError) as e:  # disk full, I/O error: no half-written final model
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(e, out_dir, f"final model {final} was not written") from e
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _write_summary(tmp: Path, model: Any, cfg: TrainConfig, steps: int, tokens: int, history: list[dict],
                   val: dict[str, float]) -> None:
    last = history[-1] if history else {}
    summary = {"stage": cfg.stage, "steps": steps, "stage_tokens_trained": tokens,
               "global_tokens_end": cfg.tokens_offset + tokens, "final_loss_main": last.get("loss_main"),
               **{k: v for k, v in last.items() if k.startswith("loss_mtp")}, **val,
               "parameters": sum(p.numel() for p in model.parameters()),
               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "init_from": cfg.init_from, "data_dirs": cfg.data_dirs}
    (tmp / "training_summary.json").write_text(json.dumps(summary, indent=2))
    save_curves(history, tmp, f"{cfg.stage}: loss per step")
