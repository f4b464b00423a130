"""MTP speculative-decoding evaluation of the MTP-expansion checkpoint: acceptance per MTP layer and
decode tokens/s with and without speculation, on the same model and held-out prompts, in one run.

Greedy decoding is measured for every draft length (and checked token-for-token against plain
decoding); sampling at MiMo's evaluation settings (temperature 0.6, top-p 0.95) adds the acceptance
under the distribution-preserving rule. Engine: :func:`mimo.generate.speculative.measure_speculative`.
"""


import re
from pathlib import Path
from typing import Any

import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from mimo.paths import expand
from resources.lake import LakeResource


class SpeculativeEvalConfig(dg.Config):
    """Prompts (a JSON-lines file, MATH-500 by default: held out from training) and decoding settings."""

    # "file": texts from prompts_file; "toy_heldout": held-out toy math problems from evaluation_sets, as
    # the openings of worked problems (the base model then decodes its own solution)
    prompt_source: str = "file"
    prompts_file: str = "{shared}/benchmarks/math500.jsonl"
    prompt_field: str = "problem"
    num_prompts: int = 8
    max_prompt_tokens: int = 256
    chat_template: bool = False  # the MTP-expansion checkpoint is a base model: raw text prompts
    max_new_tokens: int = 64
    num_speculative: list[int] = [1, 2, 3]  # noqa: RUF012 - dagster config default
    sampled_temperature: float = 0.6  # 0 skips the sampled measurement
    top_p: float = 0.95
    ignore_eos: bool = True  # fixed-length decodes: the same token count with and without drafts
    repeats: int = 1
    threads: int = 1
    seed: int = 0


_TIMING = re.compile(r"(decode_s|decode_tokens_per_s(_k\d+)?|tokens_per_s_(plain|speculative)|(sampled_)?speedup(_k\d+)?"
                     r"|best|best_num_speculative)")


