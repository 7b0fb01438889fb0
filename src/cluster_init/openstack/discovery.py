"""Which of a project's resources are one cluster's: those carrying the markers CAPO wrote on them.

`inventory` lists the project (plain dicts with openstacksdk's attribute names, so recorded listings test the
matchers offline); `find` applies the matchers, each mirroring how CAPO itself names or finds that kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cluster_init.openstack import markers
from cluster_init.openstack.plan import Item, ordered

if TYPE_CHECKING:
    from openstack.connection import Connection

    from cluster_init.openstack.markers import Cluster

Record = dict[str, Any]
Inventory = dict[str, list[Record]]
KINDS = ("load_balancers", "listeners", "pools", "servers", "volumes", "floating_ips", "trunks", "ports",
         "routers", "subnets", "networks", "security_groups")


def inventory(conn: Connection) -> Inventory:
    """Everything of the connection's project that a CAPO cluster can leave, as plain dicts.

    Neutron and Octavia show an admin every project's resources: the listings are narrowed to this project,
    so a cluster of the same name elsewhere is never taken for this one.
    """
    project = conn.current_project_id
    net, lb = conn.network, conn.load_balancer
    found: dict[str, Any] = {
        "servers": conn.compute.servers(), "volumes": conn.block_storage.volumes(),
        "floating_ips": net.ips(project_id=project), "trunks": _optional(lambda: list(net.trunks(project_id=project))),
        "ports": net.ports(project_id=project), "routers": net.routers(project_id=project),
        "subnets": net.subnets(project_id=project), "networks": net.networks(project_id=project),
        "security_groups": net.security_groups(project_id=project),
    }
    has_octavia = conn.has_service("load-balancer")
    for kind, listing in (("load_balancers", lb.load_balancers), ("listeners", lb.listeners), ("pools", lb.pools)):
        found[kind] = listing(project_id=project) if has_octavia else []
    return {kind: [_record(r) for r in found[kind]] for kind in KINDS}


def _optional(listing: Any) -> list[Any]:
    """A listing of an API extension the cloud may not have (trunks): empty when it has not."""
    from openstack import exceptions

    try:
        return list(listing())
    except exceptions.NotFoundException:
        return []


def _record(resource: Any) -> Record:
    record: Record = resource.to_dict(computed=False) if hasattr(resource, "to_dict") else dict(resource)
    record.pop("location", None)
    return record


def find(cluster: Cluster, inv: Inventory) -> list[Item]:
    """The cluster's resources in deletion order."""
    networks = _networks(cluster, inv)
    net_ids = {n["id"] for n in networks}
    ports = _ports(cluster, inv, net_ids)
    servers = _servers(cluster, inv, ports)
    routers = _routers(cluster, inv)
    items = [*_load_balancers(cluster, inv), *servers, *_volumes(inv, servers, ports),
             *_floating_ips(cluster, inv), *_trunks(inv, ports), *ports, *_router_interfaces(inv, routers),
             *routers, *_subnets(cluster, inv, net_ids), *_network_items(networks), *_security_groups(cluster, inv)]
    return ordered(items)


def _item(kind: str, r: Record, why: str, name: str | None = None, **extra: Any) -> Item:
    status = r.get("provisioning_status") or r.get("status") or ""
    return Item(kind, str(r["id"]), str(r.get("name") or "") if name is None else name, str(status), why, **extra)


def _load_balancers(cluster: Cluster, inv: Inventory) -> list[Item]:
    """The API server's load balancer: CAPO's name for it (getLoadBalancerName, also how CAPO finds it) and its
    description. Its listeners, pools and their members (`<lb>-<port>`) go with it: CAPO deletes it cascading."""
    by_id = {r["id"]: r for kind in ("listeners", "pools") for r in inv[kind]}
    found = []
    for lb in inv["load_balancers"]:
        if lb.get("name") == cluster.load_balancer_name and lb.get("description") == cluster.description:
            parts = tuple(_lb_part(kind, by_id.get(ref["id"], ref)) for kind in ("listener", "pool")
                          for ref in lb.get(f"{kind}s") or [])
            found.append(_item("load balancer", lb, "CAPO's API load balancer name and description", parts=parts))
    return found


def _lb_part(kind: str, r: Record) -> str:
    members = f", {len(r.get('members') or [])} members" if kind == "pool" else ""
    return f"{kind} {r.get('name') or r['id']}{members}"


def _ports(cluster: Cluster, inv: Inventory, net_ids: set[str]) -> list[Item]:
    """The machines' ports: CAPO describes each with the cluster's description (normalizePorts) unless the
    machine spec sets its own. CAPO's own sweep (DeleteClusterPorts) also takes any port on the cluster's network
    named after the Cluster; so does this. Ports that Neutron or Octavia own (router interfaces, DHCP, a load
    balancer's VIP) are not here: they go with their router, network or load balancer."""
    found = []
    for port in inv["ports"]:
        owner = str(port.get("device_owner") or "")
        if owner.startswith("network:") or owner == "Octavia":
            continue
        refs = {"device_id": str(port.get("device_id") or "")}
        if port.get("description") == cluster.description:
            found.append(_item("port", port, "CAPO's description", refs=refs))
        elif port.get("network_id") in net_ids and str(port.get("name") or "").startswith(f"{cluster.name}-"):
            found.append(_item("port", port, "on the cluster's network, named after the Cluster", refs=refs))
    return found


