"""Rendering a pivot's plan and result: text for people, JSON for scripts; and progress lines for stderr."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from cluster_init.pivot.engine import Report, Step
from cluster_init.pivot.graph import Node

ACTIONS = {
    "new": "create",
    "copied": "already copied (resume)",
    "exists": "already in the target (kept as is)",
}


def action(report: Report, node: Node, *, deletes_source: bool) -> str:
    state = report.target_state.get(node.uid, "new")
    what = ACTIONS[state]
    if deletes_source:
        what += ", then delete from the source" if node.deletes else ", kept in the source"
    return what


def as_json(report: Report, mode: str) -> str:
    deletes = mode == "move"
    objects = [{
        "level": i, "apiVersion": n.api_version, "kind": n.kind, "namespace": n.namespace or None, "name": n.name,
        "uid": n.uid, "target": report.target_state.get(n.uid, "new"),
        "deleteFromSource": deletes and n.deletes, "global": n.is_global or n.is_global_hierarchy,
    } for i, level in enumerate(report.plan.levels) for n in level]
    out: dict[str, Any] = {
        "mode": mode, "dryRun": report.dry_run, "objects": objects,
        "skipped": [{"apiVersion": n.api_version, "kind": n.kind, "namespace": n.namespace or None, "name": n.name,
                     "reason": "an owner of it does not move"} for n in report.plan.skipped],
        "clusters": [f"{n.namespace}/{n.name}" for n in report.plan.clusters],
        "problems": [str(p) for p in report.problems],
        "waitsForBlockMove": report.waits,
    }
    if not report.dry_run:
        out["result"] = {"paused": report.paused, "created": report.created, "resumed": report.resumed,
                         "repaired": report.repaired, "deleted": report.deleted, "unpaused": report.unpaused}
        out["timings"] = {k: round(v, 3) for k, v in report.timings.items()}
        out["requests"] = report.requests
    return json.dumps(out, indent=2)


def as_text(report: Report, mode: str) -> str:
    plan, lines = report.plan, []
    deletes = mode == "move"
    if report.dry_run or not plan.nodes:
        verb = {"move": "would move", "backup": "would back up", "restore": "would restore"}[mode]
        lines.append(f"{verb} {len(plan.nodes)} objects of {len(plan.clusters)} clusters "
                     f"in {len(plan.namespaces)} namespaces, in {len(plan.levels)} levels (owners first):")
        for i, level in enumerate(plan.levels):
            lines.append(f"level {i}:")
            for n in level:
                lines.append(f"  {n.ref} ({n.api_version}): {action(report, n, deletes_source=deletes)}")
        if mode in ("move", "backup") and (plan.clusters or plan.cluster_classes):
            names = ", ".join(f"{n.namespace}/{n.name}" for n in plan.clusters + plan.cluster_classes)
            lines.append(f"pause in the source (unpaused {'in the target' if deletes else 'after'}): {names}")
        for n in plan.skipped:
            lines.append(f"not moved: {n.ref}: an owner of it does not move")
        for ref in report.waits:
            lines.append(f"would wait (after pausing) until {ref} loses its block-move annotation")
        return "\n".join(lines) + "\n"
    done = {"move": "moved", "backup": "backed up", "restore": "restored"}[mode]
    total = sum(report.timings.values())
    lines.append(f"{done} {len(plan.nodes)} objects of {len(plan.clusters)} clusters in {total:.1f}s: "
                 f"{report.created} created, {report.resumed} already there, {report.deleted} deleted from the "
                 f"source, {report.unpaused} unpaused" + (f", {report.repaired} repaired" if report.repaired else ""))
    for n in plan.skipped:
        lines.append(f"not moved: {n.ref}: an owner of it does not move")
    return "\n".join(lines) + "\n"


class Progress:
    """An observer printing one line per phase and, within long phases, at most one line a second."""

    def __init__(self, out: TextIO = sys.stderr, interval: float = 1.0) -> None:
        self.out, self.interval = out, interval
        self.phase = ""
        self.last = 0.0

    def __call__(self, step: Step) -> None:
        now = time.monotonic()
        if step.phase != self.phase:
            self.phase, self.last = step.phase, now
            print(f"pivot: {step.phase}" + (f" {step.done}/{step.total}" if step.total else ""), file=self.out)
        elif step.total and (step.done == step.total or now - self.last >= self.interval):
            self.last = now
            print(f"pivot: {step.phase} {step.done}/{step.total}", file=self.out)
