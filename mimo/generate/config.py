"""Typed generator configuration and the backend factory."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field

from mimo.generate.base import Generator

Backend = Literal["transformers", "openai", "vllm", "procedural"]


class ProceduralOptions(BaseModel):
    """Error rates of the rule-based teacher (so verification has something to reject)."""

    seed: int = 0
    wrong_answer_rate: float = Field(0.15, ge=0, le=1)
    no_answer_rate: float = Field(0.05, ge=0, le=1)
    truncate_rate: float = Field(0.03, ge=0, le=1)


class GeneratorConfig(BaseModel):
    """Which backend generates, and how (one config for every backend)."""

    backend: Backend = "procedural"
    model: str = "procedural-teacher"  # HF path/name, or the served model name for openai
    # openai
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(16, ge=1)
    max_retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    timeout_s: float = Field(120.0, gt=0)
    # transformers / vllm
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = Field(16, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    max_model_len: int | None = None
    # procedural
    procedural: ProceduralOptions = Field(default_factory=ProceduralOptions)


def make_generator(cfg: GeneratorConfig, **extra: Any) -> Generator:
    """Build the configured backend; ``extra`` goes to the backend (e.g. ``problems=`` for the
    procedural teacher). Heavy imports happen here, lazily."""
    if cfg.backend == "transformers":
        from mimo.generate.transformers_backend import TransformersGenerator

        return TransformersGenerator(cfg.model, device=cfg.device, dtype=cfg.dtype,
                                     batch_size=cfg.batch_size, **extra)
    if cfg.backend == "openai":
        from mimo.generate.openai_backend import OpenAIGenerator

        if not cfg.base_url:
            raise ValueError("the openai backend needs base_url (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIGenerator(cfg.model, base_url=cfg.base_url,
                               api_key=os.environ.get(cfg.api_key_env, "EMPTY"),
                               concurrency=cfg.concurrency, max_retries=cfg.max_retries,
                               backoff_s=cfg.backoff_s, timeout_s=cfg.timeout_s, **extra)
    if cfg.backend == "vllm":
        from mimo.generate.vllm_backend import VLLMGenerator

        return VLLMGenerator(cfg.model, tensor_parallel_size=cfg.tensor_parallel_size,
                             gpu_memory_utilization=cfg.gpu_memory_utilization,
                             max_model_len=cfg.max_model_len, **extra)
    if cfg.backend == "procedural":
        from mimo.generate.procedural import ProceduralTeacher

        return ProceduralTeacher(options=cfg.procedural, **extra)
    raise ValueError(f"unknown generator backend {cfg.backend!r}")
