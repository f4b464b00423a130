"""Build the model a stage trains: fresh from a preset, from the previous stage, or from a resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mimo.train.config import TrainConfig


def _apply_overrides(config: Any, overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if key == "rope_theta":  # transformers 5 keeps it in rope_parameters
            config.rope_parameters = {**(getattr(config, "rope_parameters", None) or {"rope_type": "default"}),
                                      "rope_theta": float(value)}
        elif hasattr(config, key):
            setattr(config, key, value)
        else:
            raise ValueError(f"model_overrides: unknown config field {key!r}")


def build_model(cfg: TrainConfig, resume: Path | None) -> Any:
    """The model to train: the resume checkpoint, else ``init_from`` (+ overrides, MTP expansion),
    else a fresh ``cfg.model["preset"]`` seeded with ``cfg.seed``."""
    from transformers import AutoConfig, AutoTokenizer

    from mimo.model.modeling_mimo import MiMoForCausalLM
    from mimo.model.mtp import expand_mtp_layers
    from mimo.model.presets import create_model

    if resume is not None:
        return MiMoForCausalLM.from_pretrained(resume)
    if cfg.init_from:
        src = Path(cfg.init_from)
        if not (src / "config.json").exists():
            raise ValueError(f"{cfg.stage}: init_from {src} is not a saved model (no config.json); "
                             "materialize the previous stage first")
        config = AutoConfig.from_pretrained(src)
        _apply_overrides(config, cfg.model_overrides)
        model = MiMoForCausalLM.from_pretrained(src, config=config)
        if cfg.num_mtp_layers and cfg.num_mtp_layers > len(model.model.mtp_layers):
            model = expand_mtp_layers(model, cfg.num_mtp_layers)
        return model
    spec = dict(cfg.model)
    preset = spec.pop("preset", "tiny")
    stage = int(spec.pop("stage", 1))
    tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer) if cfg.tokenizer else None
    return create_model(preset, stage=stage, tokenizer=tokenizer, seed=cfg.seed, **spec)


def trainable_parameters(model: Any, cfg: TrainConfig) -> list[Any]:
    """Parameters the optimizer updates (MTP expansion: only the new MTP layers)."""
    if cfg.freeze == "all_but_new_mtp":
        from mimo.model.mtp import freeze_for_mtp_expansion

        freeze_for_mtp_expansion(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{cfg.stage}: nothing to train (every parameter is frozen)")
    return params
