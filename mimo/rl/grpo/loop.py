"""The RL loop: rollouts from the seamless engine, the GRPO update, checkpoints, metrics.

Each iteration: draw problems (main pool / easy pool), collect ``batch_prompts`` valid groups with
:class:`~mimo.rl.rollout.SeamlessRolloutEngine` (dynamic sampling; naive when every engine feature
is off), feed every scored group to the easy pool, run :meth:`GRPOTrainer.step`, log metrics.
Generation uses the transformers backend on the *same* model object the trainer updates, so new
weights reach the generator after every step (in-process; vLLM would reload weights through
``load_weights``). Checkpoints use the pretraining protocol (atomic, ``latest``, ``COMPLETE``) with
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
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from mimo.rl.grpo.config import GRPOConfig

Reporter = Callable[[str, dict[str, Any]], None]


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
    rollout_backend: Literal["batch", "inflight", "vllm"] = "batch"
    vllm: dict[str, Any] = Field(default_factory=dict)
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


def _step_tasks(sampler: Any, by_id: dict[str, Any], num_generations: int, seed: int, limit: int,
                system_prompt: str | None = None) -> Iterator[Any]:
    """At most ``limit`` tasks drawn from ``sampler``, the k-th seeded ``seed + k * num_generations``."""
    from mimo.rl.rollout import tasks_from_problems

    for k in range(limit):
        task = next(tasks_from_problems([by_id[sampler.draw()]], num_generations, system_prompt))
        yield replace(task, seed=seed + k * num_generations)


def policy_weights(model: Any) -> dict[str, Any]:
    """The weights a separate rollout engine needs after an update (the MTP layers are frozen in RL)."""
    return {k: v for k, v in model.state_dict().items() if ".mtp_layers." not in k}


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919_993) % (1 << 31)


def save_rl_curves(history: list[dict], out_dir: Path, stage: str) -> Path | None:
    """``rl_curves.png``: reward mean and pass rate per step (steps with a skipped update marked, not
    drawn), and the rollout idle/waste fractions and the clip fraction."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mimo.rl.history import mark_skipped, series, skipped_steps

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for ax, keys, marker in ((a, ("reward_mean", "pass_rate"), "o"),
                             (b, ("idle_fraction", "waste_fraction", "clip_fraction_high"), ".")):
        for key in keys:
            if points := series(history, key):
                ax.plot(*zip(*points), marker=marker, label=key.replace("_", " "))
        ax.set_xlabel("step")
        ax.xaxis.get_major_locator().set_params(integer=True)
    mark_skipped(a, skipped_steps(history))
    a.set_title(f"{stage}: reward")
    b.set_title("rollout engine / clipping")
    for ax in (a, b):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    png = out_dir / "rl_curves.png"
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png


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
            "groups_scored": rm.get("groups_finished"), "generation_failures": rm.get("generation_failures")}


def _as_rng_state(s: Any) -> tuple:
    return (s[0], tuple(s[1]), s[2])


def _save_last_good(error: FloatingPointError, trainer: Any, step: int, before: tuple, state: Callable,
                    history: list[dict], model: Any, ckpt_root: Path, keep_last: int) -> str:
    """The error message of a non-finite step ``step + 1``; writes the checkpoint of step ``step``
    first when the weights are still those of that step (no update of the failing step applied)."""
    from mimo.train.checkpoint import (
        latest_checkpoint,
        restore_rng_state,
        save_checkpoint,
    )

    failing = step + 1
    latest = latest_checkpoint(ckpt_root)
    if trainer.updates_applied == 0:
        have = latest is not None and latest.name == f"step-{step:08d}"
        if not have:
            sampler_state, rng, trainer_rng = before
            restore_rng_state(rng)
            trainer.rng.setstate(trainer_rng)
            latest = save_checkpoint(ckpt_root, step, model, state(sampler_state, list(history)),
                                     keep_last=keep_last)
        return (f"step {failing}: {error}. The weights were not changed: checkpoint of the last good step "
                f"{step} at {latest}; rerun the same command to resume from it")
    where = f"{latest} (step {latest.name.split('-')[-1].lstrip('0') or 0})" if latest else "the initial model"
    return (f"step {failing}: {error}. {trainer.updates_applied} update(s) of this step were already applied; "
            f"rerun to resume from {where}")