def _servers(cluster: Cluster, inv: Inventory, ports: list[Item]) -> list[Item]:
    """The machines: CAPO names a server after its OpenStackMachine and gives it the ports above. A server is the
    cluster's when one of those ports is bound to it, or, for a server that failed before any port was bound to
    it (no address at all), when a port of the cluster is named `<server>-<index>` after it (getPortName). A
    server of the same name with an address elsewhere is someone else's."""
    bound = {p.refs["device_id"] for p in ports}
    machines = {markers.machine_of_port(p.name) for p in ports}
    found = []
    for server in inv["servers"]:
        if server["id"] in bound:
            found.append(_item("server", server, "holds a port of the cluster"))
        elif server.get("name") in machines and not server.get("addresses"):
            found.append(_item("server", server, "no address, named after a port of the cluster"))
    return found


def _volumes(inv: Inventory, servers: list[Item], ports: list[Item]) -> list[Item]:
    """The machines' volumes: CAPO names them `<machine>-root` and `<machine>-<device>` and describes them as the
    root volume or an additional block device of that machine (getBlockDevices). Nova deletes them with their
    server (CAPO sets delete_on_termination); what is left is a volume whose server never came or went wrong.
    The machine must be one of the cluster's (a server above, or the name its ports carry): a volume's being
    unattached says nothing about whose it is, and volumes attached to the cluster's servers by anyone else
    (the cluster's own persistent volumes) are never taken."""
    machines = {s.name for s in servers} | {m for p in ports if (m := markers.machine_of_port(p.name))}
    found = []
    for volume in inv["volumes"]:
        machine = markers.volume_machine(str(volume.get("name") or ""), str(volume.get("description") or ""))
        if machine in machines:
            found.append(_item("volume", volume, f"CAPO's volume of machine {machine}"))
    return found


def _floating_ips(cluster: Cluster, inv: Inventory) -> list[Item]:
    """Floating IPs CAPO allocated for the API server, the bastion or a machine: all carry the cluster's
    description (GetOrCreateFloatingIP). Those of an OpenStackFloatingIPPool name the pool instead, and a floating
    IP the user gave (apiServerFloatingIP) keeps the description the user gave it."""
    return [_item("floating IP", ip, "CAPO's description", name=str(ip.get("floating_ip_address") or ""))
            for ip in inv["floating_ips"] if ip.get("description") == cluster.description]


def _trunks(inv: Inventory, ports: list[Item]) -> list[Item]:
    """Trunks CAPO made for a machine's port (ensurePortTagsAndTrunk): their parent port is one of the cluster's."""
    port_ids = {p.id for p in ports}
    return [_item("trunk", t, "its parent port is the cluster's") for t in inv["trunks"]
            if t.get("port_id") in port_ids]


def _routers(cluster: Cluster, inv: Inventory) -> list[Item]:
    """The cluster's router: CAPO's name (getRouterName, how CAPO finds it again) and its description."""
    return [_item("router", r, "CAPO's router name and description") for r in inv["routers"]
            if r.get("name") == cluster.network_name and r.get("description") == cluster.description]


def _router_interfaces(inv: Inventory, routers: list[Item]) -> list[Item]:
    """The interfaces of those routers (CAPO adds one on the cluster's subnet): removed before the router."""
    by_id = {r.id: r for r in routers}
    found = []
    for port in inv["ports"]:
        router = by_id.get(str(port.get("device_id")))
        if router and str(port.get("device_owner") or "").startswith("network:router_interface"):
            subnets = ",".join(str(f.get("subnet_id")) for f in port.get("fixed_ips") or [])
            found.append(Item("router interface", str(port["id"]), f"{router.name} → subnet {subnets}",
                              str(port.get("status") or ""), "an interface of the cluster's router",
                              refs={"router_id": router.id}))
    return found


def _subnets(cluster: Cluster, inv: Inventory, net_ids: set[str]) -> list[Item]:
    """The cluster's subnet: CAPO's name and description (createSubnet), on the cluster's network."""
    return [_item("subnet", s, "CAPO's subnet name and description, on the cluster's network") for s in inv["subnets"]
            if s.get("name") == cluster.network_name and s.get("description") == cluster.description
            and s.get("network_id") in net_ids]


def _networks(cluster: Cluster, inv: Inventory) -> list[Record]:
    """The cluster's network: CAPO gives it no description, and finds it by its name alone (getNetworkByName)."""
    return [n for n in inv["networks"] if n.get("name") == cluster.network_name]


def _network_items(networks: list[Record]) -> list[Item]:
    return [_item("network", n, "CAPO's network name") for n in networks]


def _security_groups(cluster: Cluster, inv: Inventory) -> list[Item]:
    """The managed security groups: CAPO's three names and the description it gives them."""
    names = set(cluster.security_group_names)
    return [_item("security group", g, "CAPO's security group name and description") for g in inv["security_groups"]
            if g.get("name") in names and g.get("description") == markers.SECURITY_GROUP_DESCRIPTION]
