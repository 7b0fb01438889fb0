"""What `watch`, `status` and `bootstrap` show: the units (the chart's Flux Kustomizations) in dependency order,
each with its state, time spent and, while it is not Ready, the reason its controller gives; under a unit, what it
drives (its child Kustomizations and HelmReleases, the Cluster API objects of the management cluster, the pivot
Job). Built from the objects as watched; pure, so every rendering of it (tree, lines, JSON) says the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster_init.kube.status import CURRENT, FAILED, IN_PROGRESS, condition, readiness, timestamp

READY, FAILED_, WAITING, RUNNING, SUSPENDED, PENDING = "Ready", "Failed", "Waiting", "Reconciling", "Suspended", \
    "Pending"
UNIT_LABEL = "cluster-init/unit"
PIVOT_PHASE = "cluster-init.dev/pivot-phase"  # the annotation where the pivot Job writes the move's phase
PIVOT_DONE = "done"  # its last phase, written once the move and the mark are done


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    state: str
    seconds: float | None
    message: str
    depth: int = 0

    def __post_init__(self) -> None:  # Cluster API writes conditions as bullet lists: one line here
        object.__setattr__(self, "message", " ".join(self.message.replace("* ", "").split()))


@dataclass
class Snapshot:
    """The objects seen so far, by (kind, namespace, name)."""

    objects: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)

    def put(self, obj: Mapping[str, Any], deleted: bool = False) -> None:
        meta = obj.get("metadata") or {}
        key = (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))
        if deleted:
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj

    def of_kind(self, kind: str) -> list[Mapping[str, Any]]:
        return [o for (k, _, _), o in sorted(self.objects.items()) if k == kind]


def state_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """A Flux object's state as a user reads it: Ready, Failed, Waiting (on a dependency), Suspended, Reconciling.

    Failed is Stalled, or Ready False on the latest generation for a reason other than progress; a controller's
    first verdict on an object it has not reconciled yet is not a failure."""
    if (obj.get("spec") or {}).get("suspend"):
        return SUSPENDED, "suspended"
    ready = condition(obj, "Ready") or {}
    status = readiness(obj)
    if status.state == FAILED:
        return FAILED_, status.message
    if ready.get("reason") == "DependencyNotReady":
        return WAITING, str(ready.get("message") or "")
    if status.state == CURRENT and ready:
        return READY, ""
    observed = (obj.get("status") or {}).get("observedGeneration") == (obj.get("metadata") or {}).get("generation")
    if observed and ready.get("status") == "False" and ready.get("reason") not in PROGRESSING:
        return FAILED_, str(ready.get("message") or ready.get("reason") or "")
    return (RUNNING if ready else PENDING), status.message if status.state == IN_PROGRESS else ""


PROGRESSING = ("Progressing", "ProgressingWithRetry", None)


def elapsed(obj: Mapping[str, Any], now: dt.datetime) -> float | None:
    """From creation to Ready (or to now while not Ready)."""
    created = timestamp((obj.get("metadata") or {}).get("creationTimestamp"))
    if created is None:
        return None
    ready = condition(obj, "Ready") or {}
    end = timestamp(ready.get("lastTransitionTime")) if ready.get("status") == "True" else now
    return max(0.0, ((end or now) - created).total_seconds())


def waits_for(unit: Mapping[str, Any]) -> list[str]:
    """The units this unit starts after: Ready, or with their manifests applied."""
    from cluster_init import plan

    return plan.ready_dependencies(unit) + plan.applied_dependencies(unit)


def dependency_order(units: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Units sorted so each comes after what it depends on (ties by name)."""
    by_name = {str(u["metadata"]["name"]): u for u in units}
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen or name not in by_name:
            return
        for dep in waits_for(by_name[name]):
            visit(dep, seen | {name})
        done.append(name)

    for name in sorted(by_name):
        visit(name, frozenset())
    return [by_name[n] for n in done]


def rows(snap: Snapshot, now: dt.datetime) -> list[Row]:
    units = [u for u in snap.of_kind("Kustomization") if UNIT_LABEL in ((u.get("metadata") or {}).get("labels") or {})]
    out = []
    for unit in dependency_order(units):
        name = str(unit["metadata"]["name"])
        state, message = state_of(unit)
        children = _children(snap, name, now)
        waiting = [c for c in children if c.state == WAITING]
        if state in (RUNNING, PENDING) and waiting:  # its child holds what it waits for (the unit's `child`)
            state, message = WAITING, waiting[0].message
        out.append(Row(name, "unit", state, elapsed(unit, now), message))
        out += children
    return out


def _children(snap: Snapshot, unit: str, now: dt.datetime) -> list[Row]:
    """The Flux objects a unit applied (by Flux's inventory), and the Cluster API objects under management-cluster."""
    found = []
    for kind in ("Kustomization", "HelmRelease"):
        for obj in snap.of_kind(kind):
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if labels.get("kustomize.toolkit.fluxcd.io/name") == unit and UNIT_LABEL not in labels:
                state, message = state_of(obj)
                found.append(Row(str(obj["metadata"]["name"]), kind, state, elapsed(obj, now), message, 1))
    if unit == "management-cluster":
        found += cluster_api_rows(snap)
    if unit == "pivot":
        for job in snap.of_kind("Job"):
            state, message = _job(job)
            found.append(Row(str(job["metadata"]["name"]), "Job", state, elapsed(job, now), message, 1))
    return found


def cluster_api_rows(snap: Snapshot) -> list[Row]:
    """The Cluster, its control plane and its machines, each with its phase or Ready/Available condition."""
    out = []
    for kind in ("Cluster", "KubeadmControlPlane", "RKE2ControlPlane", "MachineDeployment", "Machine"):
        for obj in snap.of_kind(kind):
            status = obj.get("status") or {}
            phase = str(status.get("phase") or "")
            ok = condition(obj, "Available") or condition(obj, "Ready") or {}
            state = READY if ok.get("status") == "True" else (phase or PENDING)
            message = "" if state == READY else str(ok.get("message") or ok.get("reason") or "")
            out.append(Row(str(obj["metadata"]["name"]), kind, state, None, message, 1 if kind != "Machine" else 2))
    return out


def pivot_done(job: Mapping[str, Any]) -> bool:
    """The pivot Job's process has written its last phase, `done` (after the move and the mark), or the Job has
    succeeded: the first comes about 3 s sooner (the kubelet tears the pod down, then the Job controller counts
    it)."""
    phase = ((job.get("metadata") or {}).get("annotations") or {}).get(PIVOT_PHASE)
    return phase == PIVOT_DONE or bool((job.get("status") or {}).get("succeeded")) or (
        condition(job, "Complete") or {}).get("status") == "True"


def _job(job: Mapping[str, Any]) -> tuple[str, str]:
    status = job.get("status") or {}
    if pivot_done(job):
        return READY, ""
    failed = condition(job, "Failed") or {}
    if failed.get("status") == "True":
        return FAILED_, str(failed.get("message") or "")
    phase = ((job.get("metadata") or {}).get("annotations") or {}).get(PIVOT_PHASE, "")
    tries = f"{status['failed']} failed attempts" if status.get("failed") else ""
    return RUNNING, "; ".join(part for part in (phase and f"phase {phase}", tries) if part)
