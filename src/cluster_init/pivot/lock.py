"""One pivot at a time per cluster: a Lease that the running pivot renews, and removes when it is done.

Two pivots writing the same clusters at once would lose nothing (every write is idempotent and checked),
but they would undo each other's pauses and repairs and fail loudly. So the cluster a pivot writes first
(the source; the target of a restore) holds the Lease `kube-system/cluster-init-pivot`, which names the
pivot running. A pivot that finds it:

- held by a process of this machine that no longer exists (a pivot killed half-way) takes it over at
  once: "run the same command again" keeps working;
- held by anyone else, watches it for the holder's lease duration: renewed, another pivot is running and
  this one stops, changing nothing; not renewed, its holder is gone and this one takes it over.

Only renewals are compared, never timestamps, since the clocks of two machines may disagree (as Kubernetes
leader election does).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import socket
import uuid
from collections.abc import AsyncIterator

from cluster_init.kube import ApiError, Client, Resource
from cluster_init.pivot.graph import JSON

NAME, NAMESPACE = "cluster-init-pivot", "kube-system"
DURATION = 15  # seconds without a renewal after which a holder counts as gone
RENEW_EVERY = DURATION / 5


class Busy(Exception):
    """Another pivot holds the lock and keeps renewing it."""


class Lost(Exception):
    """The lock was taken over (this pivot could not renew it for too long) or deleted while this pivot ran."""


@contextlib.asynccontextmanager
async def held(client: Client, *, poll: float = 0.5) -> AsyncIterator[None]:
    """Hold the pivot lock of `client`'s cluster for the body; raise Busy when another pivot holds it."""
    res = await client.resource("coordination.k8s.io/v1", "Lease")
    me = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    lease = await _acquire(client, res, me, poll)
    body = asyncio.current_task()
    lost: list[str] = []
    renewer = asyncio.create_task(_renew(client, res, me, lease, lost, body))
    try:
        yield
    except asyncio.CancelledError:
        if lost:
            raise Lost(f"the lease {NAMESPACE}/{NAME} on {client.server} was taken over by {lost[0]}; "
                       "this pivot stopped") from None
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        if not lost:
            await _release(client, res, me)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _spec(me: str, transitions: int) -> JSON:
    now = _now()
    return {"holderIdentity": me, "leaseDurationSeconds": DURATION, "acquireTime": now, "renewTime": now,
            "leaseTransitions": transitions}


async def _acquire(client: Client, res: Resource, me: str, poll: float) -> JSON:
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": NAME, "namespace": NAMESPACE}, "spec": _spec(me, 0)}
    try:
        created: JSON = await client.create(res, lease, NAMESPACE)
        return created
    except ApiError as e:
        if not e.already_exists:
            raise
    current = await client.get(res, NAME, NAMESPACE)
    if not _gone_from_here(current):
        current = await _wait_for_silence(client, res, current, poll)
    current["spec"] = _spec(me, int((current.get("spec") or {}).get("leaseTransitions") or 0) + 1)
    try:
        updated: JSON = await client.update(res, current)
        return updated
    except ApiError as e:
        if e.conflict:  # a third pivot took it over first
            raise Busy(_busy(client, await client.get(res, NAME, NAMESPACE))) from None
        raise


def _holder(lease: JSON) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _gone_from_here(lease: JSON) -> bool:
    """Whether the holder is a process of this machine that has exited (or the lease names no holder)."""
    host, _, rest = _holder(lease).partition("/")
    pid = rest.partition("/")[0]
    if not host or not pid.isdigit():
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


async def _wait_for_silence(client: Client, res: Resource, lease: JSON, poll: float) -> JSON:
    """Watch the lease for its holder's duration; Busy as soon as it is renewed, the lease once it was not."""
    seconds = float((lease.get("spec") or {}).get("leaseDurationSeconds") or DURATION)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await asyncio.sleep(poll)
        current = await client.get(res, NAME, NAMESPACE)
        if current["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"]:
            if _holder(current) and not _gone_from_here(current):
                raise Busy(_busy(client, current))
            lease, deadline = current, loop.time() + seconds  # released or replaced: watch the new state
    return lease


def _busy(client: Client, lease: JSON) -> str:
    return (f"another pivot is running ({_holder(lease)} holds the lease {NAMESPACE}/{NAME} on {client.server} "
            "and renews it); wait for it to finish, then run this again")


async def _renew(client: Client, res: Resource, me: str, lease: JSON, lost: list[str],
                 body: asyncio.Task[object] | None) -> None:
    """Renew until cancelled. A failed renewal is retried at the next turn; a lease now held by someone else
    means this pivot lost it: stop the body."""
    while True:
        await asyncio.sleep(RENEW_EVERY)
        try:
            lease["spec"]["renewTime"] = _now()
            lease = await client.update(res, lease)
        except ApiError as e:
            if not (e.conflict or e.not_found):
                continue  # the client retried already; try again at the next turn
            try:
                current = await _current(client, res)
            except ApiError:
                continue
            if current is not None and _holder(current) == me:  # a stale copy of our own lease: retry with this
                lease = current
                continue
            lost.append(_holder(current) if current is not None else "someone who deleted the lease")
            if body is not None:
                body.cancel()
            return


async def _current(client: Client, res: Resource) -> JSON | None:
    try:
        return await client.get(res, NAME, NAMESPACE)
    except ApiError as e:
        if e.not_found:
            return None
        raise


async def _release(client: Client, res: Resource, me: str) -> None:
    """Delete the lease if this pivot still holds it (that incarnation only). When the cluster cannot be
    reached, leave it: a pivot of this machine takes it over at once, any other after DURATION."""
    with contextlib.suppress(ApiError):
        current = await _current(client, res)
        if current is not None and _holder(current) == me:
            await client.delete(res, NAME, NAMESPACE, uid=current["metadata"]["uid"])
