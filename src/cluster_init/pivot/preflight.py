"""Preconditions of a move. Each problem names the object, says why the move refuses, and what to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cluster_init.errors import Problem
from cluster_init.pivot.graph import JSON, GroupKind, Node, describe
from cluster_init.pivot.names import CAPI_GROUP, CAPI_PAUSED, CONTRACT, DELETE_FOR_MOVE, PAUSED_BY_PIVOT


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
    """The status of a v1beta2 (metav1.Condition) condition in `status.conditions`, None when absent."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def _ref_defined(ref: Any) -> bool:
    """Whether a v1beta2 ContractVersionedObjectReference ({apiGroup, kind, name}) is set (Cluster API's
    `IsDefined`: any of its fields)."""
    return isinstance(ref, Mapping) and any(ref.get(k) for k in ("apiGroup", "kind", "name"))


def unprovisioned(nodes: Iterable[Node]) -> list[Problem]:
    """Whether Cluster API finished provisioning, judged as `clusterctl move` of the pinned Cluster API does
    (v1beta2): a Cluster needs `status.initialization.infrastructureProvisioned`, then the condition
    ControlPlaneInitialized True (absent counts as not), then, when it has a `spec.controlPlaneRef`,
    `status.initialization.controlPlaneInitialized`; the first that fails is its problem. A Machine needs
    `status.nodeRef.name`. Otherwise controllers are mid-way and pausing could lose their work."""
    problems = []
    for node in nodes:
        if node.group != CAPI_GROUP or node.obj is None:
            continue
        obj, status = node.obj, node.obj.get("status") or {}
        initialization = status.get("initialization") or {}
        fix = "wait until Cluster API finished provisioning it (or delete it), then run the pivot again"
        if node.kind == "Cluster":
            if initialization.get("infrastructureProvisioned") is not True:
                problems.append(Problem(node.ref, "status.initialization.infrastructureProvisioned",
                                        "the infrastructure is still being provisioned", fix))
            elif _condition(obj, "ControlPlaneInitialized") != "True":
                problems.append(Problem(node.ref, "status.conditions[ControlPlaneInitialized]",
                                        "the control plane is not initialized yet", fix))
            elif _ref_defined((obj.get("spec") or {}).get("controlPlaneRef")) and \
                    initialization.get("controlPlaneInitialized") is not True:
                problems.append(Problem(node.ref, "status.initialization.controlPlaneInitialized",
                                        "the control plane is not initialized yet", fix))
        elif node.kind == "Machine" and not ((status.get("nodeRef") or {}).get("name")):
            problems.append(Problem(node.ref, "status.nodeRef", "the machine has no node yet", fix))
    return problems


def paused_by_others(nodes: Iterable[Node]) -> list[Problem]:
    """Clusters (`spec.paused` or the `cluster.x-k8s.io/paused` annotation) and ClusterClasses (the annotation)
    that something other than this move paused: `clusterctl move` refuses to start on them, since unpausing them
    at the end would undo someone else's pause. A pause carrying our marker is this move's own (a resumed run)."""
    problems = []
    for node in nodes:
        if node.group != CAPI_GROUP or node.kind not in ("Cluster", "ClusterClass") or node.obj is None:
            continue
        if PAUSED_BY_PIVOT in node.annotations:
            continue
        if CAPI_PAUSED in node.annotations:
            field = f"metadata.annotations[{CAPI_PAUSED}]"
        elif node.kind == "Cluster" and (node.obj.get("spec") or {}).get("paused"):
            field = "spec.paused"
        else:
            continue
        problems.append(Problem(node.ref, field, "is paused, and not by this move",
                                "unpause it (or wait for whoever paused it to finish), then run the pivot again"))
    return problems


def contract(stored: str | None, where: str) -> list[Problem]:
    """The management cluster `where` must store Clusters (`stored`: the storage version of its Cluster CRD) at
    the Cluster API contract the move reads, as `clusterctl move` of the pinned Cluster API checks of both
    clusters; a cluster without the Cluster CRD (None) is left to the other checks."""
    if stored is None or stored == CONTRACT:
        return []
    return [Problem(where, f"Cluster.{CAPI_GROUP}",
                    f"stores Clusters in {stored}, not in the {CONTRACT} contract this pivot moves",
                    f"upgrade Cluster API there to a release of the {CONTRACT} contract (as pinned), then run "
                    "the pivot again")]


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
