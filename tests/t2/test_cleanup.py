"""T2: `cluster-init cleanup` on the test OpenStack (testenv/openstack), run as a user runs it.

In a project of its own, two clusters' worth of resources are built the way CAPO v0.13.0 builds them (names,
descriptions, boot-from-volume servers with delete-on-termination volumes, a port and a root volume whose server
never came), next to resources that are nobody's cluster: an unattached volume, a volume and a server named like
one of the cluster's, a network with a port named after it, a floating IP, a security group, a key pair. Then:
the dry run changes nothing and shows exactly the cluster's resources; `--apply` killed after its first deletion
and run again brings the project back to its listing before the cluster existed, leaving the other cluster and
the rest as they were; the password (a canary) shows nowhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cluster_init.openstack import discovery
from cluster_init.openstack.markers import Cluster
from tests.conftest import ROOT
from tests.t2.conftest import openstack_connection

pytestmark = pytest.mark.t2

CLI = str(Path(sys.executable).parent / "cluster-init")
CANARY = f"canary-{uuid.uuid4().hex[:12]}-Pw"
NAMESPACE = "cluster-init"
A = Cluster(NAMESPACE, "capo-a")
B = Cluster(NAMESPACE, "capo-a-2")  # B's names all start with A's
ROLES = ("member", "load-balancer_member")
WAIT = 180.0

Listing = set[tuple[str, str, str]]


@dataclass
class Cloud:
    """The test project of this module: a connection as its user (whose password is the canary), and where the
    CLI finds the same credentials (a clouds.yaml, an environment folder)."""

    conn: Any
    clouds_yaml: Path
    env_dir: Path
    external_network: str
    flavor: str
    image: str
    grant_admin: Callable[[], None]


@pytest.fixture(scope="module")
def cloud(openstack_cloud: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    clouds_path, name = openstack_cloud
    config = yaml.safe_load(Path(clouds_path).read_text())["clouds"]
    admin: Any = openstack_connection(Path(clouds_path), f"{name}-admin")
    suffix = uuid.uuid4().hex[:8]
    project = admin.identity.create_project(name=f"cleanup-{suffix}", domain_id="default")
    user = admin.identity.create_user(name=f"cleanup-{suffix}", password=CANARY, domain_id="default",
                                      default_project_id=project.id)
    for role in ROLES:
        admin.identity.assign_project_role_to_user(project, user, admin.identity.find_role(role))
    auth = {**config[name]["auth"], "username": user.name, "password": CANARY, "project_name": project.name}
    folder = tmp_path_factory.mktemp("cleanup")
    clouds_yaml = folder / "clouds.yaml"
    clouds_yaml.write_text(yaml.safe_dump({"clouds": {"canary": {**config[name], "auth": auth}}}))
    conn = openstack_connection(clouds_yaml, "canary")
    env_dir = _environment(folder, A, auth, config[name].get("region_name", "RegionOne"))
    external = next(n for n in conn.network.networks(is_router_external=True))
    flavor = next(iter(conn.compute.flavors()))
    image = next(iter(conn.image.images()))
    try:
        grant = lambda: admin.identity.assign_project_role_to_user(  # noqa: E731
            project, user, admin.identity.find_role("admin"))
        yield Cloud(conn, clouds_yaml, env_dir, external.id, flavor.id, image.id, grant)
    finally:
        conn.close()
        admin.identity.delete_user(user)
        admin.identity.delete_project(project)  # whatever a failed test left stays in the wiped test cloud
        admin.close()


def _environment(folder: Path, cluster: Cluster, auth: dict[str, str], region: str) -> Path:
    """environment-values/kubeadm-capo with the cluster's name and the canary user's credentials."""
    env_dir = folder / "env"
    shutil.copytree(ROOT / "environment-values" / "kubeadm-capo", env_dir)
    values = yaml.safe_load((env_dir / "values.yaml").read_text())
    values["cluster"]["name"] = cluster.name
    (env_dir / "values.yaml").write_text(yaml.safe_dump(values))
    (env_dir / "secrets.yaml").write_text(yaml.safe_dump({"secrets": {"openstack": {**auth, "region_name": region}}}))
    return env_dir


def until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return result


def listing(conn: Any) -> Listing:
    """Everything in the project, by kind, id and name (statuses change on their own; these must not)."""
    inv = discovery.inventory(conn)
    found = {(kind, str(r["id"]), str(r.get("name") or "")) for kind, records in inv.items() for r in records}
    found |= {("keypair", k.name, k.name) for k in conn.compute.keypairs()}
    project = conn.current_project_id
    found |= {("security group rule", r.id, r.security_group_id)
              for r in conn.network.security_group_rules(project_id=project)}
    return found


class Builder:
    """Resources made the way CAPO v0.13.0 makes them for a cluster; `made` records (kind, id) of each."""

    def __init__(self, cloud: Cloud, cluster: Cluster) -> None:
        self.cloud, self.c, self.conn = cloud, cluster, cloud.conn
        self.made: set[tuple[str, str]] = set()

    def add(self, kind: str, resource: Any) -> Any:
        self.made.add((kind, resource.id))
        return resource

    def infrastructure(self, cidr: str) -> tuple[Any, list[Any]]:
        """Network, subnet, router with its interface, and the control plane and worker groups (ReconcileNetwork,
        ReconcileSubnet, ReconcileRouter, ReconcileSecurityGroups)."""
        net, c = self.conn.network, self.c
        network = self.add("network", net.create_network(name=c.network_name))
        subnet = self.add("subnet", net.create_subnet(name=c.network_name, description=c.description,
                                                      network_id=network.id, ip_version=4, cidr=cidr))
        gateway = {"network_id": self.cloud.external_network}
        router = self.add("router", net.create_router(name=c.network_name, description=c.description,
                                                      external_gateway_info=gateway))
        interface = net.add_interface_to_router(router, subnet=subnet.id)
        self.made.add(("router interface", interface["port_id"]))
        groups = [self.add("security group", net.create_security_group(
            name=name, description="Cluster API managed group")) for name in c.security_group_names[:2]]
        net.create_security_group_rule(security_group_id=groups[0].id, direction="ingress", protocol="tcp",
                                       port_range_min=6443, port_range_max=6443, remote_group_id=groups[1].id)
        return subnet, groups

    def machine(self, name: str, subnet: Any, group: Any, *, server: bool = True, root: bool = True,
                extra: bool = False) -> Any:
        """A machine's port `<machine>-0`, root volume `<machine>-root` and extra volume, and its server booted
        from them with delete_on_termination (EnsurePorts, getBlockDevices, createInstance)."""
        port = self.add("port", self.conn.network.create_port(
            name=f"{name}-0", description=self.c.description, network_id=subnet.network_id,
            security_groups=[group.id]))
        devices = []
        for suffix, description, index in (("root", f"Root volume for {name}", 0),
                                           ("etcd", f"Additional block device for {name}", -1)):
            if (suffix == "root" and root) or (suffix == "etcd" and extra):
                # blank and marked bootable, not made from the image as CAPO's root volume is: cleanup reads the
                # name and description, and the test cloud's fake volume driver does not copy images
                volume = self.add("volume", self.conn.block_storage.create_volume(
                    name=f"{name}-{suffix}", description=description, size=1))
                self.conn.block_storage.wait_for_status(volume, "available", wait=WAIT)
                if index == 0:
                    self.conn.block_storage.set_volume_bootable_status(volume, True)
                devices.append({"uuid": volume.id, "source_type": "volume", "destination_type": "volume",
                                "boot_index": index, "delete_on_termination": True})
        if not server:
            return port
        image = {} if root else {"image_id": self.cloud.image}
        made = self.add("server", self.conn.compute.create_server(
            name=name, flavor_id=self.cloud.flavor, networks=[{"port": port.id}], block_device_mapping=devices,
            **image))
        self.conn.compute.wait_for_server(made, wait=WAIT)
        return port

    def api_load_balancer(self, subnet: Any, members: list[Any]) -> None:
        """The API server's load balancer, listener, pool and members `<lb>-6443`, its floating IP described with
        the cluster (ReconcileLoadBalancer, ReconcileLoadBalancerMember)."""
        lb_api, name = self.conn.load_balancer, self.c.load_balancer_name
        lb = self.add("load balancer", lb_api.create_load_balancer(
            name=name, description=self.c.description, vip_subnet_id=subnet.id))
        active = lambda: lb_api.get_load_balancer(lb.id).provisioning_status == "ACTIVE"  # noqa: E731
        until(active, f"load balancer {name} ACTIVE")
        listener = lb_api.create_listener(name=f"{name}-6443", protocol="TCP", protocol_port=6443,
                                          load_balancer_id=lb.id)
        until(active, "the listener")
        pool = lb_api.create_pool(name=f"{name}-6443", protocol="TCP", lb_algorithm="ROUND_ROBIN",
                                  listener_id=listener.id)
        until(active, "the pool")
        for port in members:
            lb_api.create_member(pool, name=port.name[:-2], address=port.fixed_ips[0]["ip_address"],
                                 protocol_port=6443)
            until(active, "a member")
        vip = lb_api.get_load_balancer(lb.id).vip_port_id
        self.add("floating IP", self.conn.network.create_ip(
            floating_network_id=self.cloud.external_network, description=self.c.description, port_id=vip))

    def machine_floating_ip(self, port: Any) -> None:
        """With the API load balancer disabled (the bundle's choice), CAPO puts the API floating IP on the first
        control plane machine's port, described with the cluster."""
        self.add("floating IP", self.conn.network.create_ip(
            floating_network_id=self.cloud.external_network, description=self.c.description, port_id=port.id))


def build_a(cloud: Cloud) -> set[tuple[str, str]]:
    """Cluster A: load balancer, two servers (one with an extra volume, one booted from the image), and a
    machine whose server never came (its port and root volume left)."""
    b = Builder(cloud, A)
    subnet, (control_plane, worker) = b.infrastructure("10.6.0.0/24")
    first = b.machine("capo-a-control-plane-x1", subnet, control_plane, extra=True)
    b.machine("capo-a-md-0-y1", subnet, worker, root=False)
    b.machine("capo-a-control-plane-x2", subnet, control_plane, server=False)
    b.api_load_balancer(subnet, [first])
    return b.made


def build_b(cloud: Cloud) -> set[tuple[str, str]]:
    """Cluster B: no load balancer, its API floating IP on its one machine's port."""
    b = Builder(cloud, B)
    subnet, (control_plane, _) = b.infrastructure("10.7.0.0/24")
    b.machine_floating_ip(b.machine("capo-a-2-control-plane-z1", subnet, control_plane))
    return b.made


def build_unrelated(cloud: Cloud) -> None:
    """Nobody's cluster, though some of it looks close: must all survive every cleanup."""
    conn = cloud.conn
    network = conn.network.create_network(name="unrelated")
    subnet = conn.network.create_subnet(name="unrelated", network_id=network.id, ip_version=4, cidr="10.9.0.0/24")
    port = conn.network.create_port(name="capo-a-control-plane-x1-0", network_id=network.id)
    for name, description in (("data", "unattached, nobody's cluster"),
                              ("capo-a-control-plane-zz-root", "Root volume for capo-a-control-plane-zz")):
        volume = conn.block_storage.create_volume(name=name, description=description, size=1)
        conn.block_storage.wait_for_status(volume, "available", wait=WAIT)
    server = conn.compute.create_server(name="capo-a-control-plane-x1", flavor_id=cloud.flavor,
                                        image_id=cloud.image, networks=[{"port": port.id}])
    conn.compute.wait_for_server(server, wait=WAIT)
    conn.network.create_ip(floating_network_id=cloud.external_network, description="someone's")
    conn.network.create_security_group(name="unrelated", description="Cluster API managed group")
    key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    conn.compute.create_keypair(name="unrelated", public_key=key)
    assert subnet.id


def cleanup(cloud: Cloud, *args: str, env_dir: bool = True) -> subprocess.CompletedProcess[str]:
    where = [str(cloud.env_dir)] if env_dir else [str(cloud.env_dir), "--os-cloud", "canary"]
    return subprocess.run([CLI, "cleanup", *where, *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)}, check=False)


