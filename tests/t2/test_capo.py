"""T2, kubeadm-capo and rke2-capo on the test OpenStack, as far as infrastructure goes: `cluster-init bootstrap`
as a user runs it, on the offline stack, with the test cloud's credentials in the environment's secrets. CAPO and
ORC reconcile the chart's OpenStackCluster (network, subnet, router, security groups, the API server's floating
IP) and the control plane machine reaches an ACTIVE server with its port, booted from its root volume. The fake
servers run no Kubernetes, so the bootstrap cannot finish: the test stops at the Cluster API conditions reached
by then, deletes the bootstrap cluster without any clean-up, and `cluster-init cleanup --apply` must bring the
project back to its listing from before the cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testenv import openstack as test_cloud
from testenv.build import BuildError
from testenv.stack import build_all, cluster
from testenv.stack import environment as stack_environment
from tests.conftest import ROOT
from tests.t2.conftest import openstack_connection

pytestmark = pytest.mark.t2

NAME = "t2-capo"
CLUSTER = "management-cluster"  # the Cluster's name in both capo environments
ENVIRONMENTS = ("kubeadm-capo", "rke2-capo")
WITH_LOAD_BALANCER = ("rke2-capo",)  # its API server behind Octavia; kubeadm-capo's behind a floating IP
NAMESPACE = "cluster-init"
CLI = str(Path(sys.executable).parent / "cluster-init")
RECONCILE = 2700.0  # the stack, Flux, the providers, then CAPO: generous, on 2 shared cores

Listing = set[tuple[str, str]]


def project_listing(conn: Any) -> Listing:
    """Every resource of the project, by type and name/id: what a cluster may add and a clean-up must remove."""
    kinds: dict[str, Callable[[], Any]] = {
        "server": conn.compute.servers, "keypair": conn.compute.keypairs, "network": conn.network.networks,
        "subnet": conn.network.subnets, "port": conn.network.ports, "router": conn.network.routers,
        "floating_ip": conn.network.ips, "security_group": conn.network.security_groups,
        "volume": conn.block_storage.volumes, "load_balancer": conn.load_balancer.load_balancers}
    project = conn.current_project_id
    return {(kind, r.id) for kind, list_ in kinds.items() for r in list_()
            if getattr(r, "project_id", None) in (project, None)}


@dataclass
class Capo:
    conn: Any
    kubeconfig: Path
    before: Listing
    env: Path
    clouds_yaml: Path
    cloud: str
    reconciled_in: float
    log: Path

    def get(self, kind: str, name: str = "") -> Any:
        args = ["get", kind, *([name] if name else []), "-n", NAMESPACE, "-o", "json"]
        return json.loads(cluster.kubectl(self.kubeconfig, *args, timeout=120))


def write_environment(name: str, work: Path, clouds_yaml: Path, cloud: str) -> Path:
    """The environment pointed at the stack's mirrors and at the test cloud: its seeded flavor, image, external network
    and keypair in the values, its test user in the secrets."""
    seeded = test_cloud.seeded()
    capo = {"external_network_id": seeded["external_network_id"], "image_name": test_cloud.IMAGE,
            "control_plane_flavor": test_cloud.FLAVOR, "worker_flavor": test_cloud.FLAVOR,
            "ssh_key_name": seeded["keypair"], "api_server_load_balancer": name in WITH_LOAD_BALANCER}
    env = stack_environment.write(ROOT / "environment-values" / name, work / name,
                                  {"cluster": {"capo": capo}})
    entry = yaml.safe_load(clouds_yaml.read_text())["clouds"][cloud]
    (env / "secrets.yaml").write_text(yaml.safe_dump({"secrets": {"openstack": {
        **entry["auth"], "region_name": entry["region_name"]}}}))
    return env


def reconciled(capo: Capo, proc: subprocess.Popen[bytes]) -> str | None:
    """What is still missing: the OpenStackCluster ready, and every OpenStackMachine ready (its server ACTIVE)."""
    if proc.poll() is not None:
        pytest.fail(f"bootstrap exited ({proc.returncode}):\n{capo.log.read_text()[-4000:]}")
    try:
        ostack = capo.get("openstackclusters")["items"]
        machines = capo.get("openstackmachines")["items"]
    except Exception as e:  # the CRDs come with the providers' units
        return f"not yet listable: {str(e)[:200]}"
    if not ostack or not ostack[0].get("status", {}).get("ready"):
        return f"OpenStackCluster not ready: {ostack[0].get('status', {}) if ostack else 'absent'}"[:400]
    if not machines or not all(m.get("status", {}).get("ready") for m in machines):
        return f"OpenStackMachines not ready: {[m.get('status', {}) for m in machines]}"[:400]
    return None


def kind_kubeconfig(path: Path) -> str | None:
    """The bootstrap cluster's kubeconfig written to `path` once kind has made its node; else why not."""
    try:
        path.write_text(cluster.kind("get", "kubeconfig", "--name", NAME))
    except BuildError as e:
        return str(e)[-200:]
    return None


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def capo(request: pytest.FixtureRequest, openstack_cloud: tuple[Path, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capo]:
    clouds_yaml, cloud = openstack_cloud
    build_all()
    conn = openstack_connection(clouds_yaml, cloud)
    work = tmp_path_factory.mktemp(request.param)
    env = write_environment(request.param, work, clouds_yaml, cloud)
    before = project_listing(conn)
    cluster.down(NAME)
    log = work / "bootstrap.log"
    start = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([CLI, "bootstrap", str(env), "--kind", NAME, "--timeout", str(int(RECONCILE * 2))],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        kubeconfig = work / f"{NAME}.kubeconfig"
        cluster.wait_until(f"bootstrap cluster {NAME}", lambda: kind_kubeconfig(kubeconfig), 900)
        result = Capo(conn, kubeconfig, before, env, clouds_yaml, cloud, 0.0, log)
        cluster.wait_until("CAPO reconciled the cluster and its machines", lambda: reconciled(result, proc),
                           RECONCILE)
        result.reconciled_in = time.monotonic() - start
        print(f"\n{request.param}: CAPO reconciled the cluster and machines {result.reconciled_in:.0f}s after "
              "bootstrap started", file=sys.stderr)
        yield result
    finally:
        proc.kill()
        proc.wait(timeout=60)
        cluster.down(NAME)
        conn.close()


def test_the_openstack_cluster_is_built_in_openstack(capo: Capo) -> None:
    """The network, subnet and router CAPO reports exist in neutron, wired as the values ask: the subnet with the
    node CIDR and DNS servers, the router's gateway on the external network and an interface on the subnet; the
    security groups exist with rules; the API server's floating IP is on the external network."""
    status = capo.get("openstackcluster", CLUSTER)["status"]
    spec = capo.get("openstackcluster", CLUSTER)["spec"]
    network = capo.conn.network.get_network(status["network"]["id"])
    subnet = capo.conn.network.get_subnet(status["network"]["subnets"][0]["id"])
    assert subnet.network_id == network.id and subnet.cidr == "10.6.0.0/24"
    assert subnet.dns_nameservers == ["192.0.2.53"]
    router = capo.conn.network.get_router(status["router"]["id"])
    assert router.external_gateway_info["network_id"] == test_cloud.seeded()["external_network_id"]
    interfaces = list(capo.conn.network.ports(device_id=router.id, network_id=network.id))
    assert [ip["subnet_id"] for p in interfaces for ip in p.fixed_ips] == [subnet.id]
    for group in ("controlPlaneSecurityGroup", "workerSecurityGroup"):
        assert capo.conn.network.get_security_group(status[group]["id"]).security_group_rules
    host = spec["controlPlaneEndpoint"]["host"]
    fips = list(capo.conn.network.ips(floating_ip_address=host))
    assert [f.floating_network_id for f in fips] == [test_cloud.seeded()["external_network_id"]]
    if capo.env.name in WITH_LOAD_BALANCER:  # the floating IP is on the load balancer's VIP, in the cluster's subnet
        balancer = capo.conn.load_balancer.get_load_balancer(status["apiServerLoadBalancer"]["id"])
        assert balancer.provisioning_status == "ACTIVE" and balancer.vip_subnet_id == subnet.id
        assert [f.port_id for f in fips] == [balancer.vip_port_id]
        listeners = [capo.conn.load_balancer.get_listener(listener["id"]) for listener in balancer.listeners]
        assert 6443 in [listener.protocol_port for listener in listeners]


def test_the_machines_are_active_servers_with_their_ports_and_volumes(capo: Capo) -> None:
    """One control plane machine (the values' replicas): an ACTIVE server with the seeded flavor, booted from the
    root volume CAPO made from the seeded image (the environments' root_volume_size: 20 GiB), its port on the
    cluster's subnet in the control plane security group, the API server's floating IP on it."""
    machines = capo.get("openstackmachines")["items"]
    assert len(machines) == 1, [m["metadata"]["name"] for m in machines]
    status = capo.get("openstackcluster", CLUSTER)["status"]
    for machine in machines:
        server = capo.conn.compute.get_server(machine["status"]["instanceID"])
        assert server.status == "ACTIVE" and server.name == machine["metadata"]["name"]
        assert machine["spec"]["providerID"] == f"openstack:///{server.id}"
        assert server.flavor["original_name"] == test_cloud.FLAVOR
        volumes = [capo.conn.block_storage.get_volume(v["id"]) for v in server.attached_volumes]
        assert [(v.name, v.size, v.status, v.is_bootable) for v in volumes] == [
            (f"{server.name}-root", 20, "in-use", True)]
        assert volumes[0].volume_image_metadata["image_name"] == test_cloud.IMAGE
        assert [a["server_id"] for a in volumes[0].attachments] == [server.id]
        ports = list(capo.conn.network.ports(device_id=server.id))
        assert [ip["subnet_id"] for p in ports for ip in p.fixed_ips] == [status["network"]["subnets"][0]["id"]]
        assert status["controlPlaneSecurityGroup"]["id"] in ports[0].security_group_ids
        if capo.env.name in WITH_LOAD_BALANCER:  # the machine is a member of the API server's pool
            balancer = capo.conn.load_balancer.get_load_balancer(status["apiServerLoadBalancer"]["id"])
            members = [m.address for pool in balancer.pools
                       for m in capo.conn.load_balancer.members(pool["id"])]
            assert ports[0].fixed_ips[0]["ip_address"] in members
        else:  # the API server's floating IP is on the machine
            endpoint = capo.get("openstackcluster", CLUSTER)["spec"]["controlPlaneEndpoint"]["host"]
            assert [f.port_id for f in capo.conn.network.ips(floating_ip_address=endpoint)] == [ports[0].id]


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for c in obj.get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return str(c["status"])
    return None


def not_yet_seen(capo: Capo) -> str | None:
    """What Cluster API has not yet mirrored: InfrastructureReady on the Cluster and every Machine, and
    BootstrapConfigReady on every Machine (they follow CAPO's objects by a reconcile or two)."""
    machines = capo.get("machines.cluster.x-k8s.io")["items"]
    wanted = [(capo.get("clusters.cluster.x-k8s.io", CLUSTER), "InfrastructureReady"),
              *[(m, kind) for m in machines for kind in ("InfrastructureReady", "BootstrapConfigReady")]]
    waiting = [f"{o['metadata']['name']} {kind}" for o, kind in wanted if condition(o, kind) != "True"]
    return f"not True yet: {waiting}" if waiting else None


def test_cluster_api_conditions_up_to_the_nodes(capo: Capo) -> None:
    """Cluster API saw the infrastructure ready and the bootstrap data made; no node ever joins (the fake servers
    run nothing), so the control plane is never initialized."""
    cluster.wait_until("Cluster API saw the infrastructure and bootstrap data ready", lambda: not_yet_seen(capo), 300)
    assert condition(capo.get("clusters.cluster.x-k8s.io", CLUSTER), "ControlPlaneInitialized") == "False"
    for machine in capo.get("machines.cluster.x-k8s.io")["items"]:
        assert condition(machine, "NodeReady") != "True"
        assert machine["status"].get("phase") in ("Provisioned", "Provisioning")


def test_cleanup_after_the_bootstrap_cluster_is_gone_restores_the_project(capo: Capo) -> None:
    """The bootstrap cluster deleted without any clean-up (what a dead management cluster leaves), then
    `cluster-init cleanup --apply`: the project lists exactly what it did before the cluster."""
    assert project_listing(capo.conn) > capo.before
    cluster.down(NAME)
    proc = subprocess.run([CLI, "cleanup", str(capo.env), "--cluster", CLUSTER, "--apply"], capture_output=True,
                          text=True, timeout=1800, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert project_listing(capo.conn) == capo.before
