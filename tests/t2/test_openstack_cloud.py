"""T2: the test OpenStack (testenv/openstack) answers through its real APIs for every resource type CAPO uses:
network, subnet, router with an external gateway and an interface, security group and rule, port, floating IP,
a server that goes ACTIVE with its port bound, a volume made from an image attached to it, a load balancer that
goes ACTIVE with a floating IP on its VIP port; then all of it deleted, leaving the project as it was."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.t2.conftest import openstack_connection

pytestmark = pytest.mark.t2

WAIT = 300.0


def until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not after {timeout:.0f}s"
        time.sleep(1)
    return found


def gone(get: Callable[[str], Any], id_: str) -> bool:
    from openstack.exceptions import NotFoundException

    try:
        get(id_)
    except NotFoundException:
        return True
    return False


def listing(conn: Any) -> set[tuple[str, str]]:
    """Every resource of the project by type and id (the default security group included)."""
    kinds: dict[str, Callable[[], Any]] = {
        "server": conn.compute.servers, "network": conn.network.networks, "subnet": conn.network.subnets,
        "port": conn.network.ports, "router": conn.network.routers, "floating_ip": conn.network.ips,
        "security_group": conn.network.security_groups, "volume": conn.block_storage.volumes,
        "load_balancer": conn.load_balancer.load_balancers}
    project = conn.current_project_id
    return {(kind, r.id) for kind, list_ in kinds.items() for r in list_()
            if getattr(r, "project_id", project) in (project, None)}


@pytest.fixture(scope="module")
def conn(openstack_cloud: tuple[Path, str]) -> Iterator[Any]:
    connection = openstack_connection(*openstack_cloud)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def admin(openstack_cloud: tuple[Path, str]) -> Iterator[Any]:
    path, name = openstack_cloud
    connection = openstack_connection(path, f"{name}-admin")
    yield connection
    connection.close()


def test_every_resource_capo_uses_is_created_and_deleted(conn: Any, admin: Any) -> None:
    before = listing(conn)
    tag = f"t2-{uuid.uuid4().hex[:6]}"
    external = conn.network.find_network("public")
    network = conn.network.create_network(name=tag)
    subnet = conn.network.create_subnet(name=tag, network_id=network.id, ip_version=4, cidr="10.6.0.0/24")
    router = conn.network.create_router(name=tag, external_gateway_info={"network_id": external.id})
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    group = conn.network.create_security_group(name=tag)
    conn.network.create_security_group_rule(security_group_id=group.id, direction="ingress", protocol="tcp",
                                            port_range_min=6443, port_range_max=6443, ethertype="IPv4")
    port = conn.network.create_port(name=tag, network_id=network.id, security_group_ids=[group.id])
    fip = conn.network.create_ip(floating_network_id=external.id, port_id=port.id)
    assert fip.floating_ip_address.startswith("172.24.4.")

    server = conn.compute.create_server(name=tag, flavor_id=conn.compute.find_flavor("test.medium").id,
                                        image_id=conn.image.find_image("test-image").id,
                                        networks=[{"port": port.id}], key_name="test-key")
    server = until("server ACTIVE", lambda: (s := conn.compute.get_server(server.id)).status == "ACTIVE" and s)
    assert conn.network.get_port(port.id).device_id == server.id
    bound = admin.network.get_port(port.id)  # bindings are the admin's to see
    assert (bound.binding_vif_type, bound.binding_host_id) == ("ovs", server.compute_host or bound.binding_host_id)

    image = conn.image.find_image("test-image")  # a volume from an image, as CAPO makes root volumes
    volume = conn.block_storage.create_volume(name=tag, size=1, image_id=image.id)
    volume = until("volume available",
                   lambda: (v := conn.block_storage.get_volume(volume.id)).status == "available" and v)
    assert volume.is_bootable and volume.volume_image_metadata["image_id"] == image.id
    conn.compute.create_volume_attachment(server, volume=volume)
    until("volume in-use", lambda: conn.block_storage.get_volume(volume.id).status == "in-use")

    lb = conn.load_balancer.create_load_balancer(name=tag, vip_subnet_id=subnet.id)
    lb = until("load balancer ACTIVE",
               lambda: (b := conn.load_balancer.get_load_balancer(lb.id)).provisioning_status == "ACTIVE" and b)
    vip = conn.network.get_port(lb.vip_port_id)  # a real neutron port (the stand-in network driver)
    assert vip.device_owner == "Octavia" and vip.fixed_ips[0]["subnet_id"] == subnet.id
    lb_fip = conn.network.create_ip(floating_network_id=external.id, port_id=vip.id)
    assert lb_fip.port_id == vip.id

    assert {("server", server.id), ("volume", volume.id), ("load_balancer", lb.id), ("router", router.id),
            ("floating_ip", fip.id), ("port", vip.id)} <= listing(conn)

    conn.network.delete_ip(lb_fip)
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)
    until("load balancer deleted", lambda: gone(conn.load_balancer.get_load_balancer, lb.id))
    assert gone(conn.network.get_port, vip.id)  # the VIP port goes with it
    conn.compute.delete_volume_attachment(server, volume.id)
    until("volume detached", lambda: conn.block_storage.get_volume(volume.id).status == "available")
    conn.block_storage.delete_volume(volume.id)
    conn.compute.delete_server(server.id)
    until("server deleted", lambda: gone(conn.compute.get_server, server.id))
    until("volume deleted", lambda: gone(conn.block_storage.get_volume, volume.id))
    conn.network.delete_ip(fip)
    conn.network.delete_port(port)
    conn.network.delete_security_group(group)
    conn.network.remove_interface_from_router(router, subnet=subnet.id)
    conn.network.delete_router(router)
    conn.network.delete_network(network)  # its subnet with it
    assert listing(conn) == before
