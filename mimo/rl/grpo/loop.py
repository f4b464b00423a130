"""The RL loop: rollouts from the seamless engine, the GRPO update, checkpoints, metrics.

Roles: trainer rank 0 runs the rollout side (:mod:`mimo.rl.grpo.rollout_side`: a pool of engine
processes, or a generator in this process) under :class:`~mimo.rl.rollout.SeamlessRolloutEngine`
with its reward pool; every trainer rank (:mod:`mimo.rl.grpo.ranks`) takes its share of the update;
new weights go back to the engines after each update; :mod:`mimo.rl.grpo.checkpoints` writes the
state. Each iteration: draw problems (main pool / easy pool), collect ``batch_prompts`` valid groups
(dynamic sampling; naive when every engine feature is off), feed every scored group to the easy
pool, broadcast the groups to the ranks, run :meth:`GRPOTrainer.step`, push weights, log metrics.
A failure on the rollout side is broadcast, so no rank waits in a collective. Checkpoints use the pretraining protocol (atomic, ``latest``, ``COMPLETE``) with
the optimizer, the problem sampler, the trainer's shuffling RNG and the history; a rerun resumes
from the newest one. Each task of step ``s`` gets its own sampling seed (from ``grpo.seed`` and
``s``), so a naive-mode run resumed from a checkpoint reproduces an uninterrupted one.

A non-finite loss stops the run with a clear error; when the failing step had not changed the
weights yet (the failure came before its first optimizer update), the state of the last good step
is written as a checkpoint first, so a rerun resumes exactly there. ``fail_nan_at_step`` injects
such a failure (test hook).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from mimo.rl.engines.config import EnginesConfig
from mimo.rl.grpo.config import GRPOConfig
from mimo.train.checkpoint import rng_state
from mimo.train.stall import StallWatchdog

Reporter = Callable[[str, dict[str, Any]], None]
TIMING_KEYS = ("update_seconds", "weight_sync_seconds", "weight_sync_engine_seconds_max", "weight_sync_mb")


class RLTrainConfig(BaseModel):
    """One RL run (RL-Zero from the base model, RL from the SFT model)."""

    model_config = ConfigDict(extra="forbid")
    stage: str = "rl"
    init_from: str  # model directory (base or SFT checkpoint)
    problem_files: list[str]  # parquet files of curated Problem records
    out_dir: str
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    continuous: bool = True
    async_reward: bool = True
    early_termination: bool = True
    generation_batch_groups: int = Field(4, ge=1)  # groups per generate_batch call (inflight: groups of slots)
    # "batch": batch-synchronous transformers calls; "inflight": per-sequence scheduling with abort
    # (mimo.generate.inflight_backend; sampling must be one temperature/top-p, as in GRPO); "vllm":
    # vLLM's engine in this process (mimo.generate.vllm_streaming), the policy's weights pushed to it
    # after every update (collective_rpc + reload_weights); ``vllm`` holds its engine arguments
    # "engines": a pool of engine processes (mimo.rl.engines) fed by the seamless engine, weights
    # pushed over torch.distributed after every update; ``engines`` holds its settings
    rollout_backend: Literal["batch", "inflight", "vllm", "engines"] = "batch"
    vllm: dict[str, Any] = Field(default_factory=dict)
    engines: EnginesConfig = Field(default_factory=EnginesConfig)
    bf16: bool = False  # sharded trainer ranks on GPU: bf16 compute, fp32 gradient reductions
    reward_workers: int = Field(2, ge=1)
    # a group's deadline: this margin plus, for code, every test at its own time limit (RewardPool)
    reward_timeout_s: float = Field(30.0, gt=0)
    code_threads: int = Field(1, ge=1)  # programs of one code group judged at a time
    judge_url: str | None = None  # code rewards on the judge service (``mimo reward serve``); token: MIMO_JUDGE_TOKEN
    checkpoint_every_steps: int = Field(5, ge=1)
    keep_last: int = Field(2, ge=1)
    threads: int | None = None
    allow_weak_isolation: bool = False
    system_prompt: str | None = None  # None: the SFT solve prompt's system message; "" drops it
    fail_nan_at_step: int | None = Field(None, ge=1)  # test hook: that step's loss is made NaN
    reward_hang_s: float = Field(0.0, ge=0)  # test hook: every reward call sleeps this long first
    kill_last_rank_at_step: int | None = Field(None, ge=1)  # test hook: the last trainer rank dies in that update
    # every thread's stack goes to the log when a step has not ended after this long (0: off)
    stall_dump_s: float = Field(600.0, ge=0)


def _step_tasks(sampler: Any, by_id: dict[str, Any], num_generations: int, seed: int, limit: int,
                system_prompt: str | None = None) -> Iterator[Any]:
    """At most ``limit`` tasks drawn from ``sampler``, the k-th seeded ``seed + k * num_generations``."""
    from mimo.rl.rollout import tasks_from_problems

    for k in range(limit):
        task = next(tasks_from_problems([by_id[sampler.draw()]], num_generations, system_prompt))
        yield replace(task, seed=seed + k * num_generations)


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919_993) % (1 << 31)


def _update_or_skip(groups: list[Any], g: GRPOConfig) -> dict[str, Any] | None:
    """The update part of a step's row when the step cannot train (``None`` when it can): no
    informative group, or valid groups whose samples masking leaves nothing to train on."""
    from mimo.rl.grpo.trainer import flatten_groups
    from mimo.rl.history import (
        NO_INFORMATIVE_GROUP,
        NO_TRAINABLE_SAMPLE,
        skipped_update,
    )

    if not groups:
        return skipped_update(NO_INFORMATIVE_GROUP)
    samples, masked = flatten_groups(groups, g)
    return None if samples else skipped_update(NO_TRAINABLE_SAMPLE, len(groups), masked)


def _skip_message(step: int, update: dict[str, Any], prompts: int) -> str:
    """The log line of a step whose update was skipped."""
    from mimo.rl.history import NO_INFORMATIVE_GROUP

    if update["skip_reason"] == NO_INFORMATIVE_GROUP:
        return f"step {step}: no informative group in {prompts} prompts; update skipped"
    return (f"step {step}: no trainable sample in {update['groups']} valid group(s) "
            f"({update['masked_samples']} samples masked); update skipped")


def _rollout_metrics(rm: dict[str, Any]) -> dict[str, Any]:
    """The rollout part of a step's row; pass rate and reward mean ``None`` when nothing was scored."""
    scored = bool(rm.get("scored_samples"))
    return {"idle_fraction": rm.get("idle_fraction"), "waste_fraction": rm.get("waste_fraction"),
            "valid_groups": rm.get("valid_groups"), "reward_failures": rm.get("reward_failures"),
            "rollout_pass_rate": rm.get("pass_rate") if scored else None,
            "rollout_reward_mean": rm.get("reward_mean") if scored else None,
            "groups_scored": rm.get("groups_finished"), "generation_failures": rm.get("generation_failures"),
            "completion_tokens": rm.get("completion_tokens"), "samples_generated": rm.get("samples_generated")}