def train_rl(cfg: RLTrainConfig, report: Reporter | None = None) -> dict[str, Any]:
    """Run ``cfg.grpo.steps`` iterations (resuming from the newest checkpoint); returns the summary."""
    from transformers import AutoTokenizer

    from mimo.generate.base import SamplingParams
    from mimo.generate.inflight_backend import InflightTransformersGenerator
    from mimo.generate.transformers_backend import TransformersGenerator
    from mimo.model.modeling_mimo import MiMoForCausalLM
    from mimo.rl.grpo.problems import load_problems
    from mimo.rl.grpo.sampling import ProblemSampler
    from mimo.rl.grpo.trainer import GRPOTrainer, RolloutGroup
    from mimo.rl.history import applied_update
    from mimo.rl.rollout import MiMoRewardFn, RolloutConfig, SeamlessRolloutEngine
    from mimo.train.checkpoint import (
        latest_checkpoint,
        load_trainer_state,
        restore_rng_state,
        rng_state,
        save_checkpoint,
    )

    report = report or (lambda event, payload: print(f"[{event}] {json.dumps(payload)}", flush=True))
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
    ckpt_root = out / "checkpoints"
    resume = latest_checkpoint(ckpt_root, warn=lambda message: report("warning", {"message": message}))
    source = resume or Path(cfg.init_from)
    if not (source / "config.json").exists():
        raise ValueError(f"{cfg.stage}: init_from {source} is not a saved model (no config.json)")
    model = MiMoForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(cfg.init_from)
    trainer = GRPOTrainer(model, g, pad_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    sampler = ProblemSampler(sorted(by_id), easy_pool_probability=g.easy_pool_probability, seed=g.seed)
    step, history = 0, []
    if resume is not None:
        state = load_trainer_state(resume)
        trainer.opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        step, history = state["step"], state["history"]
        if "trainer_rng" in state:
            trainer.rng.setstate(_as_rng_state(state["trainer_rng"]))
        restore_rng_state(state["rng"])
        report("log", {"message": f"resumed from {resume} at step {step}"})
    if step >= g.steps:
        report("log", {"message": f"nothing to train: {resume} already holds {step} of {g.steps} steps"})
    sampling = SamplingParams(temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_completion_length,
                              seed=g.seed)
    slots = g.num_generations * cfg.generation_batch_groups
    generator: Any
    if cfg.rollout_backend == "inflight":  # shares the policy: weights reach it in place after each update
        generator = InflightTransformersGenerator(
            cfg.init_from, model_obj=model, tokenizer_obj=tokenizer, sampling=sampling, max_sequences=slots)
    elif cfg.rollout_backend == "vllm":  # its own copy of the weights: synced after every update
        from mimo.generate.vllm_streaming import VLLMStreamingGenerator

        generator = VLLMStreamingGenerator(cfg.init_from, max_sequences=slots, **cfg.vllm)
        if step:  # resumed: vLLM loaded init_from, the policy is the checkpoint's
            generator.update_weights(policy_weights(model))
    else:
        generator = TransformersGenerator(cfg.init_from, model_obj=model, tokenizer_obj=tokenizer, batch_size=slots)
    # the update must not run while the decode thread still drops aborted rows (same parameters)
    hold = getattr(generator, "paused", contextlib.nullcontext)
    rcfg = RolloutConfig(continuous=cfg.continuous, async_reward=cfg.async_reward,
                         early_termination=cfg.early_termination, sampling=sampling,
                         micro_batch_groups=cfg.generation_batch_groups, reward_workers=cfg.reward_workers,
                         reward_timeout_s=cfg.reward_timeout_s, on_exhausted="partial")
    reward_fn = MiMoRewardFn(code_scheme=g.code_reward_scheme, allow_weak_isolation=cfg.allow_weak_isolation,
                             code_threads=cfg.code_threads, judge_url=cfg.judge_url, hang_s=cfg.reward_hang_s)

    def ckpt_state(sampler_state: dict, hist: list[dict]) -> dict[str, Any]:
        return {"optimizer": trainer.opt.state_dict(), "sampler": sampler_state, "history": hist,
                "trainer_rng": trainer.rng.getstate(), "config": cfg.model_dump()}

    with SeamlessRolloutEngine(generator, reward_fn, rcfg) as engine:
        engine.on_group_scored = lambda grp: sampler.record(grp.task.prompt_id, grp.scored)
        while step < g.steps:
            t0 = time.perf_counter()
            before = (sampler.state_dict(), rng_state(), trainer.rng.getstate())  # the last good step's state
            model.eval()
            # at most max_sampling_rounds x batch_prompts prompts per step: a step that cannot fill its
            # batch trains on the valid groups it found (or skips the update, reported), never stalls
            tasks = _step_tasks(sampler, by_id, g.num_generations, _step_seed(g.seed, step + 1),
                                g.batch_prompts * g.max_sampling_rounds, cfg.system_prompt)
            batch = engine.collect(tasks, g.batch_prompts)
            t_roll = time.perf_counter() - t0
            groups = [RolloutGroup(grp.task.prompt_id, generator.encode_chat(grp.task.messages),
                                   [list(s.token_ids or tokenizer(s.text, add_special_tokens=False)["input_ids"])
                                    for s in grp.samples], grp.rewards) for grp in batch.groups]
            metrics = _update_or_skip(groups, g)
            if metrics is None:
                try:
                    with hold():
                        metrics = applied_update(trainer.step(groups, inject_nan=cfg.fail_nan_at_step == step + 1))
                    if cfg.rollout_backend == "vllm":
                        t_sync = time.perf_counter()
                        generator.update_weights(policy_weights(model))
                        metrics["weight_sync_seconds"] = round(time.perf_counter() - t_sync, 3)
                except FloatingPointError as e:
                    raise FloatingPointError(_save_last_good(e, trainer, step, before, ckpt_state, history, model,
                                                             ckpt_root, cfg.keep_last)) from e
            else:
                report("log", {"message": _skip_message(step + 1, metrics, g.batch_prompts * g.max_sampling_rounds)})
            metrics["batch_complete"] = batch.complete
            step += 1
            row = {"step": step, **{k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()},
                   "rollout_seconds": round(t_roll, 2), "step_seconds": round(time.perf_counter() - t0, 2),
                   **_rollout_metrics(batch.metrics.to_dict()), "easy_pool_size": len(sampler.easy),
                   "main_pool_size": len(sampler.main)}
            history.append(row)
            report("metrics", {**row, "stage": cfg.stage, "progress": round(step / g.steps, 4)})
            if step % cfg.checkpoint_every_steps == 0 or step == g.steps:
                save_checkpoint(ckpt_root, step, model, ckpt_state(sampler.state_dict(), history),
                                keep_last=cfg.keep_last)
    generator.close()
    final = out / "final"
    tmp = out / f"final.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    summary = {"stage": cfg.stage, "steps": step, "init_from": cfg.init_from, "problem_files": cfg.problem_files,
               "final": history[-1] if history else {}, "easy_pool_size": len(sampler.easy),
               "grpo": g.model_dump()}
    (tmp / "training_summary.json").write_text(json.dumps(summary, indent=2))
    (tmp / "rl_history.json").write_text(json.dumps(history, indent=1))
    save_rl_curves(history, tmp, cfg.stage)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    report("log", {"message": f"{cfg.stage}: {step} steps -> {final}"})
    return {**summary, "final_dir": str(final)}
