"""The asynchronous API client (aiohttp): one per cluster, every request bounded in time and retried sensibly.

- get, list (paginated; restarts on 410), create, update, patch (merge or JSON patch), server-side apply
  (`apply.py`), delete (with UID / resourceVersion preconditions), all with an optional subresource, and a
  streamed GET for watches (`watch.py`);
- bounds the number of requests in flight (one semaphore per client); every request has a connect timeout
  and a read timeout;
- retries with exponential backoff and jitter on 429 (honouring Retry-After), 5xx and connection errors, all
  retries of one request under one deadline (`RetryPolicy.deadline`); 409 conflicts are retried by `modify`;
- a server this client has never reached (refused connection, unknown host, a TLS failure) is not retried:
  that is a wrong address or a cluster that is not running, reported at once as `Unreachable`. Once the
  server answered, the same errors count as transient (an API server restarting);
- never puts object contents in an error: messages name the method, path, status and the server's reason,
  and for Secrets only the reason and the failing field names are kept.

Why aiohttp: measured on the twin, httpx/httpcore cost about 4.7 ms of client CPU per request under
concurrency, aiohttp about 0.6 ms; with both API servers of a pivot on the same two cores that decides how
fast a pivot is.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from cluster_init.kube.config import KubeConfig
from cluster_init.kube.discovery import JSON, Resource, group_path, resources
from cluster_init.kube.errors import ApiError, Unreachable

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: server-side apply bodies are sent as JSON

CONNECT_TIMEOUT = 10.0


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; every retry of one request within one deadline."""

    deadline: float = 60.0  # seconds a request may keep retrying
    base: float = 0.05
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class Stats:
    """Requests sent (including retries), by HTTP method; retries counted separately."""

    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class Client:
    """An async API client for one cluster. Use as `async with Client(config) as c: ...`.

    `timeout` is the read timeout of one request (and its total time); `connect_timeout` the time to open a
    connection."""

    def __init__(self, config: KubeConfig, *, max_in_flight: int = 32, timeout: float = 30.0,
                 connect_timeout: float = CONNECT_TIMEOUT, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.stats = Stats()
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout, sock_read=timeout)
        self._connect_timeout = connect_timeout
        self._max = max_in_flight
        self._sem = asyncio.Semaphore(max_in_flight)
        self._http: aiohttp.ClientSession | None = None
        self._groups: dict[str, dict[str, Resource]] = {}
        self._reached = False

    @property
    def server(self) -> str:
        return self.config.server

    async def __aenter__(self) -> Client:
        config = self.config.resolved()  # runs an exec credential plugin, if any
        # identity: on the loopback or a LAN, gzip of large lists costs the API server more than it saves
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "cluster-init"}
        if config.token and config.token_file is None:  # a token file is read per request (_auth)
            headers["Authorization"] = f"Bearer {config.token}"
        connector = aiohttp.TCPConnector(ssl=config.ssl_context(), limit=self._max, limit_per_host=self._max)
        self._http = aiohttp.ClientSession(config.server, connector=connector, headers=headers, trust_env=False,
                                           timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- raw requests -------------------------------------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("Client used outside `async with`")
        return self._http

    def _auth(self) -> dict[str, str]:
        """The Authorization header when the token lives in a file that is rotated (in-cluster)."""
        token = self.config.current_token() if self.config.token_file is not None else None
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _extra(self, timeout: float | None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.config.tls_server_name:
            extra["server_hostname"] = self.config.tls_server_name
        if timeout is not None:
            extra["timeout"] = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, self._connect_timeout),
                                                     sock_read=timeout)
        return extra

    def _unreachable(self, e: BaseException, method: str, path: str) -> ApiError:
        """The error for a request that got no answer: `Unreachable` when this client never reached the server
        and the cause is not a passing one."""
        if not self._reached and isinstance(e, aiohttp.ClientConnectorError | ssl.SSLError):
            cause = e.os_error if isinstance(e, aiohttp.ClientConnectorError) else e
            if isinstance(e, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
                why = f"TLS failed ({getattr(cause, 'reason', None) or cause}); check the kubeconfig's certificate data"
            elif isinstance(cause, ConnectionRefusedError):
                why = "connection refused; is the cluster running, and is the kubeconfig's server address right?"
            else:
                why = f"{cause.strerror or cause}; check the kubeconfig's server address" \
                    if isinstance(cause, OSError) else f"{cause}"
            return Unreachable(self.server, why, method, path)
        what = f"{type(e).__name__} {e}".rstrip(": ").rstrip()
        return ApiError(0, "", f"cannot reach {self.server}: {what}", method, path)

    async def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                      content_type: str = "application/json", timeout: float | None = None) -> Any:
        """Send one request, retrying transient failures; return the decoded JSON (None when empty; the text
        when the answer is not JSON, as /readyz's `ok`)."""
        http = self._session()
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else {}
        headers |= self._auth()
        extra = self._extra(timeout)
        deadline = time.monotonic() + self.retry.deadline
        attempt = 0
        while True:
            self.stats.requests[method] = self.stats.requests.get(method, 0) + 1
            retry_after = 0.0
            try:
                async with self._sem, http.request(method, path, params=params, data=content, headers=headers,
                                                   **extra) as resp:
                    payload = await resp.read()
                    status, reason, retry_header = resp.status, resp.reason or "", resp.headers.get("Retry-After")
                    is_json = resp.content_type == "application/json"
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                error = self._unreachable(e, method, path)
                if isinstance(error, Unreachable):
                    raise error from None
            else:
                self._reached = True
                if status < 400:
                    return _decode(payload, is_json)
                error = _error(status, reason, payload, method, path)
                if not error.transient:
                    raise error
                retry_after = _retry_after(retry_header)
            wait = max(retry_after, self.retry.delay(attempt))
            if time.monotonic() + wait > deadline:
                raise error
            self.stats.retries += 1
            attempt += 1
            await asyncio.sleep(wait)

    async def stream(self, path: str, params: Mapping[str, str], read_timeout: float) -> AsyncIterator[bytes]:
        """The lines of one long-running GET (a watch), each within `read_timeout`; not retried (the watch
        resumes). ApiError when the server refuses it or cannot be reached."""
        http = self._session()
        extra = self._extra(None)
        extra["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout, sock_read=read_timeout)
        self.stats.requests["WATCH"] = self.stats.requests.get("WATCH", 0) + 1
        try:
            async with http.get(path, params=params, headers=self._auth(), **extra) as resp:
                self._reached = True
                if resp.status >= 400:
                    raise _error(resp.status, resp.reason or "", await resp.read(), "GET", path)
                async for line in resp.content:
                    if line.strip():
                        yield line
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise self._unreachable(e, "GET", path) from None

    # -- discovery ----------------------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The served resource for `kind` in `api_version`; ApiError 404 when it is not served."""
        if api_version not in self._groups:
            self._groups[api_version] = resources(api_version, await self.request("GET", group_path(api_version)))
        found = self._groups[api_version].get(kind)
        if found is None:
            raise ApiError(404, "NotFound", f"the server has no kind {kind} in {api_version}", "GET", api_version)
        return found

    async def resource_of(self, obj: Mapping[str, Any]) -> Resource:
        """The served resource of an object (by its apiVersion and kind)."""
        return await self.resource(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))

    def forget(self, api_version: str | None = None) -> None:
        """Drop cached discovery (all, or one group/version), e.g. after CRDs were installed."""
        if api_version is None:
            self._groups.clear()
        else:
            self._groups.pop(api_version, None)

    # -- verbs --------------------------------------------------------------------------------------

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> JSON:
        obj: JSON = await self.request("GET", res.path(namespace, name))
        return obj

    async def find(self, res: Resource, name: str, namespace: str | None = None) -> JSON | None:
        """The object, or None when it does not exist (404)."""
        try:
            return await self.get(res, name, namespace)
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def list_page(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                        limit: int = 500) -> tuple[list[JSON], str]:
        """Every object of `res` and the list's resourceVersion (where a watch of them starts)."""
        while True:
            items: list[JSON] = []
            params = {"limit": str(limit)}
            if label_selector:
                params["labelSelector"] = label_selector
            try:
                while True:
                    page = await self.request("GET", res.path(namespace), params=params)
                    for item in page.get("items") or []:
                        item.setdefault("apiVersion", res.api_version)
                        item.setdefault("kind", res.kind)
                        items.append(item)
                    meta = page.get("metadata") or {}
                    if not meta.get("continue"):
                        return items, str(meta.get("resourceVersion") or "")
                    params["continue"] = meta["continue"]
            except ApiError as e:
                if not e.gone:  # the continue token expired: list again from the start
                    raise

    async def list(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                   limit: int = 500) -> list[JSON]:
        """Every object of `res` (in `namespace`, or all), following continue tokens; restarts on 410."""
        items, _version = await self.list_page(res, namespace, label_selector=label_selector, limit=limit)
        return items

    async def create(self, res: Resource, obj: JSON, namespace: str | None = None, *,
                     field_manager: str | None = None) -> JSON:
        created: JSON = await self.request("POST", res.path(namespace), body=obj, params=_manager(field_manager))
        return created

    async def update(self, res: Resource, obj: JSON, subresource: str | None = None, *,
                     field_manager: str | None = None) -> JSON:
        meta = obj["metadata"]
        updated: JSON = await self.request("PUT", res.path(meta.get("namespace"), meta["name"], subresource), body=obj,
                                           params=_manager(field_manager))
        return updated

    async def patch(self, res: Resource, name: str, namespace: str | None, patch: Any, *,
                    json_patch: bool = False, subresource: str | None = None,
                    field_manager: str | None = None) -> JSON:
        patched: JSON = await self.request("PATCH", res.path(namespace, name, subresource), body=patch,
                                           content_type=JSON_PATCH if json_patch else MERGE_PATCH,
                                           params=_manager(field_manager))
        return patched

    async def delete(self, res: Resource, name: str, namespace: str | None = None, *, uid: str | None = None,
                     resource_version: str | None = None, propagation: str | None = None) -> None:
        """Delete; a 404 (already gone) is success. With `uid`, only that incarnation is deleted; with
        `resource_version`, only that version of it (409 Conflict otherwise)."""
        body: JSON = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if uid or resource_version:
            body["preconditions"] = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if propagation:
            body["propagationPolicy"] = propagation
        try:
            await self.request("DELETE", res.path(namespace, name), body=body)
        except ApiError as e:
            if not e.not_found:
                raise
            return

    async def modify(self, res: Resource, name: str, namespace: str | None,
                     mutate: Callable[[JSON], Awaitable[bool] | bool]) -> JSON | None:
        """Read-modify-write with retries on 409 conflicts. `mutate` edits the object in place and returns
        whether anything changed (no write when not). Returns the written object, or None if unchanged."""
        deadline = time.monotonic() + self.retry.deadline
        attempt = 0
        while True:
            obj = await self.get(res, name, namespace)
            changed = mutate(obj)
            if not isinstance(changed, bool):
                changed = await changed
            if not changed:
                return None
            try:
                return await self.update(res, obj)
            except ApiError as e:
                wait = self.retry.delay(attempt)
                if not e.conflict or time.monotonic() + wait > deadline:
                    raise
                self.stats.retries += 1
                attempt += 1
                await asyncio.sleep(wait)


def _decode(payload: bytes, is_json: bool) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        if is_json:
            raise
        return payload.decode(errors="replace")


def _manager(name: str | None) -> dict[str, str] | None:
    return {"fieldManager": name} if name else None


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value or "0"), 10.0)
    except ValueError:
        return 0.0


def _error(code: int, phrase: str, payload: bytes, method: str, path: str) -> ApiError:
    """An ApiError from a failed response. Object data never gets into it: for Secrets only the reason
    and the names of the failing fields are kept (the server's message may quote values)."""
    try:
        status = json.loads(payload)
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    reason = str(status.get("reason") or phrase or "")
    if "/secrets" in path:
        details = status.get("details") or {}
        causes = details.get("causes") or []
        fields = sorted({str(c.get("field")) for c in causes if isinstance(c, dict) and c.get("field")})
        message = f"Secret {details['name']}: " if details.get("name") else ""
        message += f"{reason} (fields: {', '.join(fields)})" if fields else reason or "request failed"
    else:
        message = str(status.get("message") or payload[:300].decode(errors="replace") or reason)
    return ApiError(code, reason, message, method, path)
