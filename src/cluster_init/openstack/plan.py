"""A cleanup plan: the cluster's resources in the order OpenStack lets them be deleted, shown as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

# Each kind goes before what it holds on to: a load balancer holds its VIP port and members, a server its ports
# and volumes, a floating IP its port, a trunk its parent port, a port its subnet and security groups, a router
# interface its router and subnet, a subnet its network. Volumes come straight after the servers: a volume is
# recognised through its machine's name, which a port still shows until the ports go (so a cleanup killed after
# the servers and run again still finds them).
ORDER = ("load balancer", "server", "volume", "floating IP", "trunk", "port", "router interface", "router",
         "subnet", "network", "security group")


@dataclass(frozen=True)
class Item:
    """One resource to delete: what it is, the marker that made it the cluster's, and what goes with it."""

    kind: str
    id: str
    name: str
    status: str
    why: str
    parts: tuple[str, ...] = ()  # deleted with it (a load balancer's listeners, pools and members)
    refs: dict[str, str] = field(default_factory=dict)  # what its deletion needs (a router interface's router)


def ordered(items: list[Item]) -> list[Item]:
    """Deletion order: by kind as ORDER says, then by name for a stable plan."""
    return sorted(items, key=lambda i: (ORDER.index(i.kind), i.name, i.id))


def as_json(items: list[Item], results: dict[str, str] | None = None) -> str:
    """A list of resources in deletion order; after --apply each has its `result`."""
    rows = []
    for item in items:
        row: dict[str, object] = {k: v for k, v in asdict(item).items() if k != "refs"}
        row["parts"] = list(item.parts)
        if results is not None:
            row["result"] = results.get(item.id, "not reached")
        rows.append(row)
    return json.dumps(rows, indent=2)


def as_text(items: list[Item], title: str) -> str:
    """A readable tree: one group per kind, one line per resource, its parts under it."""
    if not items:
        return f"{title}: nothing found\n"
    lines = [f"{title}: {len(items)} resource{'s' if len(items) != 1 else ''}, deleted in this order"]
    for kind in ORDER:
        group = [i for i in items if i.kind == kind]
        if group:
            lines.append(f"  {plural(kind, len(group))}")
        for item in group:
            lines.append(f"    {item.name or '(no name)'}  {item.id}  {item.status or '-'}  ({item.why})")
            lines.extend(f"      └ {part}" for part in item.parts)
    return "\n".join(lines) + "\n"


def plural(kind: str, n: int) -> str:
    return f"{n} {kind}{'s' if n != 1 else ''}"
