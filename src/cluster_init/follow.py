"""Following the units live: watches (never a polling loop) on the Flux objects of the release's namespace, the
pivot Job, and, once their CRDs exist, the Cluster API objects; every change redraws the view (`unitstate`).

`follow()` returns when every unit is Ready or held back by a suspended one (READY), when one has Stalled
(FAILED_EXIT) or at the deadline (TIMED_OUT). Printers: a live tree on a terminal (rich), one line per change
otherwise, JSON event lines for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from cluster_init import unitstate
from cluster_init.kube import ApiError, Client
from cluster_init.kube.status import FAILED, condition, readiness
from cluster_init.kube.watch import watch
from cluster_init.unitstate import Row, Snapshot

READY, FAILED_EXIT, TIMED_OUT = 0, 1, 3
RELEASE = "telco-cloud-init"
PIVOT_JOB = "cluster-init-pivot"  # the pivot unit's Job (kustomize-components/pivot)
FLUX = (("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("batch/v1", "Job"))
CLUSTER_API = ("Cluster", "KubeadmControlPlane", "RKE2ControlPlane", "MachineDeployment", "Machine")
CLUSTER_API_VERSIONS = {"KubeadmControlPlane": "controlplane.cluster.x-k8s.io/v1beta2",
                        "RKE2ControlPlane": "controlplane.cluster.x-k8s.io/v1beta1"}


class Printer:
    """Plain lines: one per row whose state or message changed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.seen: dict[tuple[str, str], tuple[str, str]] = {}

    def show(self, rows: list[Row]) -> None:
        for row in rows:  # progress messages of a reconciling object would be a line each: only its state counts
            key = (row.kind, row.name)
            value = (row.state, row.message if row.state in (unitstate.FAILED_, unitstate.WAITING) else "")
            if self.seen.get(key) != value:
                self.seen[key] = value
                self.line(row)

    def line(self, row: Row) -> None:
        took = f" {row.seconds:.0f}s" if row.seconds is not None else ""
        why = f": {row.message}" if row.message else ""
        label = row.name if row.kind == "unit" else f"{row.kind}/{row.name}"
        print(f"{'  ' * row.depth}{label} {row.state}{took}{why}", file=self.stream, flush=True)

    def close(self, rows: list[Row]) -> None:
        """At the end (done, timed out or Ctrl-C): where the units that are not Ready stand, with their reasons."""
        pending = [r for r in rows if r.kind == "unit" and r.state != unitstate.READY]
        if pending:
            print("not Ready: " + "; ".join(f"{r.name} {r.state}" + (f" ({r.message})" if r.message else "")
                                            for r in pending), file=self.stream, flush=True)


class JsonPrinter(Printer):
    """One JSON object per change, on stdout: for scripts."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def line(self, row: Row) -> None:
        event = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "kind": row.kind,
                 "name": row.name, "state": row.state, "seconds": row.seconds, "message": row.message}
        print(json.dumps(event), file=self.stream, flush=True)

    def close(self, rows: list[Row]) -> None:
        """Every change was an event line already: nothing but JSON goes to stdout."""


class TreePrinter(Printer):
    """A live tree on a terminal, redrawn in place (rich)."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(file=self.stream), auto_refresh=False, transient=False)
        self.live.start()

    def show(self, rows: list[Row]) -> None:
        self.live.update(tree(rows), refresh=True)

    def close(self, rows: list[Row]) -> None:
        self.live.update(tree(rows), refresh=True)
        self.live.stop()


STYLE = {unitstate.READY: "green", unitstate.FAILED_: "red", unitstate.WAITING: "dim",
         unitstate.SUSPENDED: "yellow"}


def tree(rows: list[Row]) -> Any:
    from rich.tree import Tree

    root = Tree("units")
    parents: list[Any] = [root]
    for row in rows:
        took = f" {row.seconds:.0f}s" if row.seconds is not None else ""
        label = row.name if row.kind == "unit" else f"{row.kind}/{row.name}"
        why = f" [dim]{_escape(row.message)}[/dim]" if row.message else ""
        style = STYLE.get(row.state, "cyan")
        node = parents[min(row.depth, len(parents) - 1)].add(
            f"{_escape(label)} [{style}]{row.state}[/{style}]{took}{why}")
        del parents[row.depth + 1:]
        parents.append(node)
    return root


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def printer(output: str) -> Printer:
    if output == "json":
        return JsonPrinter()
    return TreePrinter() if sys.stderr.isatty() else Printer()


