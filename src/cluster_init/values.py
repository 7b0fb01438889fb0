"""The chart's values as Helm sees them: defaults, then bootstrap.values.yaml, then the user's."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from cluster_init import yamlfile
from cluster_init.environment import Environment
from cluster_init.paths import chart_dir

CONTEXTS = ("bootstrap", "management")


@cache
def _chart_file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yamlfile.parse(Path(chart_dir(), name).read_text(encoding="utf-8")) or {}
    return data


def coalesce(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge: maps merge key by key, anything else replaces, and null deletes the key."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def user_values(env: Environment) -> dict[str, Any]:
    """What the HelmRelease gets from valuesFrom: the values, then the secrets."""
    return coalesce(env.values.data, env.secrets.data)


def layers(context: str) -> list[dict[str, Any]]:
    """The chart-side layers under the user's values, for one context."""
    found = [_chart_file("values.yaml")]
    if context == "bootstrap":
        found.append(_chart_file("bootstrap.values.yaml"))
    return found


def merged(env: Environment, context: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in [*layers(context), user_values(env)]:
        out = coalesce(out, layer)
    return out
