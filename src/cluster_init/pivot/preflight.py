"""Preconditions of a move. Each problem names the object, says why the move refuses, and what to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cluster_init.errors import Problem
from cluster_init.pivot.graph import JSON, GroupKind, Node, describe
from cluster_init.pivot.names import CAPI_GROUP, DELETE_FOR_MOVE


def established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def missing_types(needed: Iterable[tuple[str, str, str, str]], target_crds: Mapping[GroupKind, Mapping[str, Any]],
                  target_server: str) -> list[Problem]:
    """Every moved kind (group, kind, version, provider) must be served by the target at the version it moves in."""
    problems = []
    for group, kind, version, provider_name in sorted(set(needed)):
        if not group:
            continue  # core kinds (Secret, ConfigMap) are always served
        provider = f" (provider {provider_name})" if provider_name else ""
        crd = target_crds.get((group, kind))
        where = f"target {target_server}"
        if crd is None:
            problems.append(Problem(where, f"{kind}.{group}",
                                    f"has no CustomResourceDefinition for {kind}{provider}, which the move needs",
                                    "install that provider in the target (as in the source), then run the pivot again"))
            continue
        served = [v["name"] for v in crd["spec"].get("versions") or [] if v.get("served")]
        if version not in served:
            problems.append(Problem(where, f"{kind}.{group}",
                                    f"serves {kind} in {', '.join(served) or 'no version'}, not {version} as the "
                                    f"source stores it{provider}",
                                    "install the same provider version in the target as in the source"))
        elif not established(crd):
            problems.append(Problem(where, f"{kind}.{group}", "has its CRD not Established yet",
                                    "wait until the provider install in the target finished, then run again"))
    return problems


def _condition(obj: Mapping[str, Any], kind: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def unprovisioned(nodes: Iterable[Node]) -> list[Problem]:
    """Clusters must have their infrastructure ready and control plane initialized (and ready, when they have
    one); Machines must have a node. Otherwise controllers are mid-way and pausing could lose their work."""
    problems = []
    for node in nodes:
        if node.group != CAPI_GROUP or node.obj is None:
            continue
        obj, status = node.obj, node.obj.get("status") or {}
        fix = "wait until Cluster API finished provisioning it (or delete it), then run the pivot again"
        if node.kind == "Cluster":
            if not status.get("infrastructureReady"):
                problems.append(Problem(node.ref, "status.infrastructureReady",
                                        "the infrastructure is still being provisioned", fix))
            elif _condition(obj, "ControlPlaneInitialized") != "True":
                problems.append(Problem(node.ref, "status.conditions[ControlPlaneInitialized]",
                                        "the control plane is not initialized yet", fix))
            elif (obj.get("spec") or {}).get("controlPlaneRef") and not status.get("controlPlaneReady"):
                problems.append(Problem(node.ref, "status.controlPlaneReady", "the control plane is not ready yet",
                                        fix))
        elif node.kind == "Machine" and not status.get("nodeRef"):
            problems.append(Problem(node.ref, "status.nodeRef", "the machine has no node yet", fix))
    return problems


def being_deleted(nodes: Iterable[Node]) -> list[Problem]:
    """Objects being deleted cannot move (unless it is this move deleting them: a resumed delete phase)."""
    return [Problem(n.ref, "metadata.deletionTimestamp", "is being deleted",
                    "wait until the deletion finished (or cancel it), then run the pivot again")
            for n in nodes
            if n.obj is not None and n.obj["metadata"].get("deletionTimestamp")
            and DELETE_FOR_MOVE not in n.annotations]


def taken(node: Node, existing: JSON, target_server: str) -> Problem:
    return Problem(f"target {target_server}", describe(node.kind, node.namespace, node.name),
                   "already exists there and was not created by this move (no matching source UID)",
                   "delete it from the target, or move a namespace that does not collide, then run again")
