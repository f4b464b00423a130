"""Generator resource: which backend generates text for synthetic data (later rollouts and eval)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mimo.generate.base import Generator
from mimo.generate.config import GeneratorConfig, ProceduralOptions
from mimo.paths import expand


class GeneratorResource(dg.ConfigurableResource):
    """Backend and its settings (mirrors :class:`mimo.generate.config.GeneratorConfig`).

    ``backend``: ``procedural`` (rule-based teacher, tiny profile), ``transformers`` (local HF model),
    ``openai`` (any OpenAI-compatible server: vLLM, SGLang, TGI, hosted) or ``vllm`` (in-process,
    optional extra on GPU nodes).
    """

    backend: str = "procedural"
    model: str = "procedural-teacher"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    max_retries: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 120.0
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 16
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.85
    max_model_len: int | None = None
    procedural_seed: int = 0
    procedural_wrong_answer_rate: float = 0.15
    procedural_no_answer_rate: float = 0.05
    procedural_truncate_rate: float = 0.03

    def generator_config(self) -> GeneratorConfig:
        """The engine config (paths such as ``{state}/...`` expanded)."""
        d = self.model_dump()
        procedural = ProceduralOptions(seed=d.pop("procedural_seed"),
                                       wrong_answer_rate=d.pop("procedural_wrong_answer_rate"),
                                       no_answer_rate=d.pop("procedural_no_answer_rate"),
                                       truncate_rate=d.pop("procedural_truncate_rate"))
        d["model"] = expand(d["model"]) if d["backend"] in ("transformers", "vllm") else d["model"]
        return GeneratorConfig(**d, procedural=procedural)

    def build(self, **extra: Any) -> Generator:
        """A ready generator; ``extra`` goes to the backend (``problems=`` for the procedural teacher)."""
        from mimo.generate.config import make_generator

        cfg = self.generator_config()
        if cfg.backend != "procedural":
            extra.pop("problems", None)
        return make_generator(cfg, **extra)
