"""YAML parsing that remembers where each field is, so errors can name a file and a line."""

from __future__ import annotations

from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def parse(text: str) -> Any:
    """One YAML document; a syntax error carries the 1-based line it was found on."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        reason = e.problem or str(e)
        raise YamlSyntaxError(mark.line + 1 if mark else None, reason) from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError(None, str(e)) from None


def parse_all(text: str) -> list[Any]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]


def line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the deepest node of `path` present in `text` (None if the text is bad)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    line = 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(key)), None)
            key_node = next((k for k, _ in node.value if k.value == str(key)), None)
            if match is None or key_node is None:
                break
            line, node = key_node.start_mark.line + 1, match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def dump(docs: list[Any]) -> str:
    return yaml.dump_all(docs, sort_keys=False, default_flow_style=False, explicit_start=True)