def killed_after_first_deletion(cloud: Cloud) -> str:
    """`cleanup --apply` SIGKILLed as soon as it reports its first deletion done; what it printed until then."""
    proc = subprocess.Popen([CLI, "cleanup", str(cloud.env_dir), "--apply"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)})
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("✓ [1/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


def test_cleanup_removes_one_cluster_and_nothing_else(cloud: Cloud) -> None:
    build_unrelated(cloud)
    unrelated = listing(cloud.conn)
    b_made = build_b(cloud)
    before_a = listing(cloud.conn)
    a_made = build_a(cloud)
    with_a = listing(cloud.conn)
    assert {i for _, i, _ in with_a - before_a} >= {i for _, i in a_made}

    start = time.monotonic()
    dry = cleanup(cloud, "-o", "json")
    print(f"dry run of cluster A: {time.monotonic() - start:.1f}s")
    assert dry.returncode == 0, dry.stderr
    assert {(r["kind"], r["id"]) for r in json.loads(dry.stdout)} == a_made
    assert listing(cloud.conn) == with_a, "the dry run changed the project"
    text = cleanup(cloud)
    assert text.returncode == 0 and A.load_balancer_name in text.stdout and "--apply" in text.stderr

    printed = killed_after_first_deletion(cloud)
    assert listing(cloud.conn) != with_a, "the killed cleanup deleted nothing"
    start = time.monotonic()
    resumed = cleanup(cloud, "--apply")
    took = time.monotonic() - start
    assert resumed.returncode == 0, resumed.stderr
    assert listing(cloud.conn) == before_a, "cluster A's cleanup left something, or took something else"
    print(f"cleanup of cluster A resumed after a kill: {took:.1f}s; {resumed.stdout.strip()}")

    again = cleanup(cloud, "--apply")
    assert again.returncode == 0 and "nothing found" in again.stdout + again.stderr

    start = time.monotonic()
    b = cleanup(cloud, "--cluster", B.name, "--apply", "-o", "json", env_dir=False)
    print(f"cleanup of cluster B ({len(b_made)} resources): {time.monotonic() - start:.1f}s")
    assert b.returncode == 0, b.stderr
    assert {(r["kind"], r["id"]) for r in json.loads(b.stdout)} == b_made
    gone_with_server = {r["kind"] for r in json.loads(b.stdout) if r["result"] == "already gone"}
    assert gone_with_server <= {"volume"}, "only volumes go with their server (delete_on_termination)"
    assert listing(cloud.conn) == unrelated, "cluster B's cleanup left something, or took something else"

    for output in (dry, text, resumed, again, b):
        assert CANARY not in output.stdout + output.stderr
    assert CANARY not in printed


def test_stuck_volume_and_errored_server_are_unstuck_and_deleted(cloud: Cloud) -> None:
    """A volume stuck `detaching` with no server, and a server in ERROR: with an admin role (Cinder's reset-state
    is an admin action), cleanup resets the volume and deletes both. As an admin, Neutron shows every project's
    resources: the cleanup still takes only this project's."""
    c = Cluster(NAMESPACE, "capo-c")
    before = listing(cloud.conn)
    b = Builder(cloud, c)
    subnet, (control_plane, _) = b.infrastructure("10.8.0.0/24")
    b.machine("capo-c-control-plane-1", subnet, control_plane, server=False)
    b.machine("capo-c-control-plane-2", subnet, control_plane, root=False)
    cloud.grant_admin()
    conn = openstack_connection(cloud.clouds_yaml, "canary")  # a new token, with the admin role
    volume = next(v for v in conn.block_storage.volumes() if v.name == "capo-c-control-plane-1-root")
    server = next(s for s in conn.compute.servers() if s.name == "capo-c-control-plane-2")
    conn.block_storage.reset_volume_status(volume, "detaching", "attached", None)
    conn.compute.reset_server_state(server, "error")
    until(lambda: conn.block_storage.get_volume(volume.id).status == "detaching", "the volume stuck detaching")

    start = time.monotonic()
    done = cleanup(cloud, "--cluster", c.name, "--apply", "--timeout", "20", "-o", "json")
    assert done.returncode == 0, done.stderr
    print(f"cleanup of cluster C (a stuck volume, an ERROR server): {time.monotonic() - start:.1f}s")
    results = {r["id"]: r["result"] for r in json.loads(done.stdout)}
    assert set(results) == {i for _, i in b.made}
    assert results[volume.id] == "deleted after a status reset" and results[server.id].startswith("deleted")
    assert listing(cloud.conn) == before
    assert CANARY not in done.stdout + done.stderr
