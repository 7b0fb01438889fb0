"""What the move writes, object by object: the copy in the target, the deletion from the source, pause."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster_init.kube import ApiError, Client, Resource
from cluster_init.pivot.graph import JSON, Node
from cluster_init.pivot.names import CAPI_PAUSED, DELETE_FOR_MOVE, PAUSED_BY_PIVOT, SOURCE_UID

FIELD_MANAGER = "cluster-init-pivot"  # the field manager of every write the move makes

# Metadata the API server owns (or that names one incarnation of an object): never copied.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "selfLink", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "managedFields", "ownerReferences", "generateName")


class NotOurs(Exception):
    """The target has an object of that name that this move did not create."""

    def __init__(self, node: Node, existing: JSON) -> None:
        self.node, self.existing = node, existing
        super().__init__(node.ref)


def source_uid(obj: Mapping[str, Any]) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_UID)
    return str(value) if value else None


def copy_body(node: Node, owner_uids: Mapping[str, str], *, with_status: bool) -> JSON:
    """The object to create in the target: the source object without server-owned metadata, with the
    owner references pointing at the owners' copies and the source UID recorded in an annotation."""
    src = node.obj or {}
    meta = src.get("metadata") or {}
    # Shallow copies: nothing below is modified in place, and the body is only serialised.
    new_meta = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
    annotations = dict(new_meta.get("annotations") or {})
    annotations.pop(DELETE_FOR_MOVE, None)
    annotations[SOURCE_UID] = node.uid
    new_meta["annotations"] = annotations
    if meta.get("ownerReferences"):
        new_meta["ownerReferences"] = [dict(ref, uid=owner_uids[ref["uid"]]) for ref in meta["ownerReferences"]]
    body = {k: v for k, v in src.items() if k != "metadata" and (with_status or k != "status")}
    body["metadata"] = new_meta
    return body


async def create_copy(target: Client, res: Resource, node: Node, owner_uids: Mapping[str, str]) -> JSON:
    """Create the copy; when a previous attempt already created it (AlreadyExists with our source UID), return
    that one. Raise NotOurs when the name is taken by something else."""
    body = copy_body(node, owner_uids, with_status=not res.has_status)
    try:
        return await target.create(res, body, node.namespace or None, field_manager=FIELD_MANAGER)
    except ApiError as e:
        if not e.already_exists:
            raise
    existing = await target.get(res, node.name, node.namespace or None)
    if source_uid(existing) != node.uid:
        raise NotOurs(node, existing)
    return existing


async def finish_copy(target: Client, res: Resource, node: Node, current: JSON, *, copy_status: bool) -> None:
    """Bring the copy's status marks (`initialization`; with `copy_status`, its whole status) and field managers to
    the source's: status through the status subresource, then managedFields (last: every write adds our own manager
    entry, which this replaces)."""
    src = node.obj or {}
    status = src.get("status") or {}
    if copy_status and res.has_status and "status" in src and current.get("status") != src["status"]:
        patch = [{"op": "add", "path": "/status", "value": src["status"]}]
        current = await target.patch(res, node.name, node.namespace or None, patch, json_patch=True,
                                     subresource="status", field_manager=FIELD_MANAGER)
    elif res.has_status and status.get("initialization") and \
            (current.get("status") or {}).get("initialization") != status["initialization"]:
        current = await target.patch(res, node.name, node.namespace or None,
                                     {"status": {"initialization": status["initialization"]}},
                                     subresource="status", field_manager=FIELD_MANAGER)
    if needs_managed_fields(src) and managed_fields(current) != managed_fields(src):
        full = (src.get("metadata") or {}).get("managedFields")
        await target.patch(res, node.name, node.namespace or None, {"metadata": {"managedFields": full}},
                           field_manager=FIELD_MANAGER)


def needs_managed_fields(obj: Mapping[str, Any]) -> bool:
    """Whether the copy must keep the source's field managers: when one of them is a server-side apply manager.
    Apply managers remove the fields they stop applying, unless another manager also owns them: a copy owned by
    whoever created it would keep such fields forever. Update managers never remove fields, so for objects
    with only those the creator of the copy owning everything behaves the same (and saves a write)."""
    return any(e.get("operation") == "Apply" for e in (obj.get("metadata") or {}).get("managedFields") or [])


