"""Server-side apply (or its dry run) of arbitrary objects, with the API discovered from the server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from testenv.kube import ApiClient, ApiError

FIELD_MANAGER = "cluster-init"


class Discovery:
    """kind -> (resource plural, namespaced) per group/version, read from the server once."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._resources: dict[str, dict[str, tuple[str, bool]]] = {}

    def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        if api_version not in self._resources:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self.client.request("GET", base)
            except ApiError as e:
                if e.status == 404:
                    raise ApiError(404, f"the server does not serve apiVersion {api_version}") from None
                raise
            self._resources[api_version] = {
                r["kind"]: (r["name"], r["namespaced"]) for r in listing["resources"] if "/" not in r["name"]}
        found = self._resources[api_version].get(kind)
        if found is None:
            raise ApiError(404, f"the server has no kind {kind} in {api_version}")
        return found

    def path(self, obj: dict[str, Any], namespace: str | None = None) -> str:
        """The object's URL path; namespaced objects without a namespace go to `namespace`."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        plural, namespaced = self.resource(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        ns = (obj.get("metadata") or {}).get("namespace") or namespace
        if namespaced:
            base += f"/namespaces/{quote(ns or 'default')}"
        return f"{base}/{plural}/{quote(obj['metadata']['name'])}"


def apply(client: ApiClient, discovery: Discovery, obj: dict[str, Any], *, dry_run: bool,
          namespace: str | None = None) -> Any:
    """Server-side apply with strict field validation: unknown or misspelled fields are errors."""
    params = f"fieldManager={FIELD_MANAGER}&force=true&fieldValidation=Strict"
    if dry_run:
        params += "&dryRun=All"
    return client.request("PATCH", f"{discovery.path(obj, namespace)}?{params}", obj,
                          content_type="application/apply-patch+yaml")


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[=-]([^}]*))?\}")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Flux post-build substitution: ${VAR}, ${VAR:=default} and ${VAR:-default}; unknown -> ''."""
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(2) or ""), text)
