"""The pins the stack builds from, asked of the one reader of versions.yaml (cluster_init.pins)."""

from __future__ import annotations

from typing import Any

from cluster_init.pins import pins, upstream

__all__ = ["pins", "stack", "upstream"]


def stack(name: str) -> dict[str, Any]:
    """An entry of the `stack:` table (what only the test stack builds)."""
    entry: dict[str, Any] = pins()["stack"][name]
    return entry
