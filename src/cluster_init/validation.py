"""`cluster-init validate`: the chart's own values.schema.json, then the checks a schema cannot express.

Every problem names the file (and line) the user must edit, the field, what is wrong and what to do.
Values under `secrets` are never quoted back.
"""

from __future__ import annotations

import ipaddress
import json
import os
from functools import cache
from typing import Any

from cluster_init.environment import Environment, Source
from cluster_init.errors import InputError, Problem
from cluster_init.paths import chart_dir
from cluster_init.values import merged

PLACEHOLDER_MARKS = ("CHANGE-ME", "00000000-0000-0000-0000-000000000000", "example.invalid")

Path_ = tuple[str | int, ...]


@cache
def schema() -> dict[str, Any]:
    with open(os.path.join(chart_dir(), "values.schema.json"), encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


def validate(env: Environment, context: str) -> list[str]:
    """Raise InputError listing every problem; return warnings (placeholders) when valid."""
    problems = placement_problems(env)
    if not problems:
        values = merged(env, context)
        problems = schema_problems(env, values) or semantic_problems(env, values)
    if problems:
        raise InputError(problems)
    return placeholder_warnings(env)


def placement_problems(env: Environment) -> list[Problem]:
    """Secrets only in secrets.yaml, nothing else there, and no `context` (the CLI chooses it)."""
    problems = []
    if "secrets" in env.values.data:
        problems.append(Problem(env.values.at(("secrets",)), "secrets", "secret values in the plain values file",
                                f"move the `secrets:` block to {env.secrets.where}"))
    problems += [Problem(env.secrets.at((key,)), str(key), "only `secrets:` belongs in the secrets file",
                         f"move `{key}` to {env.values.where}")
                 for key in env.secrets.data if key != "secrets"]
    if "context" in env.values.data:
        problems.append(Problem(env.values.at(("context",)), "context", "is chosen by cluster-init, not by values",
                                "remove it and pass --context bootstrap|management instead"))
    return problems


def schema_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    from jsonschema import Draft7Validator  # imported here: only validation pays for it

    validator = Draft7Validator(schema())
    errors = sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
    seen: set[str] = set()
    problems = []
    for error in errors:
        problem = _problem(env, error)
        if str(problem) not in seen:
            seen.add(str(problem))
            problems.append(problem)
    return problems


def _problem(env: Environment, error: Any) -> Problem:
    path: Path_ = tuple(error.absolute_path)
    secret = bool(path) and path[0] == "secrets"
    shown = "the value" if secret else f"`{_short(error.instance)}`"
    hint = error.schema.get("description", "")
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        field = _dotted((*path, unknown[0]))
        close = _close(unknown[0], allowed)
        fix = f"did you mean `{close[0]}`?" if close else f"remove it (known: {', '.join(allowed) or 'none'})"
        return Problem(_where(env, (*path, unknown[0])), field, "unknown field", fix)
    if kind == "required":
        missing = error.message.split("'")[1]
        return Problem(_where(env, path), _dotted((*path, missing)), "is required but missing",
                       f"add it{': ' + hint if hint else ''}")
    if kind == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return Problem(_where(env, path), _dotted(path), f"{shown} is not allowed", f"use one of: {options}")
    if kind == "maxProperties" and error.validator_value == 0:
        return Problem(_where(env, path), _dotted(path), f"must be empty: {hint or 'not used here'}",
                       "remove it, or select the provider it belongs to")
    if kind == "pattern":
        return Problem(_where(env, path), _dotted(path), f"{shown} is not {hint or 'in the expected format'}",
                       "fix the value")
    if kind == "type":
        return Problem(_where(env, path), _dotted(path), f"{shown} is not of type {error.validator_value}",
                       f"write a {error.validator_value}")
    fix = f"expected {hint}" if hint else "fix the value"
    what = "the value is invalid" if secret else error.message
    return Problem(_where(env, path), _dotted(path), what, fix)


def semantic_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    cluster = values["cluster"]
    problems = []
    pods, services = ipaddress.ip_network(cluster["pod_cidr"], strict=False), ipaddress.ip_network(
        cluster["service_cidr"], strict=False)
    if pods.overlaps(services):
        problems.append(Problem(_where(env, ("cluster", "service_cidr")), "cluster.service_cidr",
                                f"{services} overlaps cluster.pod_cidr {pods}", "choose disjoint ranges"))
    rke2_version = (cluster.get("rke2") or {}).get("version")
    k8s = cluster.get("k8s_version")
    if rke2_version and k8s and not rke2_version.startswith(k8s + "+"):
        problems.append(Problem(_where(env, ("cluster", "rke2", "version")), "cluster.rke2.version",
                                f"`{rke2_version}` is not a release of cluster.k8s_version {k8s}",
                                f"use {k8s}+rke2rN or drop one of the two"))
    return problems + _unit_problems(env, values)


def _unit_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    units: dict[str, Any] = values.get("units") or {}
    upstreams = set(_pinned_upstreams()) | set(values.get("upstreams") or {})
    problems = []
    for name, unit in units.items():
        for dep in unit.get("depends_on") or []:
            if dep not in units:
                close = _close(dep, list(units))
                problems.append(Problem(_where(env, ("units", name, "depends_on")), f"units.{name}.depends_on",
                                        f"unknown unit `{dep}`",
                                        f"did you mean `{close[0]}`?" if close else "name an existing unit"))
        problems += [Problem(_where(env, ("units", name, "uses")), f"units.{name}.uses",
                             f"unknown upstream `{use}`", f"use one of: {', '.join(sorted(upstreams))}")
                     for use in unit.get("uses") or [] if use not in upstreams]
    if cycle := _cycle(units):
        problems.append(Problem(_where(env, ("units", cycle[0], "depends_on")), f"units.{cycle[0]}.depends_on",
                                f"dependency cycle {' -> '.join(cycle)}", "remove one of these dependencies"))
    return problems


def _cycle(units: dict[str, Any]) -> list[str]:
    """One dependency cycle among units, as a closed path, or [] when there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, trail: list[str]) -> list[str]:
        state[name] = 1
        for dep in (units.get(name) or {}).get("depends_on") or []:
            if dep not in units:
                continue
            if state.get(dep) == 1:
                return [*trail[trail.index(dep):], dep] if dep in trail else [name, dep]
            if dep not in state and (found := visit(dep, [*trail, dep])):
                return found
        state[name] = 2
        return []

    for name in sorted(units):
        if name not in state and (found := visit(name, [name])):
            return found
    return []


def placeholder_warnings(env: Environment) -> list[str]:
    """Shipped placeholders still in place: fine for planning, not for a real bootstrap."""
    warnings = []
    for source in (env.values, env.secrets):
        for path, value in _leaves(source.data):
            if any(mark in str(value) for mark in PLACEHOLDER_MARKS):
                warnings.append(f"{source.at(path)}: {_dotted(path)}: still a placeholder; "
                                "replace it before bootstrapping a real cluster")
    return warnings


def _leaves(node: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [(path, node)]


def _where(env: Environment, path: Path_) -> str:
    """The user file to edit for `path`: the one that sets it, else the one that should."""
    source: Source = env.secrets if path and path[0] == "secrets" else env.values
    for candidate in (env.secrets, env.values):
        if _has(candidate.data, path):
            source = candidate
            break
    return source.at(path)


def _has(data: Any, path: Path_) -> bool:
    for key in path:
        in_list = isinstance(data, list) and isinstance(key, int) and key < len(data)
        if not (in_list or (isinstance(data, dict) and key in data)):
            return False
        data = data[key]
    return True


def _dotted(path: Path_) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[") or "(top level)"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _pinned_upstreams() -> dict[str, Any]:
    from cluster_init.pins import pins

    found: dict[str, Any] = pins()["upstreams"]
    return found




def _close(word: str, candidates: list[str]) -> list[str]:
    import difflib  # only errors pay for it

    return difflib.get_close_matches(word, candidates, n=1)