def _quiet(event: str, payload: dict[str, Any]) -> None:
    """Reporter of trainer ranks other than 0: warnings only (rank 0 reports the run)."""
    if event == "warning":
        print(f"[warning] {json.dumps(payload)}", flush=True)


def train_rl(cfg: RLTrainConfig, report: Reporter | None = None) -> dict[str, Any]:
    """Run ``cfg.grpo.steps`` iterations (resuming from the newest checkpoint); returns the summary.
    Under torchrun with several processes, each is a trainer rank (:mod:`mimo.rl.grpo.ranks`)."""
    from mimo.rl.grpo.ranks import TrainerRanks
    from mimo.train.distributed import init_distributed, shutdown

    report = report or (lambda event, payload: print(f"[{event}] {json.dumps(payload)}", flush=True))
    ranks = TrainerRanks(init_distributed())
    try:
        return _train(cfg, ranks, report if ranks.is_main else _quiet)
    finally:
        shutdown(ranks.ctx)


def _train(cfg: RLTrainConfig, ranks: Any, report: Reporter) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from mimo.generate.base import SamplingParams
    from mimo.model.modeling_mimo import MiMoForCausalLM
    from mimo.rl.grpo.checkpoints import RLCheckpointer
    from mimo.rl.grpo.curves import save_rl_curves
    from mimo.rl.grpo.problems import load_problems
    from mimo.rl.grpo.rollout_side import open_rollout_side
    from mimo.rl.grpo.sampling import ProblemSampler
    from mimo.rl.grpo.trainer import GRPOTrainer
    from mimo.train.checkpoint import latest_checkpoint, load_trainer_state

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    g = cfg.grpo
    random.seed(g.seed)
    np.random.seed(g.seed)
    torch.manual_seed(g.seed)
    problems, dropped = load_problems(cfg.problem_files)
    if dropped:
        report("log", {"message": f"{cfg.stage}: dropped unusable problems {dropped}; {len(problems)} left"})
    by_id = {p.id: p for p in problems}
    out = Path(cfg.out_dir)
    resume = latest_checkpoint(out / "checkpoints", warn=lambda message: report("warning", {"message": message}))
    source = resume or Path(cfg.init_from)
    if not (source / "config.json").exists():
        raise ValueError(f"{cfg.stage}: init_from {source} is not a saved model (no config.json)")
    model = MiMoForCausalLM.from_pretrained(source).to(ranks.ctx.device)
    tokenizer = AutoTokenizer.from_pretrained(cfg.init_from)
    trainer = GRPOTrainer(model, g, pad_id=tokenizer.pad_token_id or tokenizer.eos_token_id, ranks=ranks,
                          bf16=cfg.bf16)
    if ranks.world > 1:
        report("log", {"message": f"{cfg.stage}: {ranks.world} trainer ranks (FSDP2, {ranks.ctx.device})"})
    sampler = ProblemSampler(sorted(by_id), easy_pool_probability=g.easy_pool_probability, seed=g.seed)
    ckpt = RLCheckpointer(trainer, out / "checkpoints", cfg.keep_last, cfg.model_dump())
    step, history = 0, []
    if resume is not None:
        step, history = ckpt.restore(load_trainer_state(resume), sampler)
        report("log", {"message": f"resumed from {resume} at step {step}"})
    if step >= g.steps:
        report("log", {"message": f"nothing to train: {resume} already holds {step} of {g.steps} steps"})
    sampling = SamplingParams(temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_completion_length,
                              seed=g.seed)
    pushes = cfg.rollout_backend in ("engines", "vllm")
    with contextlib.ExitStack() as stack:
        watchdog = stack.enter_context(StallWatchdog(cfg.stall_dump_s))
        side = rollout = None
        if ranks.is_main:
            side = open_rollout_side(cfg, trainer.model, tokenizer, sampling, report)
            stack.callback(side.close)
            rollout = stack.enter_context(_rollout_role(cfg, side, sampler, sampling))
        if pushes and step:  # resumed: the engines loaded init_from, the policy is the checkpoint's
            weights = ranks.full_state_dict(trainer.model)
            if side is not None:
                side.push(weights)
        while step < g.steps:
            t0 = time.perf_counter()
            before = (sampler.state_dict(), rng_state(), trainer.rng.getstate())  # the last good step's state
            trainer.model.eval()
            sent = None
            if rollout is not None:
                try:
                    sent = ("step", *_collect(cfg, rollout, side, sampler, by_id, step, tokenizer))
                except Exception as e:
                    ranks.broadcast(("error", f"{type(e).__name__}: {e}"))
                    raise
            kind, *payload = ranks.broadcast(sent)
            if kind == "error":
                raise RuntimeError(f"rollout side (trainer rank 0) failed: {payload[0]}")
            groups, rollout_row, batch_complete = payload
            metrics = _update_or_skip(groups, g)
            if metrics is None:
                metrics = _update(cfg, trainer, ckpt, side, groups, step, before, sampler, history)
            else:
                report("log", {"message": _skip_message(step + 1, metrics, g.batch_prompts * g.max_sampling_rounds)})
            metrics["batch_complete"] = batch_complete
            for key in TIMING_KEYS:  # one row shape, whether the update ran and whatever the backend
                metrics.setdefault(key, None)
            step += 1
            row = {"step": step, **{k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()},
                   **rollout_row, "step_seconds": round(time.perf_counter() - t0, 2),
                   "easy_pool_size": len(sampler.easy), "main_pool_size": len(sampler.main)}
            if side is not None:
                row.update(side.stats())
            history.append(row)
            report("metrics", {**row, "stage": cfg.stage, "progress": round(step / g.steps, 4)})
            if step % cfg.checkpoint_every_steps == 0 or step == g.steps:
                ckpt.save(step, sampler.state_dict(), history)
            watchdog.beat()
    summary = {"stage": cfg.stage, "steps": step, "init_from": cfg.init_from, "problem_files": cfg.problem_files,
               "final": history[-1] if history else {}, "easy_pool_size": len(sampler.easy),
               "grpo": g.model_dump(), "trainer_ranks": ranks.world,
               "rollout_backend": cfg.rollout_backend}
    final = ckpt.write_final(out, tokenizer, summary, history, save_rl_curves)
    report("log", {"message": f"{cfg.stage}: {step} steps -> {final}"})
    return {**summary, "final_dir": str(final)}


