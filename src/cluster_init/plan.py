"""`cluster-init plan`: the enabled units in apply order, read from the chart's own output."""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from cluster_init.errors import InputError, Problem, RuntimeFailure

FLUX_KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
TARGET_ANNOTATION = "cluster-init/target"
AFTER_APPLIED_ANNOTATION = "cluster-init/after-applied"
UNIT_LABEL = "cluster-init/unit"


class Unit(NamedTuple):
    name: str
    depends_on: list[str]
    path: str
    target: str
    after_applied: list[str]  # units this one starts after once they have applied their manifests (not Ready)


# Every rendering of the chart has this document; output without it is not the chart's.
SIGNATURE = "# Source: telco-cloud-init/templates/vars.yaml"


def unit_documents(stream: str) -> list[dict[str, Any]]:
    """Parse only the documents that can be unit Kustomizations: the rest of the chart is not needed."""
    from cluster_init import yamlfile

    if SIGNATURE not in stream:
        raise RuntimeFailure("helm printed something other than the rendered chart; check the tool")
    return yamlfile.objects("helm", "\n---\n".join(d for d in stream.split("\n---") if UNIT_LABEL in d))


def units(objects: list[dict[str, Any]], where: str) -> list[Unit]:
    """The chart's unit Kustomizations (labelled), in no particular order; refuses paths that leave the
    repository, which the chart can only tell once the user's templates (`tpl`) have been rendered."""
    found, problems = [], []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if (obj.get("apiVersion"), obj.get("kind")) != FLUX_KUSTOMIZATION or UNIT_LABEL not in (
                meta.get("labels") or {}):
            continue
        unit = _unit(obj)
        found.append(unit)
        problems += [Problem(where, f"units.{unit.name}.{field}", f"`{shown}` leads outside the repository",
                             "use a path inside it, starting with ./ and without ..")
                     for field, shown in escaping_paths(unit.path, obj["spec"].get("components") or [])]
    if problems:
        raise InputError(problems)
    return found


def _unit(obj: dict[str, Any]) -> Unit:
    """One unit from a rendered Kustomization; a malformed one is helm's fault, not the user's."""
    try:
        meta, spec = obj["metadata"], obj["spec"]
        target = (meta.get("annotations") or {}).get(TARGET_ANNOTATION, "bootstrap")
        unit = Unit(str(meta["name"]), ready_dependencies(obj), spec["path"], str(target), applied_dependencies(obj))
    except (KeyError, TypeError, AttributeError):
        raise RuntimeFailure("helm printed a unit Kustomization without name or path; check the tool") from None
    if not isinstance(unit.path, str):
        raise RuntimeFailure(f"helm printed unit {unit.name} with a path that is not text; check the tool")
    return unit


def ready_dependencies(unit: Mapping[str, Any]) -> list[str]:
    """The units a unit Kustomization waits to be Ready (its dependsOn without a readyExpr)."""
    return [str(d.get("name")) for d in (unit.get("spec") or {}).get("dependsOn") or [] if "readyExpr" not in d]


def applied_dependencies(unit: Mapping[str, Any]) -> list[str]:
    """The units whose manifests it waits to see applied: its dependsOn (or its child's, when it has a `child`)
    names their child Kustomizations (with a readyExpr), and the chart records the units themselves in an
    annotation."""
    annotations = (unit.get("metadata") or {}).get("annotations") or {}
    return [a for a in str(annotations.get(AFTER_APPLIED_ANNOTATION) or "").split(",") if a]


def escaping_paths(path: str, components: list[Any]) -> list[tuple[str, str]]:
    """(field, value) of the unit's path and components that resolve outside the repository root."""
    import posixpath

    def outside(p: str) -> bool:
        return p.startswith("/") or posixpath.normpath(p).split("/")[0] == ".."

    found = [("path", path)] if outside(path) else []
    found += [("components", str(c)) for c in components if outside(posixpath.join(path, str(c)))]
    return found


def apply_order(found: list[Unit]) -> list[Unit]:
    """Topological order; among ready units, alphabetical, so the plan is stable."""
    by_name = {u.name: u for u in found}
    problems = [Problem("charts/telco-cloud-init", f"units.{u.name}.depends_on",
                        f"names `{d}`, which is not enabled", "enable it or drop the dependency")
                for u in found for d in u.depends_on if d not in by_name]
    if problems:
        raise InputError(problems)
    waiting = {u.name: set(u.depends_on) | set(u.after_applied) for u in found}
    ready = [name for name, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[Unit] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(by_name[name])
        for other, deps in waiting.items():
            if name in deps:
                deps.remove(name)
                if not deps:
                    heapq.heappush(ready, other)
    if len(order) != len(found):
        stuck = sorted(set(by_name) - {u.name for u in order})
        raise InputError([Problem("charts/telco-cloud-init", f"units.{stuck[0]}.depends_on",
                                  f"dependency cycle among {', '.join(stuck)}", "remove one of the dependencies")])
    return order


def as_data(context: str, order: list[Unit]) -> dict[str, Any]:
    return {"context": context, "units": [u._asdict() for u in order]}


def as_json(context: str, order: list[Unit]) -> str:
    return json.dumps(as_data(context, order), indent=2)


def as_yaml(context: str, order: list[Unit]) -> str:
    from cluster_init import yamlfile

    return yamlfile.dump_one(as_data(context, order))


def as_dot(context: str, order: list[Unit]) -> str:
    """Graphviz: edges point from a unit to what it waits for; management-side units are boxes."""
    lines = [f'digraph "{context}" {{', "  rankdir=RL;", '  node [fontname="Helvetica"];']
    for unit in order:
        shape = "box" if unit.target == "management" else "ellipse"
        lines.append(f'  "{unit.name}" [shape={shape}, tooltip="{unit.path}"];')
    lines += [f'  "{u.name}" -> "{d}";' for u in order for d in u.depends_on]
    lines += [f'  "{u.name}" -> "{d}" [style=dashed, tooltip="once applied"];' for u in order for d in u.after_applied]
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_text(context: str, order: list[Unit], environment: str) -> str:
    """A readable tree: each unit in apply order with its target cluster and what it waits for."""
    width = max((len(u.name) for u in order), default=0)
    lines = [f"{environment} · context {context} · {len(order)} units, in apply order"]
    for index, unit in enumerate(order):
        last = index == len(order) - 1
        branch, stem = ("└─", "  ") if last else ("├─", "│ ")
        lines.append(f"{branch} {unit.name:<{width}}  → {unit.target:<10}  {unit.path}")
        if unit.depends_on:
            lines.append(f"{stem}   after: {', '.join(unit.depends_on)}")
        if unit.after_applied:
            lines.append(f"{stem}   once applied: {', '.join(unit.after_applied)}")
    return "\n".join(lines) + "\n"
