"""Profiles: one YAML file per scale (tiny, mimo-7b, ...) turned into typed settings.

A profile names the lake root, the crawl input, whether the tiny crawl is built from bundled
pages, sensor and automation defaults, and per-asset config, which becomes every asset's config
defaults (pipelines/profile_config.py): every launch path uses it, and run config overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "tiny"


class Profile(BaseModel):
    """Typed content of ``pipelines/profiles/<name>.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    lake_root: str = "{state}/lake"
    catalog_path: str | None = None
    crawl_input: str = "{state}/crawl-input"
    build_tiny_crawl: bool = False
    sensors_running_by_default: bool = False  # the crawl-file sensor and the automation sensor
    # eager automation of the training assets (pretraining, SFT, RL curation, RL) after new data;
    # data, evaluation and report assets always have it (they run only while the automation sensor runs)
    automate_training: bool = False
    log_level: str = "INFO"  # console log level of runs (DEBUG shows every Dagster event)
    generator: dict[str, Any] = Field(default_factory=dict)  # resources.generator.GeneratorResource fields
    cluster: dict[str, Any] = Field(default_factory=dict)  # resources.cluster.ClusterResource fields
    assets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # the benchmarks every checkpoint of the series is evaluated on (the partitions of eval_base, eval_sft, eval_rl_zero, eval_rl)
    eval_benchmarks: list[str] = Field(default_factory=list)

    def run_config(self) -> dict[str, Any]:
        """The run config every job starts from: the console log level (asset settings are config
        defaults, not run config)."""
        return {"loggers": {"console": {"config": {"log_level": self.log_level}}}}


def available_profiles() -> list[str]:
    """Names of the profile files."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str | None = None) -> Profile:
    """Load a profile by name (default: ``MIMO_PROFILE`` or ``tiny``) with a clear error when unknown."""
    name = name or os.environ.get("MIMO_PROFILE", DEFAULT_PROFILE)
    try:
        return Profile(**_profile_dict(name, ()))
    except ValidationError as exc:
        raise ValueError(f"profile {name!r} (pipelines/profiles/{name}.yaml) is invalid: {exc}") from None


def _profile_dict(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """The YAML of a profile; ``extends: <parent>`` starts from the parent and overrides it key by
    key (``assets``/``checks``/``generator``/``cluster`` are merged per entry)."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(available_profiles())}")
    if name in seen:
        raise ValueError(f"profile {name!r} extends itself ({' -> '.join(seen + (name,))})")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"profile {name!r} ({path}) is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"profile {name!r} ({path}) must be a mapping of settings")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    merged = _profile_dict(parent, seen + (name,))
    for key, value in raw.items():
        if key in ("assets", "checks") and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **{a: {**merged.get(key, {}).get(a, {}), **(cfg or {})}
                                                     for a, cfg in value.items()}}
        elif key in ("generator", "cluster") and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged
