"""Typed settings of the rollout engine pool (``engines`` in the RL config)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EnginesConfig(BaseModel):
    """How many engines, where they come from, and how weights reach them.

    ``launch: local``: trainer rank 0 starts the engines as processes on its own machine (the tiny
    profile, tests). ``launch: external``: the cluster job started them (the rollout nodes of a Slurm
    job); the pool finds them through the rendezvous directory on shared storage.
    """

    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1)
    launch: Literal["local", "external"] = "local"
    backend: Literal["inflight", "vllm"] = "inflight"  # CPU: in-flight transformers; GPU: vLLM
    rendezvous_dir: str | None = None  # default: the job's MIMO_COMPANION_DIR (external), else <out_dir>/engines
    max_sequences: int | None = Field(None, ge=1)  # per engine; default: G x generation_batch_groups
    threads: int | None = Field(None, ge=1)  # torch threads per local engine
    start_timeout_s: float = Field(600.0, gt=0)
    sync_host: str = "127.0.0.1"  # trainer rank 0's address for weight sync; "auto": its host name
    sync_backend: Literal["gloo", "nccl"] = "gloo"
    max_staleness: int = Field(0, ge=0)  # weight versions a sample may lag behind the policy
    vllm: dict[str, Any] = Field(default_factory=dict)  # engine arguments of the vllm backend
    kill_engine_at_step: int | None = Field(None, ge=1)  # test hook: engine 0 is killed during that step's rollout
