"""Wait until the target runs the providers of what moves (`cluster-init pivot --wait-for-providers`).

A copy is created through the target's provider webhooks and reconciled by its controllers, so a move into a
cluster whose providers are still starting fails half-way. `clusterctl move` leaves that wait to its user; the
bundle's pivot Job starts while the management cluster's providers are still being installed, and waits here.
The providers are found by the labels Cluster API's manifests and clusterctl put on their controllers'
Deployments, in the source (what is needed) and in the target (what is there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cluster_init import certificates
from cluster_init.kube import Client
from cluster_init.kube.status import readiness
from cluster_init.pivot.discovery import DEPLOYMENT
from cluster_init.pivot.names import CLUSTERCTL_LABEL, PROVIDER_LABEL

SELECTOR = f"{CLUSTERCTL_LABEL},{PROVIDER_LABEL}"


class NotReady(Exception):
    """The target did not run every provider in time; the message says which are missing."""


async def _providers(client: Client, *, available_only: bool) -> set[str]:
    """The provider labels (`<type>-<name>`) of the cluster's provider Deployments (only the Available ones)."""
    return {str(d["metadata"]["labels"][PROVIDER_LABEL]) for d in await client.list(DEPLOYMENT, label_selector=SELECTOR)
            if not available_only or readiness(d).ready}


async def wait(source: Client, target: Client, timeout: float, say: Callable[[str], None],
               interval: float = 1.0) -> None:
    """Poll the target until it runs every provider the source runs (read once), ending meanwhile cert-manager's
    hour-long backoff after its key race there (`certificates`); NotReady at the deadline."""
    deadline = time.monotonic() + timeout
    needed = await _providers(source, available_only=False)
    said = ""
    while lacking := sorted(needed - await _providers(target, available_only=True)):
        await certificates.renew_stuck(target, say)
        message = f"waiting for the target's providers: {', '.join(lacking)}"
        if message != said:
            say(message)
            said = message
        if time.monotonic() >= deadline:
            raise NotReady(f"the target does not run providers {', '.join(lacking)} after {timeout:.0f}s; "
                           "install them there (the Deployments of the same `cluster.x-k8s.io/provider` labels) "
                           "and run again")
        await asyncio.sleep(interval)