def managed_fields(obj: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """managedFields without their timestamps, for comparison."""
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [tuple((k, repr(v)) for k, v in sorted(e.items()) if k != "time") for e in entries]


# What the API server answers a patch whose metadata.uid is not the object's (a newer incarnation of that name):
# 422, uid being immutable (measured on the pinned kube-apiserver), where a delete's UID precondition gives 409.
OTHER_INCARNATION = 422


async def delete_source(source: Client, res: Resource, node: Node) -> None:
    """Delete the source object (that incarnation only: UID preconditions); gone already is fine. An object with
    finalizers is first marked `delete-for-move` (whoever holds a finalizer, and its webhooks, are told the
    deletion is a move), then deleted, then stripped of its finalizers, so that nothing waits for their holders.
    In that order, not stripped first: once its deletion has begun nobody can add a finalizer back (the API server
    refuses), whereas a controller that puts its finalizer back whenever it is missing (Cluster API's do, paused
    or not) would hold a stripped object whose deletion came after, in the source for good. An object without
    finalizers has no such party and is deleted at once (one write instead of three)."""
    if node.finalizers and DELETE_FOR_MOVE not in node.annotations:
        try:
            await source.patch(res, node.name, node.namespace or None,
                               {"metadata": {"uid": node.uid, "annotations": {DELETE_FOR_MOVE: ""}}},
                               field_manager=FIELD_MANAGER)
        except ApiError as e:
            if e.not_found or e.status == OTHER_INCARNATION:  # gone: nothing of ours left to delete
                return
            raise
    await source.delete(res, node.name, node.namespace or None, uid=node.uid)
    if node.finalizers:
        try:
            await source.patch(res, node.name, node.namespace or None,
                               {"metadata": {"uid": node.uid, "finalizers": None}}, field_manager=FIELD_MANAGER)
        except ApiError as e:
            if not (e.not_found or e.status == OTHER_INCARNATION):  # gone, or a newer one that is not ours
                raise


# -- pause ----------------------------------------------------------------------------------------------


def is_cluster(node: Node) -> bool:
    return node.kind == "Cluster" and node.group == "cluster.x-k8s.io"


def paused_by_us(obj: Mapping[str, Any]) -> bool:
    return PAUSED_BY_PIVOT in ((obj.get("metadata") or {}).get("annotations") or {})


def pause_patch(cluster: bool) -> JSON:
    """Clusters pause with spec.paused, ClusterClasses with an annotation; both get our marker."""
    if cluster:
        return {"metadata": {"annotations": {PAUSED_BY_PIVOT: ""}}, "spec": {"paused": True}}
    return {"metadata": {"annotations": {PAUSED_BY_PIVOT: "", CAPI_PAUSED: ""}}}


def unpause_patch(cluster: bool) -> JSON:
    """Undo `pause_patch`: the field and the annotations are removed, not set to false."""
    if cluster:
        return {"metadata": {"annotations": {PAUSED_BY_PIVOT: None}}, "spec": {"paused": None}}
    return {"metadata": {"annotations": {PAUSED_BY_PIVOT: None, CAPI_PAUSED: None}}}


def is_paused(obj: Mapping[str, Any], cluster: bool) -> bool:
    if cluster:
        return bool((obj.get("spec") or {}).get("paused")) and paused_by_us(obj)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return CAPI_PAUSED in annotations and paused_by_us(obj)


async def set_paused(client: Client, res: Resource, namespace: str, name: str, *, cluster: bool, paused: bool,
                     current: JSON | None = None) -> None:
    """Pause, or unpause. Unpausing an object that a server-side apply manager co-owns also drops the field
    manager entry the pause left (it owns the annotations map when the pause created it), so the object's
    managers end as they were; `current` is the object as just read (read here when not given)."""
    patch = pause_patch(cluster) if paused else unpause_patch(cluster)
    if not paused:
        if current is None:
            current = await client.get(res, name, namespace or None)
        if needs_managed_fields(current):
            entries = (current.get("metadata") or {}).get("managedFields") or []
            patch["metadata"]["managedFields"] = [
                e for e in entries if not (e.get("manager") == FIELD_MANAGER and not e.get("subresource"))]
    await client.patch(res, name, namespace or None, patch, field_manager=FIELD_MANAGER)