def all_settled(snap: Snapshot) -> int | None:
    """For bootstrap and watch: READY once the release is Ready and every unit is Ready or held back by a unit
    suspended before it ever became Ready (the user's choice, which stops what depends on it); FAILED_EXIT when one
    has Stalled; else None. A unit suspended after it was Ready (the pivot does that on the bootstrap cluster)
    still counts as Ready."""
    release = next((o for o in snap.of_kind("HelmRelease") if o["metadata"]["name"] == RELEASE), None)
    units = {str(u["metadata"]["name"]): u for u in snap.of_kind("Kustomization")
             if unitstate.UNIT_LABEL in ((u.get("metadata") or {}).get("labels") or {})}
    if release is None or not readiness(release).ready or not units:
        return None
    if any(readiness(u).state == FAILED for u in units.values()):
        return FAILED_EXIT
    held = _held(units)
    done = all(name in held or readiness(u).ready or (_suspended(u) and _was_ready(u)) for name, u in units.items())
    return READY if done else None


def moved(snap: Snapshot) -> int | None:
    """For bootstrap: as `all_settled`, and READY as soon as the pivot Job has succeeded. Flux reports the pivot
    unit Ready (and the management cluster's release, through the remote unit) only at their next 5 s health
    check; bootstrap checks the management cluster's own release itself, next."""
    settled = all_settled(snap)
    if settled is not None:
        return settled
    done = any(o["metadata"]["name"] == PIVOT_JOB and unitstate.pivot_done(o) for o in snap.of_kind("Job"))
    return READY if done and not any(readiness(u).state == FAILED for u in snap.of_kind("Kustomization")) else None


def _suspended(unit: Mapping[str, Any]) -> bool:
    return bool((unit.get("spec") or {}).get("suspend"))


def _was_ready(unit: Mapping[str, Any]) -> bool:
    """Ready when last reconciled (suspending a unit bumps its generation, which Flux then never observes)."""
    return (condition(unit, "Ready") or {}).get("status") == "True"


def _held(units: dict[str, Any]) -> set[str]:
    """Units suspended before they were ever Ready, and every unit that depends on one, transitively."""
    held = {name for name, u in units.items() if _suspended(u) and not _was_ready(u)}
    grew = True
    while grew:
        grew = False
        for name, unit in units.items():
            deps = set(unitstate.waits_for(unit))
            if name not in held and deps & held:
                held.add(name)
                grew = True
    return held


async def follow(client: Client, namespace: str, timeout: float, show: Printer,
                 stop: Callable[[Snapshot], int | None] | None = None) -> int:
    """Watch until `stop` (default `all_settled`) says done, or the deadline; READY, FAILED_EXIT or TIMED_OUT."""
    snap, changed = Snapshot(), asyncio.Event()
    tasks = [asyncio.create_task(_feed(client, api, kind, namespace, snap, changed)) for api, kind in FLUX]
    tasks.append(asyncio.create_task(_cluster_api(client, snap, changed)))
    deadline = time.monotonic() + timeout
    try:
        while True:
            done = (stop or all_settled)(snap)
            show.show(unitstate.rows(snap, dt.datetime.now(dt.UTC)))
            if done is not None:
                return done
            left = deadline - time.monotonic()
            if left <= 0:
                return TIMED_OUT
            changed.clear()
            with contextlib.suppress(TimeoutError):  # without news, a redraw each second: elapsed times move on
                await asyncio.wait_for(changed.wait(), timeout=min(left, 1.0))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        show.close(unitstate.rows(snap, dt.datetime.now(dt.UTC)))


async def snapshot(client: Client, namespace: str) -> Snapshot:
    """Everything `follow` watches, listed once."""
    snap = Snapshot()
    kinds: list[tuple[str, str, str | None]] = [(api, kind, namespace) for api, kind in FLUX]
    kinds += [(CLUSTER_API_VERSIONS.get(k, "cluster.x-k8s.io/v1beta2"), k, None) for k in CLUSTER_API]
    for api, kind, ns in kinds:
        try:
            res = await client.resource(api, kind)
        except ApiError:  # not installed (yet): nothing of that kind to show
            continue
        for obj in await client.list(res, ns):
            snap.put({**obj, "kind": kind})
    return snap


async def _feed(client: Client, api_version: str, kind: str, namespace: str | None, snap: Snapshot,
                changed: asyncio.Event) -> None:
    res = await client.resource(api_version, kind)
    async for event in watch(client, res, namespace):
        snap.put(event.object, deleted=event.type == "DELETED")
        changed.set()


async def _cluster_api(client: Client, snap: Snapshot, changed: asyncio.Event) -> None:
    """The Cluster API kinds, each watched from the moment its CRD is served (the providers install them)."""
    started: set[str] = set()
    tasks: list[asyncio.Task[None]] = []
    try:
        while len(started) < len(CLUSTER_API):
            for kind in CLUSTER_API:
                if kind in started:
                    continue
                api = CLUSTER_API_VERSIONS.get(kind, "cluster.x-k8s.io/v1beta2")
                try:
                    await client.resource(api, kind)
                except ApiError:
                    client.forget(api)
                    continue
                started.add(kind)
                tasks.append(asyncio.create_task(_feed(client, api, kind, None, snap, changed)))
            await asyncio.sleep(5)  # discovery has no watch; the CRDs come once, early
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
