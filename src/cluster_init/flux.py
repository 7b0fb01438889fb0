"""Flux post-build variable substitution (`spec.postBuild.substitute`), done the way kustomize-controller does it.

`${VAR}`, `${VAR:=default}` and `${VAR:-default}`; a variable without a value and without a default becomes
the empty string.
"""

from __future__ import annotations

import re
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[=-]([^}]*))?\}")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Substitute in a text, as Flux does on a built kustomization."""
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(2) or ""), text)


def substitute_strings(node: Any, variables: dict[str, str]) -> Any:
    """Substitute inside the string values of parsed objects only: a value can never add YAML of its own."""
    if isinstance(node, dict):
        return {k: substitute_strings(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_strings(v, variables) for v in node]
    if isinstance(node, str):
        return substitute(node, variables)
    return node
