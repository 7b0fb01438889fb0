"""Deleting a plan: in order, each deletion requested then watched until the resource is gone.

Each kind says how to read one resource (None once gone), whether it can take a delete request now, and how
to make one. A 409 (busy: a load balancer still provisioning, a port Nova has not released yet) is retried
until the deadline, and so is a dropped connection (a proxy closing an idle one: reads and deletes are safe to
repeat); a resource stuck where the API allows a way out (a volume stuck attaching, detaching or in
error_deleting; a server that will not go) has its status reset, then is deleted again. Nothing is remembered
between runs: a run killed half-way leaves resources that a new run finds by the same markers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster_init.errors import RuntimeFailure

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cluster_init.openstack.plan import Item

POLL_FIRST, POLL_MAX = 0.5, 5.0
STUCK_AFTER = 60.0  # a resource that has neither gone nor become deletable by then (or half the timeout) is stuck
VOLUME_DELETABLE = {"available", "error", "error_restoring", "error_extending", "error_managing"}
UNANSWERED: dict[str, str] = {"status": "unknown: the last request's connection dropped"}


@dataclass(frozen=True)
class Kind:
    """How one kind of resource is read, judged ready for a delete request, deleted, and unstuck."""

    read: Callable[[Connection, Item], Any]
    delete: Callable[[Connection, Item], None]
    ready: Callable[[Any], bool] = lambda _: True
    unstick: Callable[[Connection, Item, Any], None] | None = None
    still_there: str = "run cleanup again, or raise --timeout"  # what to do when it outlives the deadline


def delete_all(conn: Connection, items: list[Item], timeout: float) -> dict[str, str]:
    """Delete every item in order; a progress line per item on stderr. Stops at the first that fails."""
    results: dict[str, str] = {}
    for n, item in enumerate(items, 1):
        label = f"[{n}/{len(items)}] {item.kind} {item.name or item.id} ({item.id})"
        print(f"… {label}", file=sys.stderr, flush=True)
        start = time.monotonic()
        results[item.id] = delete_one(conn, item, timeout)
        print(f"✓ {label}: {results[item.id]} ({time.monotonic() - start:.1f}s)", file=sys.stderr, flush=True)
    return results


def delete_one(conn: Connection, item: Item, timeout: float) -> str:
    """Delete one resource and wait until it is gone: `deleted` (`after a status reset` when it was stuck), or
    `already gone` if it went on its own (a volume with its server)."""
    from keystoneauth1.exceptions import ConnectFailure
    from openstack import exceptions

    kind = KINDS[item.kind]
    start = time.monotonic()
    deadline, stuck, pause = start + timeout, start + min(STUCK_AFTER, timeout / 2), POLL_FIRST
    requested = tried = reset = False
    while (current := _read(kind, conn, item)) is not None:
        now = time.monotonic()
        if now > deadline:
            raise RuntimeFailure(f"{item.kind} {item.name or item.id} ({item.id}) is still there after "
                                 f"{timeout:.0f}s (status {_status(current)}); {kind.still_there}")
        answered = current is not UNANSWERED
        if answered and kind.unstick and not tried and (requested or not kind.ready(current)) and now > stuck:
            reset = _try(_bound(kind.unstick, conn, item, current), exceptions.ForbiddenException, ConnectFailure)
            tried, requested = True, False
        if answered and kind.ready(current) and not requested:
            requested = _try(lambda: kind.delete(conn, item), exceptions.ConflictException, ConnectFailure)
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MAX)
    return "deleted after a status reset" if reset else "deleted" if requested or tried else "already gone"


def _bound(unstick: Callable[[Connection, Item, Any], None], conn: Connection, item: Item,
           current: Any) -> Callable[[], None]:
    return lambda: unstick(conn, item, current)


def _read(kind: Kind, conn: Connection, item: Item) -> Any:
    """The resource, None once gone, or UNANSWERED when the connection dropped (asked again next round)."""
    from keystoneauth1.exceptions import ConnectFailure
    from openstack import exceptions

    try:
        return kind.read(conn, item)
    except exceptions.NotFoundException:
        return None
    except ConnectFailure:
        return UNANSWERED


def _try(call: Callable[[], None], *tolerated: type[Exception]) -> bool:
    """Make one request; False when it met a tolerated refusal (busy, or not allowed) and the loop goes on."""
    from openstack import exceptions

    try:
        call()
    except exceptions.NotFoundException:
        return True
    except tolerated:
        return False
    return True


def _status(resource: Any) -> str:
    return str(resource.get("provisioning_status") or resource.get("status") or "unknown")


def _lb_read(conn: Connection, item: Item) -> Any:
    lb = conn.load_balancer.get_load_balancer(item.id)
    return None if lb.get("provisioning_status") == "DELETED" else lb


def _server_unstick(conn: Connection, item: Item, _: Any) -> None:
    """A server that will not go: Nova lets an admin reset it to error, and an errored server deletes."""
    conn.compute.reset_server_state(item.id, "error")


def _volume_unstick(conn: Connection, item: Item, volume: Any) -> None:
    """A volume stuck attaching, detaching, in-use with its server gone or error_deleting: Cinder lets its status
    be reset (available and detached, as `cinder reset-state` does), after which it deletes."""
    conn.block_storage.reset_volume_status(item.id, "available", "detached", None)


def _router_interface_read(conn: Connection, item: Item) -> Any:
    port = conn.network.get_port(item.id)
    return port if port.get("device_id") == item.refs["router_id"] else None


def _router_interface_delete(conn: Connection, item: Item) -> None:
    conn.network.remove_interface_from_router(item.refs["router_id"], port=item.id)


KINDS: dict[str, Kind] = {
    "load balancer": Kind(_lb_read, lambda c, i: c.load_balancer.delete_load_balancer(i.id, cascade=True),
                          ready=lambda lb: not str(lb.get("provisioning_status")).startswith("PENDING_"),
                          still_there="Octavia has no API to reset a PENDING_ state: once its housekeeping marks "
                                      "the load balancer ERROR (or the cloud's operator does), run cleanup again"),
    "server": Kind(lambda c, i: c.compute.get_server(i.id), lambda c, i: c.compute.delete_server(i.id),
                   unstick=_server_unstick),
    "volume": Kind(lambda c, i: c.block_storage.get_volume(i.id), lambda c, i: c.block_storage.delete_volume(i.id),
                   ready=lambda v: v.get("status") in VOLUME_DELETABLE, unstick=_volume_unstick),
    "floating IP": Kind(lambda c, i: c.network.get_ip(i.id), lambda c, i: c.network.delete_ip(i.id)),
    "trunk": Kind(lambda c, i: c.network.get_trunk(i.id), lambda c, i: c.network.delete_trunk(i.id)),
    "port": Kind(lambda c, i: c.network.get_port(i.id), lambda c, i: c.network.delete_port(i.id)),
    "router interface": Kind(_router_interface_read, _router_interface_delete),
    "router": Kind(lambda c, i: c.network.get_router(i.id), lambda c, i: c.network.delete_router(i.id)),
    "subnet": Kind(lambda c, i: c.network.get_subnet(i.id), lambda c, i: c.network.delete_subnet(i.id)),
    "network": Kind(lambda c, i: c.network.get_network(i.id), lambda c, i: c.network.delete_network(i.id)),
    "security group": Kind(lambda c, i: c.network.get_security_group(i.id),
                           lambda c, i: c.network.delete_security_group(i.id)),
}
