"""The CLI's one way to read YAML: as Helm reads it, within limits, remembering where each field is.

Helm (and Flux after it) read values with Go's YAML library, a YAML 1.1 dialect of its own: `n`, `y`,
`on` and `off` are booleans, `0755` is octal, `1:30` is a string. PyYAML's YAML 1.1 reads those
otherwise. So the loader below resolves plain scalars only where both readings agree (decimal numbers,
`true`/`false`, `null`) and reads every other plain scalar as a string; in user files (`load`) a plain
scalar that Go would read as something else is refused, with its file, line and field, and the fix is
to quote it. Everything is checked on the composed node graph before a Python object is built:
nesting depth, size after alias expansion (a 1 KB alias bomb expands to billions of nodes), recursive
aliases, tags other than the standard ones, and in user files duplicate keys.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, NamedTuple

import yaml

MAX_BYTES = 1 << 20  # a values file is a few KB; a rendered chart a few hundred
MAX_DEPTH = 64
MAX_NODES = 200_000  # after alias expansion
INT64 = (-(1 << 63), (1 << 63) - 1)

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_STANDARD_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge")}
# What both Go's reading and ours give the same non-string meaning.
_AGREED = {
    "bool": re.compile(r"true|True|TRUE|false|False|FALSE\Z"),
    "null": re.compile(r"(~|null|Null|NULL|)\Z"),
    "int": re.compile(r"[-+]?(0|[1-9][0-9]*)\Z"),
    "float": re.compile(r"[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+)\Z"),
}
# Plain scalars Go reads as a boolean, a number or NaN/infinity and we would read as a string.
_GO_ONLY = re.compile(r"(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
                      r"|[-+]?(0[bB][01_]+|0[oO][0-7_]+|0[xX][0-9a-fA-F_]+|[0-9][0-9_]*)"
                      r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))\Z")
_GO_BOOLS = {"y", "yes", "n", "no", "on", "off"}
_NOT_FINITE = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)\Z")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # libyaml when present
    """SafeLoader with only the implicit types Go's YAML reads the same way."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}


for _name, _pattern in _AGREED.items():
    _Loader.add_implicit_resolver(_TAG + _name, re.compile(_pattern.pattern.replace(r"\Z", "$")), None)
_Loader.add_implicit_resolver(_TAG + "merge", re.compile(r"<<$"), ["<"])


Path_ = tuple[str | int, ...]


class Issue(NamedTuple):
    """Something in a YAML text the CLI will not read: its 1-based line, field path, what, and the fix."""

    line: int | None
    path: tuple[str | int, ...]
    what: str
    fix: str


class YamlSyntaxError(Exception):
    """A text that is not YAML the CLI reads; `issues` lists every reason (the first also as line/reason)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues[0].what)
        self.issues = issues
        self.line, self.reason = issues[0].line, issues[0].what


def parse(text: str) -> Any:
    """One trusted or tool-written document (None if empty); raises YamlSyntaxError."""
    docs = _documents(text, strict=False, single=True)
    return docs[0] if docs else None


def parse_all(text: str) -> list[Any]:
    """Every non-empty document of a trusted or tool-written stream; raises YamlSyntaxError."""
    return [d for d in _documents(text, strict=False, single=False) if d is not None]


def objects(tool: str, stream: str) -> list[dict[str, Any]]:
    """A tool's YAML output as objects; anything else means the tool is broken (exit 1), not the input."""
    from cluster_init.errors import RuntimeFailure

    try:
        docs = parse_all(stream)
    except YamlSyntaxError as e:
        raise RuntimeFailure(f"{tool} printed something that is not YAML ({e.reason}); check the tool") from None
    if not all(isinstance(d, dict) and isinstance(d.get("kind"), str) for d in docs):
        raise RuntimeFailure(f"{tool} printed something other than Kubernetes objects; check the tool")
    return docs


def load(text: str, strict: bool = True) -> Any:
    """One document of a user's file. Strict: refuses plain scalars Helm would read otherwise."""
    docs = _documents(text, strict=strict, single=True)
    return docs[0] if docs else None


def _documents(text: str, strict: bool, single: bool) -> list[Any]:
    if len(text) > MAX_BYTES:
        raise YamlSyntaxError([Issue(None, (), f"is larger than {MAX_BYTES >> 10} KiB",
                                     "split it, or remove what is not needed")])
    loader = _Loader(text)
    try:
        nodes = [loader.get_single_node()] if single else _nodes(loader)
        issues = [issue for node in nodes if node is not None for issue in _check(node, strict)]
        if issues:
            raise YamlSyntaxError(issues)
        return [None if node is None else loader.construct_document(node) for node in nodes]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlSyntaxError([Issue(mark.line + 1 if mark else None, (), f"YAML syntax error: {e.problem or e}",
                                     "fix the YAML")]) from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError([Issue(None, (), f"YAML syntax error: {e}", "fix the YAML")]) from None
    finally:
        loader.dispose()


def _nodes(loader: _Loader) -> list[yaml.Node]:
    nodes = []
    while loader.check_node():
        nodes.append(loader.get_node())
    return nodes


