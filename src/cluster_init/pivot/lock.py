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

from cluster_init.kube import ApiError, Client, KubeConfig, Resource, RetryPolicy
from cluster_init.pivot.graph import JSON

NAME, NAMESPACE = "cluster-init-pivot", "kube-system"
DURATION = 30  # seconds without a renewal after which a holder counts as gone
RENEW_EVERY = DURATION / 6
RELEASE_WITHIN = 5.0  # seconds the release may take at the end; an unreachable cluster must not hold the exit


class Busy(Exception):
    """Another pivot holds the lock and keeps renewing it."""


class Lost(Exception):
    """While this pivot ran, its lock was taken over or deleted, or could not be renewed in time."""


@contextlib.asynccontextmanager
async def held(config: KubeConfig, *, retry: RetryPolicy | None = None, poll: float = 0.5) -> AsyncIterator[None]:
    """Hold the pivot lock of `config`'s cluster for the body; raise Busy when another pivot holds it, and Lost
    when the lock is lost while the body runs (the body is cancelled then). The lock has a client (and
    connections) of its own: renewals must not queue behind the thousands of requests of the move."""
    async with Client(config, max_in_flight=2, retry=retry) as client, _held(client, poll):
        yield


@contextlib.asynccontextmanager
async def _held(client: Client, poll: float) -> AsyncIterator[None]:
    res = await client.resource("coordination.k8s.io/v1", "Lease")
    me = identity()
    lease = await _acquire(client, res, me, poll)
    body = asyncio.current_task()
    lost: list[str] = []
    renewer = asyncio.create_task(_renew(client, res, me, lease, lost, body))
    try:
        try:
            yield
        except asyncio.CancelledError:
            if not lost or body is None:
                raise
            body.uncancel()
        if lost:
            raise Lost(f"the lease {NAMESPACE}/{NAME} on {client.server} {lost[0]}; this pivot stopped")
    finally:
        renewer.cancel()
        await asyncio.gather(renewer, return_exceptions=True)
        if not lost:
            with contextlib.suppress(TimeoutError):  # unreachable: the lease expires by itself
                await asyncio.wait_for(_release(client, res, me), RELEASE_WITHIN)


def identity() -> str:
    """host/pid/pid-namespace/nonce: enough to tell, on this machine, whether the holder still exists."""
    return f"{socket.gethostname()}/{os.getpid()}/{_pid_namespace()}/{uuid.uuid4().hex[:8]}"


def _pid_namespace() -> str:
    """The process-id namespace (containers sharing the host name have their own), or '-' if unknown."""
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "-"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _spec(me: str, transitions: int) -> JSON:
    now = _now()
    return {"holderIdentity": me, "leaseDurationSeconds": DURATION, "acquireTime": now, "renewTime": now,
            "leaseTransitions": transitions}


async def _acquire(client: Client, res: Resource, me: str, poll: float) -> JSON:
    """Create the lease, or take over one whose holder is gone; Busy when its holder keeps renewing it."""
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": NAME, "namespace": NAMESPACE}, "spec": _spec(me, 0)}
    while True:
        try:
            created: JSON = await client.create(res, lease, NAMESPACE)
            return created
        except ApiError as e:
            if not e.already_exists:
                raise
        try:
            current = await client.get(res, NAME, NAMESPACE)
            if not _gone_from_here(current):
                current = await _wait_for_silence(client, res, current, poll)
            current["spec"] = _spec(me, int((current.get("spec") or {}).get("leaseTransitions") or 0) + 1)
            updated: JSON = await client.update(res, current)
            return updated
        except ApiError as e:
            if e.not_found:  # released meanwhile: create it
                continue
            if e.conflict:  # a third pivot took it over first
                raise Busy(_busy(client, await client.get(res, NAME, NAMESPACE))) from None
            raise


def _holder(lease: JSON) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity") or "")


def _gone_from_here(lease: JSON) -> bool:
    """Whether the holder is a process of this machine (and pid namespace) that has exited, or there is none."""
    host, pid, pid_ns, *_ = [*_holder(lease).split("/"), "", "", ""]
    if not host or not pid.isdigit():
        return True
    if host != socket.gethostname() or pid_ns != _pid_namespace():
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(") ", 1)[1][:1] == "Z"  # exited, not yet reaped by its parent
    except FileNotFoundError:
        return True
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
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
    """Renew every RENEW_EVERY seconds until cancelled. When the lease is someone else's now, or no renewal
    got through for longer than a holder may stay silent, this pivot has lost it: say why and stop the body."""
    loop = asyncio.get_running_loop()
    last_renewed = loop.time()
    while True:
        await asyncio.sleep(RENEW_EVERY)
        try:
            lease, why = await _renew_once(client, res, me, lease)
        except (ApiError, TimeoutError):
            if loop.time() - last_renewed < DURATION - RENEW_EVERY:
                continue  # try again at the next turn
            why = f"could not be renewed for {DURATION - RENEW_EVERY:.0f}s, so another pivot may hold it now"
        if why is None:
            last_renewed = loop.time()
            continue
        lost.append(why)
        if body is not None:
            body.cancel()
        return


async def _renew_once(client: Client, res: Resource, me: str, lease: JSON) -> tuple[JSON, str | None]:
    """One renewal: the lease as it is now, and why it is lost (None: renewed). Raises when it cannot tell."""
    lease["spec"]["renewTime"] = _now()
    try:
        return await asyncio.wait_for(client.update(res, lease), RENEW_EVERY), None
    except ApiError as e:
        if not (e.conflict or e.not_found):
            raise
    current = await asyncio.wait_for(_current(client, res), RENEW_EVERY)
    if current is None:
        return lease, "was deleted"
    if _holder(current) != me:
        return current, f"is now held by {_holder(current)}"
    return current, None  # an earlier attempt of ours got through after all


async def _current(client: Client, res: Resource) -> JSON | None:
    return await client.find(res, NAME, NAMESPACE)


async def _release(client: Client, res: Resource, me: str) -> None:
    """Delete the lease if this pivot still holds it (that version only: a takeover in between keeps its lease).
    When the cluster cannot be reached, leave it: a pivot of this machine takes it over at once, any other
    once it has gone DURATION seconds without renewal."""
    with contextlib.suppress(ApiError):
        current = await _current(client, res)
        if current is not None and _holder(current) == me:
            await client.delete(res, NAME, NAMESPACE, uid=current["metadata"]["uid"],
                                resource_version=current["metadata"]["resourceVersion"])