def without_timings(value: Any) -> Any:
    """A copy of a measurement without its wall-clock values (decode seconds, tokens/s, speedups and
    the fastest draft length), for the artifact's file: they go to metadata, so the content hash
    depends on the tokens and acceptances only."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if not _TIMING.fullmatch(str(k))}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def _load(model_dir: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer

    import mimo.model  # noqa: F401 - registers MiMo with the Auto classes
    from mimo.model.modeling_mimo import MiMoForCausalLM

    if not Path(model_dir, "config.json").exists():
        raise dg.Failure(f"checkpoint {model_dir} has no config.json (missing or incomplete)")
    try:
        model = MiMoForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception as e:
        raise dg.Failure(f"cannot load checkpoint {model_dir}: {type(e).__name__}: {e}") from e
    return model, tokenizer


def summarize(greedy: dict[str, Any], sampled: dict[str, Any] | None) -> dict[str, Any]:
    """Flat headline numbers (greedy): acceptance per MTP layer at the longest draft length
    (``acceptance_per_layer``: layer -> rate), decode tokens/s plain and at the best draft length
    (``speedup``), and per draft length; sampled acceptance when measured."""
    longest = str(max(int(k) for k in greedy["speculative"]))
    best = str(greedy["best"]["num_speculative"])
    rates = greedy["speculative"][longest]["acceptance_per_layer"]
    out: dict[str, Any] = {
        "acceptance_per_layer": {str(i): r for i, r in enumerate(rates, start=1) if r is not None},
        "tokens_per_s_plain": greedy["plain"]["decode_tokens_per_s"],
        "tokens_per_s_speculative": greedy["speculative"][best]["decode_tokens_per_s"],
        "speedup": greedy["best"]["speedup"], "best_num_speculative": int(best),
        "greedy_identical": all(r["identical"] for r in greedy["speculative"].values()),
        "mean_accepted_per_step": greedy["speculative"][longest]["mean_accepted_per_step"]}
    for i, rate in enumerate(rates, start=1):
        out[f"acceptance_layer_{i}"] = rate
    for k, r in greedy["speculative"].items():
        out[f"speedup_k{k}"] = r["speedup"]
        out[f"decode_tokens_per_s_k{k}"] = r["decode_tokens_per_s"]
        out[f"tokens_per_step_k{k}"] = r["tokens_per_step"]
    if sampled is not None:
        s_long = sampled["speculative"][str(max(int(k) for k in sampled["speculative"]))]
        for i, rate in enumerate(s_long["acceptance_per_layer"], start=1):
            out[f"sampled_acceptance_layer_{i}"] = rate
        out["sampled_speedup"] = sampled["best"]["speedup"]
    return out


def _prompt_texts(context: Any, config: SpeculativeEvalConfig, lake: LakeResource) -> list[str]:
    """The prompt texts the config names (a ValueError when there are none)."""
    from mimo.generate.spec_prompts import load_prompt_texts

    if config.prompt_source == "file":
        return load_prompt_texts(expand(config.prompts_file), config.prompt_field, config.num_prompts)
    if config.prompt_source != "toy_heldout":
        raise ValueError(f"prompt_source must be 'file' or 'toy_heldout', got {config.prompt_source!r}")
    from assets.problems import read_problems
    from mimo.problems.worked import worked_prompt

    problems, _ = read_problems(context, lake, "evaluation_sets")
    toy = [p for p in problems if p.split == "heldout" and p.domain == "math"][: config.num_prompts]
    if not toy:
        raise ValueError("evaluation_sets has no held-out toy math problem")
    return [worked_prompt(p) for p in toy]


@dg.asset(deps=["mtp_expansion", "evaluation_sets"], group_name="evaluation", kinds={"pytorch"}, code_version="spec-eval-v1",
          pool="gpu",
          description="MTP speculative decoding of the MTP-expansion checkpoint: acceptance per MTP layer, decode "
                      "tokens/s with and without drafts (same model, same held-out prompts), greedy exactness.")
def mtp_speculative_eval(context: dg.AssetExecutionContext, config: SpeculativeEvalConfig,
                         lake: LakeResource) -> dg.MaterializeResult:
    import torch

    from mimo.generate.spec_prompts import encode_prompts
    from mimo.generate.speculative import measure_speculative, num_mtp_layers

    meter = MemoryMeter()
    ckpt = upstream_artifact(context, lake, "mtp_expansion")
    model_dir = f"{ckpt['path']}/model"
    model, tokenizer = _load(model_dir)
    layers = num_mtp_layers(model)
    ks = sorted({k for k in config.num_speculative if 1 <= k <= layers})
    if not ks:
        raise dg.Failure(f"{model_dir} has {layers} MTP layer(s); none of num_speculative={config.num_speculative} fits")
    try:
        texts = _prompt_texts(context, config, lake)
        prompts = encode_prompts(tokenizer, texts, config.max_prompt_tokens, chat=config.chat_template)
    except (OSError, ValueError) as e:
        raise dg.Failure(f"no usable prompts: {e}") from e
    eos = () if config.ignore_eos else tuple(i for i in [tokenizer.eos_token_id] if i is not None)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        common = {"eos_token_ids": eos, "seed": config.seed, "repeats": config.repeats}
        greedy = measure_speculative(model, prompts, config.max_new_tokens, ks, **common)
        sampled = (measure_speculative(model, prompts, config.max_new_tokens, ks, temperature=config.sampled_temperature,
                                       top_p=config.top_p, warmup=False, **common)
                   if config.sampled_temperature > 0 else None)
    finally:
        torch.set_num_threads(threads)
    headline = summarize(greedy, sampled)
    context.log.info(f"speculative decoding of {model_dir}: {headline}")
    report = without_timings({"checkpoint": model_dir, "checkpoint_artifact": ckpt["artifact_id"],
                              "prompts": config.prompt_source if config.prompt_source != "file" else config.prompts_file,
                              "summary": headline, "greedy": greedy,
                              "sampled": sampled})

    def write(tmp_dir: str) -> WriteStats:
        lake.lake().write_json(report, f"{tmp_dir}/spec_decode.json")
        return WriteStats(row_count=len(prompts), metadata={
            **headline, "checkpoint": model_dir, "mtp_layers": layers, "num_speculative": ks,
            "greedy": greedy, **({"sampled": sampled} if sampled else {})})

    cfg = {**config.model_dump(), "checkpoint": ckpt["content_hash"]}
    return write_artifact(context, lake, cfg, write, upstream_ids=[ckpt["artifact_id"]], meter=meter)
