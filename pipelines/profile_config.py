"""The active profile's settings as the config defaults of every asset and asset check.

Each asset's Pythonic config class (``RLConfig``, ``EvalConfig``, ...) keeps MiMo's full-scale
values as its own defaults; here every asset and check of the definitions gets a config schema
whose defaults are the profile's values. So a **Materialize** click in the UI, ``dagster asset
materialize``, a job, a schedule, a sensor, automation and a backfill all run with the profile's
settings without any run config, and run config given by hand still overrides them.

Unknown asset or check names, unknown fields and values of the wrong type fail at load time
with one message naming the profile file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pydantic
from dagster._config.pythonic_config.config import infer_schema_from_config_class

from pipelines.profiles import Profile


class ProfileError(ValueError):
    """A profile names an asset, check or field that does not exist, or a value of the wrong type."""


def _config_class(op: dg.OpDefinition) -> type[dg.Config] | None:
    """The Pythonic config class an op's function takes, if any."""
    fn = op.compute_fn
    decorated = getattr(fn, "decorated_fn", None)
    if decorated is None or not fn.has_config_arg():
        return None
    annotation = fn.get_config_arg().annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, dg.Config) else None


def _with_defaults(cls: type[dg.Config], values: Mapping[str, Any], where: str) -> type[dg.Config]:
    """A subclass of ``cls`` whose defaults are ``values`` (validated by ``cls`` itself)."""
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {unknown} for {cls.__name__}; "
                           f"known: {', '.join(sorted(cls.model_fields))}")
    try:
        checked = cls(**values)
    except pydantic.ValidationError as exc:
        raise ProfileError(f"{where}: invalid value for {cls.__name__}: {exc}") from None
    fields = {name: (cls.model_fields[name].annotation, getattr(checked, name)) for name in values}
    return pydantic.create_model(cls.__name__, __base__=cls, __module__=cls.__module__, **fields)


def _replace_config(assets_def: dg.AssetsDefinition, values: Mapping[str, Any], where: str) -> dg.AssetsDefinition:
    """The same asset (or check) with its op's config defaults set to ``values``."""
    op = assets_def.op
    cls = _config_class(op)
    if cls is None:
        raise ProfileError(f"{where}: {op.name} takes no config")
    schema = infer_schema_from_config_class(_with_defaults(cls, values, where))
    new_op = op.with_replaced_properties(name=op.name, config_schema=schema)
    attrs = {**assets_def.get_attributes_dict(), "node_def": new_op}
    return assets_def.__class__.dagster_internal_init(**attrs)


def apply_profile_defaults(assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetChecksDefinition],
                           profile: Profile) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Assets and checks with the profile's ``assets:`` / ``checks:`` values as config defaults."""
    where = f"profile {profile.name!r} (pipelines/profiles/{profile.name}.yaml)"
    by_asset = {a.key.to_user_string(): a for a in assets}
    by_check = {key.name: c for c in checks for key in c.check_keys}
    unknown = sorted(set(profile.assets) - set(by_asset))
    if unknown:
        raise ProfileError(f"{where}: unknown asset(s) {unknown} under 'assets:'; known: {', '.join(sorted(by_asset))}")
    unknown = sorted(set(profile.checks) - set(by_check))
    if unknown:
        raise ProfileError(f"{where}: unknown check(s) {unknown} under 'checks:'; known: {', '.join(sorted(by_check))}")
    new_assets = [_replace_config(a, profile.assets[name], f"{where}, assets.{name}") if profile.assets.get(name) else a
                  for name, a in by_asset.items()]
    new_checks = []
    for c in checks:
        name = next(iter(c.check_keys)).name
        new_checks.append(_replace_config(c, profile.checks[name], f"{where}, checks.{name}")
                          if profile.checks.get(name) else c)
    return new_assets, new_checks


def effective_config(assets_def: dg.AssetsDefinition) -> dict[str, Any]:
    """The config an asset runs with when no run config is given (its schema's defaults)."""
    cls = _config_class(assets_def.op)
    if cls is None:
        return {}
    field = assets_def.op.config_schema.as_field()
    return dict(field.default_value) if field.default_provided else {}
