"""Readiness of an object, in the spirit of kstatus: is what the controller reports about the latest spec?

- `Terminating`: it has a deletionTimestamp;
- `InProgress`: the controller has not seen the latest spec yet (`status.observedGeneration` behind
  `metadata.generation`), or it says `Reconciling` True, or `Ready` is False or Unknown (without `Stalled`);
- `Failed`: `Stalled` True (Flux: it gave up until something changes);
- `Current`: `Ready` True on the latest generation, or, for kinds without a Ready condition, an observed
  latest generation (or no status conventions at all: a ConfigMap is current once it exists);
- a few core kinds are judged by their own fields: a Deployment by its updated/available replicas, a CRD by
  `Established`, a Namespace by its phase.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CURRENT, IN_PROGRESS, FAILED, TERMINATING = "Current", "InProgress", "Failed", "Terminating"


@dataclass(frozen=True)
class Status:
    state: str
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.state == CURRENT


def timestamp(text: Any) -> dt.datetime | None:
    """A Kubernetes timestamp (RFC 3339, `Z` for UTC) as an aware datetime; None when absent or malformed."""
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == kind:
            return c
    return None


def _is(obj: Mapping[str, Any], kind: str, value: str) -> bool:
    c = condition(obj, kind)
    return c is not None and c.get("status") == value


def _message(obj: Mapping[str, Any], kind: str) -> str:
    c = condition(obj, kind) or {}
    return str(c.get("message") or c.get("reason") or "")


def readiness(obj: Mapping[str, Any]) -> Status:
    """The state of one object as read from the server."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Status(TERMINATING, "being deleted")
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        if observed < 1:  # Flux starts at -1 and says what its first reconciliation is doing, if anything
            return Status(IN_PROGRESS, _message(obj, "Reconciling") if _is(obj, "Reconciling", "True")
                          else "not reconciled yet")
        return Status(IN_PROGRESS, f"generation {generation} not observed yet (at {observed})")
    special = _special(obj.get("kind"), obj, status)
    if special is not None:
        return special
    if _is(obj, "Stalled", "True"):
        return Status(FAILED, _message(obj, "Stalled"))
    if _is(obj, "Reconciling", "True"):
        return Status(IN_PROGRESS, _message(obj, "Reconciling") or "reconciling")
    ready = condition(obj, "Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Status(CURRENT, _message(obj, "Ready"))
        return Status(IN_PROGRESS, _message(obj, "Ready") or "not ready")
    return Status(CURRENT)


def _special(kind: Any, obj: Mapping[str, Any], status: Mapping[str, Any]) -> Status | None:
    if kind == "CustomResourceDefinition":
        return Status(CURRENT) if _is(obj, "Established", "True") else Status(IN_PROGRESS, "not established")
    if kind == "Namespace":
        phase = status.get("phase")
        return Status(TERMINATING, "terminating") if phase == "Terminating" else Status(CURRENT)
    if kind in ("Deployment", "StatefulSet"):
        wanted = (obj.get("spec") or {}).get("replicas", 1)
        updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
        if updated < wanted or available < wanted:
            return Status(IN_PROGRESS, f"{available}/{wanted} replicas available, {updated} updated")
        return Status(CURRENT)
    return None
