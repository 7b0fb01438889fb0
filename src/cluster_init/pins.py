"""The one table of pinned versions: charts/telco-cloud-init/versions.yaml."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from cluster_init.paths import chart_dir


@cache
def pins() -> dict[str, Any]:
    from cluster_init import yamlfile

    table: dict[str, Any] = yamlfile.parse((chart_dir() / "versions.yaml").read_text(encoding="utf-8"))
    return table


def tool_pin(name: str) -> dict[str, str]:
    pin: dict[str, str] = pins()["tools"][name]
    return pin


@cache
def tool_version(name: str) -> str:
    """A tool's pinned version without loading a YAML parser: `plan` starts helm before its imports.

    Reads the one-line flow mapping of the `tools:` table; a T0 test checks it against the full parse.
    """
    text = (chart_dir() / "versions.yaml").read_text(encoding="utf-8")
    match = re.search(rf"^  {re.escape(name)}: {{.*\bversion: (v[0-9][^,}} ]*)", text, re.MULTILINE)
    return match.group(1) if match else tool_pin(name)["version"]