@contextlib.contextmanager
def _rollout_role(cfg: RLTrainConfig, side: Any, sampler: Any, sampling: Any) -> Iterator[Any]:
    """The seamless rollout engine over the rollout side, with its reward pool (rank 0)."""
    from mimo.rl.rollout import MiMoRewardFn, RolloutConfig, SeamlessRolloutEngine

    g = cfg.grpo
    rcfg = RolloutConfig(continuous=cfg.continuous, async_reward=cfg.async_reward,
                         early_termination=cfg.early_termination, sampling=sampling,
                         micro_batch_groups=cfg.generation_batch_groups, reward_workers=cfg.reward_workers,
                         reward_timeout_s=cfg.reward_timeout_s, on_exhausted="partial",
                         dynamic_sampling=g.dynamic_sampling)
    reward_fn = MiMoRewardFn(code_scheme=g.code_reward_scheme, allow_weak_isolation=cfg.allow_weak_isolation,
                             code_threads=cfg.code_threads, judge_url=cfg.judge_url, hang_s=cfg.reward_hang_s)
    with SeamlessRolloutEngine(side.generator, reward_fn, rcfg) as engine:
        engine.on_group_scored = lambda grp: sampler.record(grp.task.prompt_id, grp.scored)
        yield engine


def _collect(cfg: RLTrainConfig, engine: Any, side: Any, sampler: Any, by_id: dict[str, Any], step: int,
             tokenizer: Any) -> tuple[list[Any], dict[str, Any], bool]:
    """One step's rollouts (rank 0): the scored groups, the rollout part of the row, whether full."""
    from mimo.rl.grpo.trainer import RolloutGroup

    g = cfg.grpo
    t0 = time.perf_counter()
    # at most max_sampling_rounds x batch_prompts prompts per step: a step that cannot fill its batch
    # trains on the valid groups it found (or skips the update, reported), never stalls
    tasks = _step_tasks(sampler, by_id, g.num_generations, _step_seed(g.seed, step + 1),
                        g.batch_prompts * g.max_sampling_rounds, cfg.system_prompt)
    if cfg.rollout_backend == "engines" and cfg.engines.kill_engine_at_step == step + 1:
        side.generator.kill_engine_later(0, delay_s=0.05)
    batch = engine.collect(tasks, g.batch_prompts)
    if hasattr(side.generator, "check_alive"):
        side.generator.check_alive()
    encode = side.generator.encode_chat
    groups = [RolloutGroup(grp.task.prompt_id, encode(grp.task.messages),
                           [list(s.token_ids or tokenizer(s.text, add_special_tokens=False)["input_ids"])
                            for s in grp.samples], grp.rewards) for grp in batch.groups]
    row = {"rollout_seconds": round(time.perf_counter() - t0, 2), **_rollout_metrics(batch.metrics.to_dict())}
    return groups, row, batch.complete


def _update(cfg: RLTrainConfig, trainer: Any, ckpt: Any, side: Any, groups: list[Any], step: int, before: tuple,
            sampler: Any, history: list[dict]) -> dict[str, Any]:
    """The GRPO update on every rank, then the new weights to the rollout side; the update's metrics."""
    from mimo.rl.history import applied_update

    t0 = time.perf_counter()
    if cfg.kill_last_rank_at_step == step + 1 and trainer.ranks.rank == trainer.ranks.world - 1:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)  # what a lost node looks like to the other ranks
    try:
        with side.hold() if side is not None else contextlib.nullcontext():
            metrics = applied_update(trainer.step(groups, inject_nan=cfg.fail_nan_at_step == step + 1))
    except FloatingPointError as e:
        raise FloatingPointError(ckpt.save_last_good(e, step, before, sampler, history)) from e
    metrics["update_seconds"] = round(time.perf_counter() - t0, 3)
    if cfg.rollout_backend in ("engines", "vllm"):
        weights = trainer.ranks.full_state_dict(trainer.model)  # collective
        if side is not None:
            metrics.update(side.push(weights))
    return metrics
