"""The pins the stack builds from: charts/telco-cloud-init/versions.yaml, read once."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from testenv.build import VERSIONS_FILE


@cache
def pins() -> dict[str, Any]:
    table: dict[str, Any] = yaml.safe_load(VERSIONS_FILE.read_text())
    return table


def stack(name: str) -> dict[str, Any]:
    """An entry of the `stack:` table (what only the test stack builds)."""
    entry: dict[str, Any] = pins()["stack"][name]
    return entry


def upstream(name: str) -> dict[str, Any]:
    """An entry of the `upstreams:` table (what the chart deploys)."""
    entry: dict[str, Any] = pins()["upstreams"][name]
    return entry
