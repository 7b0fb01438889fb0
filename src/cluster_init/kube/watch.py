"""Watching a kind: an initial list, then a watch that resumes from the last resourceVersion it saw.

`watch()` yields `Event`s: first ADDED for every object listed, then what the server streams (ADDED,
MODIFIED, DELETED; bookmarks only move the resume point). A dropped or timed-out stream is resumed from the
last resourceVersion. When the server says that version is gone (410, as an HTTP status or an ERROR event),
it lists again and yields what changed meanwhile: MODIFIED/ADDED for objects present, DELETED for those that
went, so the caller's view stays right without duplicates being harmful (events are upserts by key).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from cluster_init.kube.client import Client
from cluster_init.kube.discovery import JSON, Resource
from cluster_init.kube.errors import ApiError, Unreachable

WATCH_SECONDS = 290  # the server ends each watch after this; we resume


@dataclass(frozen=True)
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    object: JSON


def key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


async def watch(client: Client, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                resource_version: str | None = None, watch_seconds: int = WATCH_SECONDS) -> AsyncIterator[Event]:
    """Events of `res` (in `namespace`, or all) until the caller stops iterating. With `resource_version`,
    start from there (no initial list)."""
    known: dict[tuple[str, str], JSON] = {}
    version = resource_version
    if version is None:
        version = ""
    relist = resource_version is None
    failures, failing_since = 0, 0.0
    while True:
        if relist:
            items, version = await client.list_page(res, namespace, label_selector=label_selector)
            fresh = {key(o): o for o in items}
            for k, obj in fresh.items():
                old = known.get(k)
                if old is None or (old.get("metadata") or {}).get("resourceVersion") != obj["metadata"].get(
                        "resourceVersion"):
                    yield Event("ADDED" if old is None else "MODIFIED", obj)
            for k in known.keys() - fresh.keys():
                yield Event("DELETED", known[k])
            known, relist = fresh, False
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(watch_seconds)}
        if version:
            params["resourceVersion"] = version
        if label_selector:
            params["labelSelector"] = label_selector
        try:
            async for line in client.stream(res.path(namespace), params, read_timeout=watch_seconds + 30):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        relist = True
                        break
                    raise ApiError(int(obj.get("code") or 500), str(obj.get("reason") or ""),
                                   str(obj.get("message") or "watch error"), "GET", res.path(namespace))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                obj.setdefault("apiVersion", res.api_version)
                obj.setdefault("kind", res.kind)
                if kind == "DELETED":
                    known.pop(key(obj), None)
                else:
                    known[key(obj)] = obj
                failures = 0
                yield Event(str(kind), obj)
        except ApiError as e:
            if e.gone:
                relist = True
                continue
            if isinstance(e, Unreachable) or not e.transient:
                raise
            # a dropped stream: resume, with backoff, within the client's retry deadline
            now = time.monotonic()
            failing_since = failing_since if failures else now
            if now - failing_since > client.retry.deadline:
                raise
            await asyncio.sleep(client.retry.delay(failures))
            failures += 1
