"""RL checkpoints on one rank or sharded ones: the pretraining protocol (atomic, ``latest``,
``COMPLETE``) with the optimizer, the problem sampler, the trainer's shuffling RNG and the history.

Every method that gathers weights is collective (all trainer ranks call it); rank 0 writes. A
checkpoint holds whole weights and a whole optimizer state, keyed by parameter name when sharded.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mimo.rl.grpo.ranks import FullModel


def as_rng_state(s: Any) -> tuple:
    return (s[0], tuple(s[1]), s[2])


class RLCheckpointer:
    """Writes and restores the RL run's state (module docstring)."""

    def __init__(self, trainer: Any, root: Path, keep_last: int, config: dict[str, Any]):
        self.trainer, self.root, self.keep_last, self.config = trainer, root, keep_last, config

    @property
    def ranks(self) -> Any:
        return self.trainer.ranks

    def _model(self) -> Any:
        """What ``save_pretrained`` is called on (collective when sharded)."""
        model = self.trainer.model
        return FullModel(model, self.ranks.full_state_dict(model)) if self.ranks.world > 1 else model

    def save(self, step: int, sampler_state: dict, history: list[dict]) -> Path | None:
        """Collective: checkpoint ``step`` (rank 0 writes; the path there, ``None`` elsewhere)."""
        from mimo.train.checkpoint import save_checkpoint

        model = self._model()
        optimizer = self.ranks.optimizer_state(self.trainer.model, self.trainer.opt)
        if not self.ranks.is_main:
            return None
        state = {"optimizer": optimizer, "sampler": sampler_state, "history": history,
                 "trainer_rng": self.trainer.rng.getstate(), "config": self.config,
                 "trainer_ranks": self.ranks.world}
        return save_checkpoint(self.root, step, model, state, keep_last=self.keep_last)

    def restore(self, state: dict[str, Any], sampler: Any) -> tuple[int, list[dict]]:
        """Load a checkpoint's trainer state (weights come with the model); ``(step, history)``."""
        from mimo.train.checkpoint import restore_rng_state

        self.ranks.load_optimizer_state(self.trainer.model, self.trainer.opt, state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        if "trainer_rng" in state:
            self.trainer.rng.setstate(as_rng_state(state["trainer_rng"]))
        restore_rng_state(state["rng"])
        return state["step"], state["history"]

    def save_last_good(self, error: FloatingPointError, step: int, before: tuple, sampler: Any,
                       history: list[dict]) -> str:
        """Collective. The error message of a non-finite step ``step + 1``; writes the checkpoint of
        step ``step`` first when the weights are still those of that step (no update applied)."""
        from mimo.train.checkpoint import latest_checkpoint, restore_rng_state

        failing = step + 1
        latest = latest_checkpoint(self.root) if self.ranks.is_main else None
        if self.trainer.updates_applied == 0:
            have = latest is not None and latest.name == f"step-{step:08d}"
            if not self.ranks.broadcast(have):
                sampler_state, rng, trainer_rng = before
                restore_rng_state(rng)
                self.trainer.rng.setstate(trainer_rng)
                sampler.load_state_dict(sampler_state)
                latest = self.save(step, sampler_state, list(history))
            return (f"step {failing}: {error}. The weights were not changed: checkpoint of the last good step "
                    f"{step} at {latest}; rerun the same command to resume from it")
        where = f"{latest} (step {latest.name.split('-')[-1].lstrip('0') or 0})" if latest else "the initial model"
        return (f"step {failing}: {error}. {self.trainer.updates_applied} update(s) of this step were already "
                f"applied; rerun to resume from {where}")

    def write_final(self, out: Path, tokenizer: Any, summary: dict[str, Any], history: list[dict],
                    curves: Any) -> Path | None:
        """Collective: ``out/final`` (model, tokenizer, summary, history, curves), replaced atomically."""
        model = self._model()
        if not self.ranks.is_main:
            return None
        final = out / "final"
        tmp = out / f"final.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_summary.json").write_text(json.dumps(summary, indent=2))
        (tmp / "rl_history.json").write_text(json.dumps(history, indent=1))
        curves(history, tmp, summary["stage"])
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final
