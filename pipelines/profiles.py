"""Profiles: one YAML file per scale (tiny, mimo-7b, ...) turned into typed settings.

A profile names the lake root, the crawl input, whether the tiny crawl is built from bundled
pages, sensor defaults, and per-asset config (it becomes the jobs' default run config, which the
launchpad shows and lets users override).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "tiny"


class Profile(BaseModel):
    """Typed content of ``pipelines/profiles/<name>.yaml``."""

    name: str
    description: str = ""
    lake_root: str = "{state}/lake"
    catalog_path: str | None = None
    crawl_input: str = "{state}/crawl-input"
    build_tiny_crawl: bool = False
    sensors_running_by_default: bool = False
    log_level: str = "INFO"  # console log level of runs (DEBUG shows every Dagster event)
    generator: dict[str, Any] = Field(default_factory=dict)  # resources.generator.GeneratorResource fields
    cluster: dict[str, Any] = Field(default_factory=dict)  # resources.cluster.ClusterResource fields
    assets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # the benchmarks every checkpoint of the series is evaluated on (eval_results partitions)
    eval_benchmarks: list[str] = Field(default_factory=list)

    def run_config(self, assets: list[str], checks: dict[str, str] | None = None) -> dict[str, Any]:
        """Dagster run config for the given assets and checks (check name -> its asset)."""
        ops = {n: {"config": self.assets[n]} for n in assets if n in self.assets}
        for name, asset in (checks or {}).items():
            if name in self.checks:  # a check's op is named <asset>_<check>
                ops[f"{asset}_{name}"] = {"config": self.checks[name]}
        config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": self.log_level}}}}
        if ops:
            config["ops"] = ops
        return config


def available_profiles() -> list[str]:
    """Names of the profile files."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str | None = None) -> Profile:
    """Load a profile by name (default: ``MIMO_PROFILE`` or ``tiny``) with a clear error when unknown."""
    name = name or os.environ.get("MIMO_PROFILE", DEFAULT_PROFILE)
    return Profile(**_profile_dict(name, ()))


def _profile_dict(name: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """The YAML of a profile; ``extends: <parent>`` starts from the parent and overrides it key by
    key (``assets``/``checks``/``generator``/``cluster`` are merged per entry)."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValueError(f"unknown profile {name!r}; available: {', '.join(available_profiles())}")
    if name in seen:
        raise ValueError(f"profile {name!r} extends itself ({' -> '.join(seen + (name,))})")
    raw = yaml.safe_load(path.read_text()) or {}
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
