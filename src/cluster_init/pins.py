"""The one table of pinned versions: charts/telco-cloud-init/versions.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from cluster_init.paths import chart_dir


@cache
def pins() -> dict[str, Any]:
    from cluster_init import yamlfile

    table: dict[str, Any] = yamlfile.parse(Path(chart_dir(), "versions.yaml").read_text(encoding="utf-8"))
    return table


def tool_pin(name: str) -> dict[str, str]:
    pin: dict[str, str] = pins()["tools"][name]
    return pin

