"""Server-side apply: the server merges our intent with what others own, and records us as `field_manager`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cluster_init.kube.client import APPLY_PATCH, Client
from cluster_init.kube.discovery import JSON

FIELD_MANAGER = "cluster-init"


async def apply(client: Client, obj: JSON, *, field_manager: str = FIELD_MANAGER, force: bool = True,
                dry_run: bool = False, strict: bool = True, namespace: str | None = None) -> JSON:
    """Apply one object. A namespaced object without a namespace goes to `namespace` (else `default`).
    `force` takes over fields other managers own; `strict` makes unknown or duplicated fields errors;
    `dry_run` has the server check and default it without storing it."""
    res = await client.resource_of(obj)
    meta = obj.get("metadata") or {}
    ns = (meta.get("namespace") or namespace or "default") if res.namespaced else None
    params = {"fieldManager": field_manager}
    if force:
        params["force"] = "true"
    if strict:
        params["fieldValidation"] = "Strict"
    if dry_run:
        params["dryRun"] = "All"
    applied: JSON = await client.request("PATCH", res.path(ns, str(meta.get("name") or "")), body=obj, params=params,
                                         content_type=APPLY_PATCH)
    return applied


async def apply_all(client: Client, objects: Iterable[JSON], **options: Any) -> list[JSON]:
    """Apply objects in order (CRDs and namespaces first is the caller's business)."""
    return [await apply(client, obj, **options) for obj in objects]
