"""Re-issuing the Certificates that cert-manager failed through its own key race (cert-manager#6331).

cert-manager can replace a Certificate's next private key while the request signed with the previous one is in
flight; the self-signed issuer then refuses that request ("CSR not signed by referenced private key") and
cert-manager backs the Certificate off for an hour before it tries again. Both the pinned v1.21.2 and the stack's
v1.11.5 do this (the fix, cert-manager#9116, came later). A provider's serving certificate stuck that way stops
its controller, and the bootstrap, for that hour. cert-manager's own answer is `cmctl renew`: this does the same,
for that failure only, while bootstrap follows the bootstrap cluster and while the pivot waits for the management
cluster's providers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from cluster_init.kube import ApiError, Client
from cluster_init.kube.status import condition, timestamp

API_VERSION = "cert-manager.io/v1"
RACE = "CSR not signed by referenced private key"  # the self-signed issuer's refusal, in the Issuing condition
SETTLED = dt.timedelta(seconds=2)  # a request failed in the new Issuing condition's second would fail it again


def _stuck(cert: dict[str, Any], now: dt.datetime) -> bool:
    """Backed off after the key race, and long enough ago that cert-manager takes the new attempt as new."""
    issuing = condition(cert, "Issuing") or {}
    if issuing.get("status") != "False" or RACE not in str(issuing.get("message", "")):
        return False
    failed = timestamp((cert.get("status") or {}).get("lastFailureTime"))
    return failed is not None and now - failed >= SETTLED


def _triggered(cert: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """`cert` with the Issuing condition `cmctl renew` sets."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = cert.setdefault("status", {})
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Issuing"] + [{
        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered", "lastTransitionTime": stamp,
        "observedGeneration": cert["metadata"].get("generation"),
        "message": "Certificate re-issuance triggered by cluster-init after cert-manager's key race "
                   "(cert-manager#6331)"}]
    return cert


async def renew_stuck(client: Client, say: Callable[[str], None]) -> list[str]:
    """Trigger a new issuance of every Certificate backed off after the key race; the `namespace/name`s renewed.
    Best effort: nothing when cert-manager is not installed yet or the API fails (the caller's own wait reports
    a cluster that does not answer). The write carries the resourceVersion read, so a Certificate cert-manager
    changed meanwhile is left to the next call."""
    try:
        res = await client.resource(API_VERSION, "Certificate")
        found = await client.list(res)
    except ApiError:
        client.forget(API_VERSION)
        return []
    now = dt.datetime.now(dt.UTC)
    renewed = []
    for cert in (c for c in found if _stuck(c, now)):
        ref = f"{cert['metadata']['namespace']}/{cert['metadata']['name']}"
        try:
            await client.update(res, _triggered(cert, now), subresource="status")
        except ApiError:
            continue
        say(f"Certificate {ref}: cert-manager failed its issuance through its key race (cert-manager#6331) and "
            "backed it off for an hour; issuance triggered again, as `cmctl renew` does")
        renewed.append(ref)
    return renewed


async def keep_renewing(client: Client, say: Callable[[str], None], every: float = 5.0) -> None:
    """`renew_stuck` every `every` seconds until cancelled (bootstrap runs it while it follows the units)."""
    while True:
        await renew_stuck(client, say)
        await asyncio.sleep(every)
