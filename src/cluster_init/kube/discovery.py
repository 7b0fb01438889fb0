"""API discovery: what the server serves, as `Resource`s (group/version, kind, plural, scope, status)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One kind served by the API server."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    has_status: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = group_path(self.api_version)
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


def group_path(api_version: str) -> str:
    """The discovery path of a group/version: /api/v1 for the core group, /apis/GROUP/VERSION otherwise."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def resources(api_version: str, listing: JSON) -> dict[str, Resource]:
    """kind -> Resource from the server's APIResourceList of one group/version."""
    items = listing.get("resources") or []
    with_status = {r["name"].split("/")[0] for r in items if r["name"].endswith("/status")}
    return {r["kind"]: Resource(api_version, r["kind"], r["name"], bool(r["namespaced"]), r["name"] in with_status)
            for r in items if "/" not in r["name"]}
