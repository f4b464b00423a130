"""Text generation behind one interface (see :mod:`mimo.generate.base`)."""

from mimo.generate.base import (
    Completion,
    GenerationRequest,
    GenerationResult,
    Generator,
    Message,
    SamplingParams,
    TokenUsage,
    generate_all,
)
from mimo.generate.config import GeneratorConfig, ProceduralOptions, make_generator

__all__ = [
    "Completion", "GenerationRequest", "GenerationResult", "Generator", "GeneratorConfig",
    "Message", "ProceduralOptions", "SamplingParams", "TokenUsage", "generate_all",
    "make_generator",
]
