"""A synchronous facade over the async client, for code that is not async (testenv, tests).

Each call opens a client, runs, and closes it: nothing is left running between calls. Errors are the
package's own (`ApiError`, `KubeconfigError`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from cluster_init.kube import apply as applying
from cluster_init.kube.client import Client, RetryPolicy
from cluster_init.kube.config import KubeConfig
from cluster_init.kube.discovery import JSON
from cluster_init.kube.status import readiness

T = TypeVar("T")
CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class SyncClient:
    """Blocking calls on one cluster. `retry_deadline` 0 sends each request once (probes)."""

    def __init__(self, config: KubeConfig, *, timeout: float = 30.0, retry_deadline: float = 0.0) -> None:
        self.config = config
        self.timeout = timeout
        self.retry_deadline = retry_deadline

    @classmethod
    def from_kubeconfig(cls, path: str | Path, context: str | None = None, **options: Any) -> SyncClient:
        return cls(KubeConfig.load(path, context), **options)

    @property
    def server(self) -> str:
        return self.config.server

    def run(self, work: Callable[[Client], Awaitable[T]]) -> T:
        """Run `work` with an open async client; its result."""
        async def go() -> T:
            async with Client(self.config, timeout=self.timeout,
                              retry=RetryPolicy(deadline=self.retry_deadline)) as client:
                return await work(client)

        return asyncio.run(go())

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
                timeout: float | None = None) -> Any:
        return self.run(lambda c: c.request(method, path, body=body, content_type=content_type, timeout=timeout))

    def apply(self, obj: JSON, **options: Any) -> JSON:
        """Server-side apply (see `kube.apply.apply` for the options)."""
        return self.run(lambda c: applying.apply(c, obj, **options))

    def apply_all(self, objects: Iterable[JSON], **options: Any) -> list[JSON]:
        return self.run(lambda c: applying.apply_all(c, list(objects), **options))


def install_crds(client: SyncClient, docs: Iterable[JSON], timeout: float = 60.0,
                 field_manager: str = "cluster-init-testenv") -> list[str]:
    """Apply CustomResourceDefinitions and wait until each is Established; their names."""
    crds = list(docs)
    for doc in crds:
        if doc.get("kind") != "CustomResourceDefinition":
            raise ValueError(f"expected only CustomResourceDefinitions, found {doc.get('kind')}")
    names = [str(d["metadata"]["name"]) for d in crds]

    async def work(c: Client) -> None:
        for doc in crds:
            await applying.apply(c, doc, field_manager=field_manager, strict=False)
        deadline = time.monotonic() + timeout
        for name in names:
            while not readiness(await c.request("GET", f"{CRD_API}/{name}")).ready:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not Established within {timeout:.0f}s")
                await asyncio.sleep(0.2)

    client.run(work)
    return names
