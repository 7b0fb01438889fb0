"""Comparing a source object with its copy in the target. Reports name fields, never values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster_init.pivot.graph import JSON
from cluster_init.pivot.names import DELETE_FOR_MOVE, SOURCE_UID
from cluster_init.pivot.transfer import SERVER_METADATA, managed_fields, needs_managed_fields


def comparable(obj: Mapping[str, Any], *, with_status: bool = True) -> JSON:
    """The object as the move must preserve it: without server-owned metadata and our own bookkeeping (and
    without the status when the move leaves statuses to the controllers)."""
    out = {k: v for k, v in obj.items() if k != "metadata" and (with_status or k != "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in SERVER_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in (SOURCE_UID, DELETE_FOR_MOVE)}
    meta["annotations"] = annotations
    if not meta.get("finalizers"):
        meta.pop("finalizers", None)
    if not meta.get("labels"):
        meta.pop("labels", None)
    out["metadata"] = meta
    return out


def differences(source: Mapping[str, Any], target: Mapping[str, Any], owner_uids: Mapping[str, str], *,
                with_status: bool = True) -> list[str]:
    """Dotted paths where the copy differs from the source (owner references: by the owners' copies)."""
    diffs = _diff(comparable(source, with_status=with_status), comparable(target, with_status=with_status), "")
    src_refs = [dict(r, uid=owner_uids.get(r["uid"], f"(no copy of {r['uid']})"))
                for r in (source.get("metadata") or {}).get("ownerReferences") or []]
    if src_refs != ((target.get("metadata") or {}).get("ownerReferences") or []):
        diffs.append("metadata.ownerReferences")
    if needs_managed_fields(source) and managed_fields(source) != managed_fields(target):
        diffs.append("metadata.managedFields")
    return diffs


def _diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                out += _diff(a[key], b[key], sub)
        return out
    return [] if a == b else [path or "(object)"]
