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
from cluster_init.plan import escaping_paths
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


def _go_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    """JSON Schema `pattern` as Helm checks it (Go regexp): `$` is the end of the text.

    Python's `$` also matches before a final newline, so `name: "x\\n"` would pass here, and then
    fail in Helm, or worse, carry a newline into the generated YAML.
    """
    import re

    from jsonschema import ValidationError

    if isinstance(instance, str) and not re.search(re.sub(r"(?<!\\)\$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def schema_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    from jsonschema import Draft7Validator, validators  # imported here: only validation pays for it

    go_validator = validators.extend(Draft7Validator, {"pattern": _go_pattern})  # type: ignore[no-untyped-call]
    validator = go_validator(schema())
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
    """What the schema cannot say. Expects values that pass the schema."""
    cluster = values["cluster"]
    problems = _network_problems(env, cluster)
    rke2_version = (cluster.get("rke2") or {}).get("version")
    k8s = cluster.get("k8s_version")
    if rke2_version and k8s and not rke2_version.startswith(k8s + "+"):
        problems.append(Problem(_where(env, ("cluster", "rke2", "version")), "cluster.rke2.version",
                                f"`{rke2_version}` is not a release of cluster.k8s_version {k8s}",
                                f"use {k8s}+rke2rN or drop one of the two"))
    return (problems + _source_problems(env, values) + _unit_problems(env, values)
            + _duration_problems(env, values) + _upstream_problems(env, values) + _template_problems(env))


def _source_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    """A git source's Secret is made, on both clusters, from `secrets.source`: naming one without giving the
    credentials would leave the management cluster with an empty copy, and its Flux unable to fetch."""
    source = values.get("source") or {}
    if source.get("secret_ref") and source.get("kind") != "OCIRepository" \
            and not (values.get("secrets") or {}).get("source"):
        return [Problem(_where(env, ("source", "secret_ref")), "source.secret_ref",
                        "names the git remote's credentials, but secrets.source is not set",
                        "add `source: {username: …, password: …}` under `secrets:` in secrets.yaml")]
    return []


NODE_MASK = 24  # the per-node pod range kubeadm and RKE2 give each node
SERVICE_MIN_PREFIX = 12  # kube-apiserver refuses a larger service range


def _network_problems(env: Environment, cluster: dict[str, Any]) -> list[Problem]:
    """Each range a real, usable IPv4 network; pod, service and node ranges pairwise disjoint."""
    fields = {"cluster.pod_cidr": cluster.get("pod_cidr"), "cluster.service_cidr": cluster.get("service_cidr"),
              "cluster.capo.node_cidr": (cluster.get("capo") or {}).get("node_cidr")}
    problems: list[Problem] = []
    networks: dict[str, Any] = {}
    for field, text in fields.items():
        if text is not None:
            network, problem = _network(env, field, str(text))
            problems += [problem] if problem else []
            networks.update({field: network} if network else {})
    pods, services = networks.get("cluster.pod_cidr"), networks.get("cluster.service_cidr")
    nodes = int(cluster.get("control_plane_replicas") or 0) + int(cluster.get("worker_replicas") or 0)
    if pods is not None and 2 ** max(NODE_MASK - pods.prefixlen, -1) < nodes:
        problems.append(_at(env, "cluster.pod_cidr", f"{pods} has room for fewer than {nodes} nodes "
                            f"(each node takes a /{NODE_MASK})", "use a larger range, such as 192.168.0.0/16"))
    if services is not None and services.prefixlen < SERVICE_MIN_PREFIX:
        problems.append(_at(env, "cluster.service_cidr", f"{services} is larger than Kubernetes allows",
                            f"use a /{SERVICE_MIN_PREFIX} or smaller range, such as 10.96.0.0/12"))
    names = list(networks)
    problems += [_at(env, b, f"{networks[b]} overlaps {a} {networks[a]}", "choose disjoint ranges")
                 for i, a in enumerate(names) for b in names[i + 1:] if networks[a].overlaps(networks[b])]
    for index, server in enumerate((cluster.get("capo") or {}).get("dns_nameservers") or []):
        try:
            ipaddress.IPv4Address(str(server))
        except ValueError:
            problems.append(_at(env, f"cluster.capo.dns_nameservers[{index}]", f"`{server}` is not an IPv4 address",
                                "write four numbers from 0 to 255, such as 10.0.0.2"))
    return problems


def _network(env: Environment, field: str, text: str) -> tuple[Any, Problem | None]:
    """The network a CIDR field names, or the problem with it (a bad octet, host bits, a reserved range)."""
    try:
        network = ipaddress.IPv4Network(text)
    except ipaddress.NetmaskValueError:
        return None, _at(env, field, f"`{text}` has a bad prefix length", "use /0 to /32")
    except ValueError:
        if "/" in text and _valid_address(text.split("/")[0]):
            fixed = ipaddress.IPv4Network(text, strict=False)
            return None, _at(env, field, f"`{text}` has host bits set", f"did you mean {fixed}?")
        return None, _at(env, field, f"`{text}` is not an IPv4 CIDR (each of the four numbers is 0 to 255)",
                         "write it like 192.168.0.0/16")
    if network.is_loopback or network.is_multicast or network.is_link_local or network.is_unspecified or \
            network.is_reserved or network.prefixlen == 0:
        return None, _at(env, field, f"{network} is a reserved range no cluster can use",
                         "use a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    return network, None


def _valid_address(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _at(env: Environment, field: str, what: str, fix: str) -> Problem:
    """A problem about a dotted field (`a.b[0]`), placed at its line in the file that sets it."""
    import re

    path: Path_ = tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", field) if p)
    return Problem(_where(env, path), field, what, fix)


DURATION_FIELDS = ("interval", "retry_interval", "timeout")
MAX_DURATION_NS = (1 << 63) - 1  # Go's time.Duration
_UNIT_NS = {"ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}


def _duration_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    """Durations Go can hold (no overflow) and that are not zero (a zero interval spins the controller)."""
    places: list[tuple[Path_, dict[str, Any]]] = [(("unit_defaults",), values.get("unit_defaults") or {})]
    places += [(("units", name), unit) for name, unit in (values.get("units") or {}).items()]
    problems = []
    for path, settings in places:
        for field in DURATION_FIELDS:
            text = settings.get(field)
            if not isinstance(text, str):
                continue
            ns = _duration_ns(text)
            if ns is None or ns == 0 or ns > MAX_DURATION_NS:
                what = "is zero" if ns == 0 else "is longer than a Go duration can hold (about 292 years)"
                problems.append(Problem(_where(env, (*path, field)), _dotted((*path, field)), what,
                                        "write a duration such as 30s, 10m or 1h"))
    return problems


def _duration_ns(text: str) -> int | None:
    """Nanoseconds of a schema-valid Go duration (`1h30m`, `1.5s`), exactly; None if it is not one."""
    import re

    parts = re.findall(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h)", text)
    if not parts or "".join(w + (f".{f}" if f else "") + u for w, f, u in parts) != text:
        return None
    total: int = sum(int(w + f) * _UNIT_NS[u] // 10 ** len(f) for w, f, u in parts)
    return total


def _upstream_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    """Every upstream an enabled unit uses, after overrides, names a Flux source kind and a URL."""
    pinned = _pinned_upstreams()
    overrides = values.get("upstreams") or {}
    used = {use for unit in (values.get("units") or {}).values() if unit.get("enabled", True)
            for use in unit.get("uses") or []}
    problems = []
    for name in sorted(used & set(overrides)):
        merged = {**(pinned.get(name) or {}), **overrides[name]}
        missing = [key for key in ("kind", "url") if not merged.get(key)]
        if missing:
            problems.append(Problem(_where(env, ("upstreams", name)), f"upstreams.{name}",
                                    f"has no {' and no '.join(missing)}",
                                    "add kind (GitRepository, OCIRepository or HelmRepository) and url"))
    return problems


def _template_problems(env: Environment) -> list[Problem]:
    """Templates in the user's values may read plain values only: the chart renders some of them (`tpl`)
    into what `plan` and `render` print, so one that reached the secrets would print them."""
    import re

    problems = []
    for path, value in _leaves(env.values.data):
        for action in re.findall(r"{{(.*?)}}", value, re.DOTALL) if isinstance(value, str) else []:
            if not _safe_template(action):
                problems.append(Problem(env.values.at(path), _dotted(path),
                                        "this template may only read `.Values.<field>` outside `secrets`",
                                        "refer to plain values only, e.g. {{ .Values.cluster.name }}"))
                break
    return problems


def _safe_template(action: str) -> bool:
    """No `secrets`, no whole-context reference (`.`, `$`, `.Values`), no `include`/`tpl` indirection."""
    import re

    if re.search(r"secrets|\b(include|tpl|template|lookup)\b", action, re.IGNORECASE):
        return False
    rest = re.sub(r"\$?\.Values(\.[A-Za-z_][A-Za-z0-9_]*)+", "", action)  # .Values.<field>...
    rest = re.sub(r"\"(\\.|[^\"\\])*\"|`[^`]*`", "", rest)  # string literals
    return not re.search(r"\.Values|\$(?![A-Za-z_])|(?<![A-Za-z0-9_)\]])\.(?![0-9])", rest)


def _unit_problems(env: Environment, values: dict[str, Any]) -> list[Problem]:
    units: dict[str, Any] = values.get("units") or {}
    upstreams = set(_pinned_upstreams()) | set(values.get("upstreams") or {})
    problems = []
    for name, unit in units.items():
        for field in ("depends_on", "after_applied"):
            for dep in unit.get(field) or []:
                if dep not in units:
                    close = _close(dep, list(units))
                    problems.append(Problem(_where(env, ("units", name, field)), f"units.{name}.{field}",
                                            f"unknown unit `{dep}`",
                                            f"did you mean `{close[0]}`?" if close else "name an existing unit"))
        problems += [Problem(_where(env, ("units", name, field)), f"units.{name}.{field}",
                             f"`{shown}` leads outside the repository", "use a path inside it, without ..")
                     for field, shown in escaping_paths(unit.get("path") or ".", unit.get("components") or [])
                     if "{{" not in shown]  # templates are checked once rendered (plan.units)
        problems += [Problem(_where(env, ("units", name, "uses")), f"units.{name}.uses",
                             f"unknown upstream `{use}`", f"use one of: {', '.join(sorted(upstreams))}")
                     for use in unit.get("uses") or [] if use not in upstreams]
    if cycle := _cycle(units):
        problems.append(Problem(_where(env, ("units", cycle[0], "depends_on")), f"units.{cycle[0]}.depends_on",
                                f"dependency cycle {' -> '.join(cycle)}", "remove one of these dependencies"))
    return problems


def _waits_for(unit: dict[str, Any]) -> list[str]:
    """The units this one starts after: Ready (`depends_on`) or applied (`after_applied`, null entries dropped)."""
    applied = [dep for dep, child in (unit.get("after_applied") or {}).items() if child]
    return [*(unit.get("depends_on") or []), *applied]


def _cycle(units: dict[str, Any]) -> list[str]:
    """One dependency cycle among units, as a closed path, or [] when there is none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str, trail: list[str]) -> list[str]:
        state[name] = 1
        for dep in _waits_for(units.get(name) or {}):
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
