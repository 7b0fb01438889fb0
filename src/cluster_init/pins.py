"""The one table of pinned versions: charts/telco-cloud-init/versions.yaml."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from cluster_init.paths import chart_dir


@cache
def pins() -> dict[str, Any]:
    with open(chart_dir() / "versions.yaml", encoding="utf-8") as f:
        table: dict[str, Any] = yaml.safe_load(f)
    return table


def tool_pin(name: str) -> dict[str, str]:
    pin: dict[str, str] = pins()["tools"][name]
    return pin
