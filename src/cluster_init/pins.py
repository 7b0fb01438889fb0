"""The one reader of the pinned versions table, charts/telco-cloud-init/versions.yaml.

Everything that needs a pinned version (the CLI, the tool builds, testenv, the tests) asks here. `pins()` is
the full parse; `tool_version()` is a fast path for `plan`, which needs helm's version before anything heavy
is loaded: it reads the one-line `tools:` entries with a regular expression (a T0 test checks it against the
full parse). Imports stay light (`os` only at the top).
"""

from __future__ import annotations

import os
from functools import cache

from cluster_init.paths import chart_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def versions_file() -> str:
    return os.path.join(chart_dir(), "versions.yaml")


@cache
def _text() -> str:
    with open(versions_file(), encoding="utf-8") as f:
        return f.read()


@cache
def pins() -> dict[str, Any]:
    """The whole table."""
    from cluster_init import yamlfile

    table: dict[str, Any] = yamlfile.parse(_text())
    return table


def upstream(name: str) -> dict[str, Any]:
    """One entry of `upstreams:` (what the chart deploys)."""
    entry: dict[str, Any] = pins()["upstreams"][name]
    return entry


def tool_pin(name: str) -> dict[str, str]:
    pin: dict[str, str] = pins()["tools"][name]
    return pin


@cache
def tool_version(name: str) -> str:
    """A tool's pinned version, read without a YAML parser from the one-line entries of `tools:`."""
    import re

    match = re.search(rf"^  {re.escape(name)}: {{.*\bversion: (v[0-9][^,}} ]*)", _text(), re.MULTILINE)
    if match is None:
        raise ValueError(f"versions.yaml has no one-line `tools.{name}` entry with a version")
    return match.group(1)