def _children(node: yaml.Node, path: Path_, keys: bool) -> list[tuple[yaml.Node, Path_, None]]:
    if isinstance(node, yaml.SequenceNode):
        return [(child, (*path, i), None) for i, child in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        pairs = [(k, v, (*path, str(k.value))) for k, v in node.value]
        return [(v, p, None) for _, v, p in pairs] + ([(k, p, None) for k, _, p in pairs] if keys else [])
    return []


def _check(root: yaml.Node, strict: bool) -> list[Issue]:
    """Limits, recursion, keys, tags and scalars of one document, walked without recursion.

    Aliases share their node, so each node is checked once and its expanded size and depth memoized.
    A stack entry is (node, path, None) until the node is expanded, then (node, path, its children).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    issues: list[Issue] = []
    stack: list[tuple[yaml.Node, Path_, list[tuple[yaml.Node, Path_, None]] | None]] = [(root, (), None)]
    while stack:
        node, path, kids = stack.pop()
        key = id(node)
        if kids is not None:  # every child is done
            open_.discard(key)
            size[key] = 1 + sum(size.get(id(k), 1) for k, _, _ in kids)
            depth[key] = 1 + max((depth.get(id(k), 1) for k, _, _ in kids), default=0)
            if size[key] > MAX_NODES or depth[key] > MAX_DEPTH:
                what = (f"nests deeper than {MAX_DEPTH} levels" if depth[key] > MAX_DEPTH
                        else f"expands to more than {MAX_NODES} values (aliases)")
                return [Issue(node.start_mark.line + 1, path[:8], what, "simplify it")]
        elif key in size:
            continue
        elif isinstance(node, yaml.ScalarNode):
            size[key] = depth[key] = 1
            if node.tag != _STR or strict:
                issues += _node_issues(node, path, strict)
        elif key in open_:
            return [Issue(node.start_mark.line + 1, path, "an alias refers to a node that contains it",
                          "remove the recursive alias")]
        else:
            open_.add(key)
            issues += _node_issues(node, path, strict)
            kids = _children(node, path, keys=strict)
            stack.append((node, path, kids))
            stack += reversed(kids)
    return issues


def _node_issues(node: yaml.Node, path: Path_, strict: bool) -> list[Issue]:
    line = node.start_mark.line + 1
    if node.tag not in _STANDARD_TAGS:
        return [Issue(line, path, f"the YAML tag `{node.tag.replace(_TAG, '!!')}` is not supported",
                      "write a plain value instead")]
    if isinstance(node, yaml.MappingNode) and strict:
        return _key_issues(node, path)
    if isinstance(node, yaml.ScalarNode):
        return _scalar_issues(node, path, line, strict)
    return []


def _key_issues(node: yaml.MappingNode, path: tuple[str | int, ...]) -> list[Issue]:
    """Duplicate keys (Go's YAML keeps the last, silently) and keys that are not scalars."""
    seen: dict[str, int] = {}
    issues = []
    for key, _ in node.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode):
            issues.append(Issue(line, path, "a key is not a plain word", "use a string key"))
        elif key.tag == _TAG + "merge":
            continue
        elif key.value in seen:
            issues.append(Issue(line, (*path, key.value), f"duplicate key (also on line {seen[key.value]})",
                                "keep one of them"))
        else:
            seen[key.value] = line
    return issues


def _scalar_issues(node: yaml.ScalarNode, path: Path_, line: int, strict: bool) -> list[Issue]:
    value, kind = node.value, node.tag.replace(_TAG, "")
    if kind == "str" and node.style not in (None, ""):  # quoted: a string for every reader
        return []
    if kind in _AGREED and not _AGREED[kind].match(value) and not _NOT_FINITE.match(value):
        return [Issue(line, path, f"this `!!{kind}` value is read differently by Helm", "write a plain value")]
    if kind == "int" and not INT64[0] <= int(value) <= INT64[1]:
        return [Issue(line, path, "is too large a number for Helm", "use a smaller number, or quote it")]
    plain = node.style in (None, "")
    if _NOT_FINITE.match(value) and (plain or kind == "float"):
        return [Issue(line, path, "NaN and infinity are not numbers Helm can read", "write a finite number")]
    if strict and plain and kind == "str" and _GO_ONLY.match(value):
        kind = "boolean" if value.lower() in _GO_BOOLS else "number"
        return [Issue(line, path, f"Helm reads this unquoted value as a {kind}, not as text",
                      "quote it if you mean a string; write true/false or a plain decimal number otherwise")]
    return []


def line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the deepest node of `path` present in `text` (None if the text is bad)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    line = 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


class _Dumper(yaml.SafeDumper):
    """Quotes every string that either reader would take for something else (`n`, `0755`, `1:30`)."""


_Dumper.add_implicit_resolver(_TAG + "bool", re.compile(_GO_ONLY.pattern.replace(r"\Z", "$")),
                              list("yYnNoO0123456789+-."))


def dump(docs: list[Any]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True,
                         width=1 << 30, allow_unicode=True)


def dump_one(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1 << 30, allow_unicode=True)
