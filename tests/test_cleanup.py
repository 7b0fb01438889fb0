"""`cluster-init cleanup`, offline: which recorded resources the matchers take, in what order, and how the plan
and bad input look. The listings are shaped as openstacksdk's resources (to_dict), following what CAPO v0.13.0
creates for a cluster (names, descriptions, delete-on-termination volumes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cluster_init.openstack import apply, discovery, markers, plan
from cluster_init.openstack.markers import Cluster
from tests.conftest import Result

pytestmark = pytest.mark.t0

A = Cluster("cluster-init", "mgmt")
B = Cluster("cluster-init", "mgmt-2")  # every name of B starts with A's: matching must be exact
CANARY = "canary-Pa55-not-to-be-seen-0d9c"


def capo_cluster(c: Cluster, *, machines: tuple[str, ...], dangling: str, lb: bool = True) -> dict[str, list[Any]]:
    """What CAPO leaves for a cluster: its network, router, groups, API load balancer and floating IP, and per
    machine a port, a server and its root volume; `dangling` has a port and a root volume but no server."""
    key = c.name
    desc = c.description
    inv: dict[str, list[Any]] = {k: [] for k in discovery.KINDS}
    inv["networks"].append({"id": f"net-{key}", "name": c.network_name, "description": ""})
    inv["subnets"].append({"id": f"sub-{key}", "name": c.network_name, "description": desc, "network_id": f"net-{key}"})
    inv["routers"].append({"id": f"rtr-{key}", "name": c.network_name, "description": desc, "status": "ACTIVE"})
    inv["ports"].append({"id": f"rif-{key}", "name": "", "device_owner": "network:router_interface",
                         "device_id": f"rtr-{key}", "network_id": f"net-{key}",
                         "fixed_ips": [{"subnet_id": f"sub-{key}"}]})
    inv["ports"].append({"id": f"dhcp-{key}", "name": "", "device_owner": "network:dhcp", "device_id": "dhcp",
                         "network_id": f"net-{key}"})
    inv["security_groups"] += [{"id": f"sg-{key}-{n}", "name": n, "description": markers.SECURITY_GROUP_DESCRIPTION}
                               for n in c.security_group_names[:2]]
    if lb:
        inv["load_balancers"].append({"id": f"lb-{key}", "name": c.load_balancer_name, "description": desc,
                                      "provisioning_status": "ERROR", "listeners": [{"id": f"lis-{key}"}],
                                      "pools": [{"id": f"pool-{key}"}], "vip_port_id": f"vip-{key}"})
        inv["listeners"].append({"id": f"lis-{key}", "name": f"{c.load_balancer_name}-6443"})
        inv["pools"].append({"id": f"pool-{key}", "name": f"{c.load_balancer_name}-6443", "members": [{"id": "m"}]})
        inv["ports"].append({"id": f"vip-{key}", "name": f"octavia-lb-lb-{key}", "device_owner": "Octavia",
                             "network_id": f"net-{key}", "description": ""})
        inv["floating_ips"].append({"id": f"fip-{key}", "floating_ip_address": "172.24.4.10", "description": desc,
                                    "port_id": f"vip-{key}", "status": "DOWN"})
    for m in (*machines, dangling):
        server = m != dangling
        inv["ports"].append({"id": f"port-{m}", "name": f"{m}-0", "description": desc, "network_id": f"net-{key}",
                             "device_owner": "compute:nova" if server else "",
                             "device_id": f"srv-{m}" if server else ""})
        inv["volumes"].append({"id": f"vol-{m}", "name": f"{m}-root", "description": f"Root volume for {m}",
                               "status": "in-use" if server else "available"})
        if server:
            inv["servers"].append({"id": f"srv-{m}", "name": m, "status": "ACTIVE"})
    inv["trunks"].append({"id": f"trunk-{key}", "name": f"{machines[0]}-0", "port_id": f"port-{machines[0]}"})
    return inv


def unrelated() -> dict[str, list[Any]]:
    """The project's other tenants: an unattached volume, a volume that only looks like CAPO's, a persistent
    volume on one of A's servers, a network, a port and a floating IP of someone else."""
    return {
        "volumes": [{"id": "vol-data", "name": "data", "description": "", "status": "available"},
                    {"id": "vol-alike", "name": "mgmt-root", "description": "Root volume for mgmt",
                     "status": "available"},
                    {"id": "vol-pv", "name": "pvc-1234", "description": "Created by OpenStack Cinder CSI driver",
                     "status": "in-use", "attachments": [{"server_id": "srv-mgmt-cp-a"}]}],
        "networks": [{"id": "net-other", "name": "private", "description": ""}],
        "ports": [{"id": "port-other", "name": "mgmt-x", "description": "", "network_id": "net-other",
                   "device_owner": ""}],
        "floating_ips": [{"id": "fip-other", "floating_ip_address": "172.24.4.99", "description": "mine"}],
        "security_groups": [{"id": "sg-default", "name": "default", "description": "Default security group"}],
    }


def project() -> discovery.Inventory:
    inv: discovery.Inventory = {k: [] for k in discovery.KINDS}
    for part in (capo_cluster(A, machines=("mgmt-cp-a", "mgmt-md-b"), dangling="mgmt-cp-c"),
                 capo_cluster(B, machines=("mgmt-2-cp-a",), dangling="mgmt-2-cp-z"), unrelated()):
        for kind, records in part.items():
            inv[kind] += records
    return inv


def test_finds_exactly_the_clusters_resources() -> None:
    found = {(i.kind, i.id) for i in discovery.find(A, project())}
    assert found == {
        ("load balancer", "lb-mgmt"), ("floating IP", "fip-mgmt"), ("network", "net-mgmt"), ("subnet", "sub-mgmt"),
        ("router", "rtr-mgmt"), ("router interface", "rif-mgmt"), ("trunk", "trunk-mgmt"),
        ("security group", "sg-mgmt-k8s-cluster-cluster-init-mgmt-secgroup-controlplane"),
        ("security group", "sg-mgmt-k8s-cluster-cluster-init-mgmt-secgroup-worker"),
        *{(k, f"{p}-{m}") for m in ("mgmt-cp-a", "mgmt-md-b") for k, p in (("server", "srv"), ("port", "port"))},
        *{("volume", f"vol-{m}") for m in ("mgmt-cp-a", "mgmt-md-b", "mgmt-cp-c")}, ("port", "port-mgmt-cp-c"),
    }


def test_other_cluster_and_unrelated_resources_are_never_taken() -> None:
    taken = {i.id for i in discovery.find(A, project())}
    b_ids = {r["id"] for records in capo_cluster(B, machines=("mgmt-2-cp-a",), dangling="mgmt-2-cp-z").values()
             for r in records}
    others = {r["id"] for records in unrelated().values() for r in records}
    assert not taken & (b_ids | others)
    assert {i.id for i in discovery.find(B, project())} == b_ids - {"vip-mgmt-2", "dhcp-mgmt-2", "lis-mgmt-2",
                                                                      "pool-mgmt-2"}


def test_plan_is_in_dependency_order() -> None:
    items = discovery.find(A, project())
    kinds = [i.kind for i in items]
    assert kinds == sorted(kinds, key=plan.ORDER.index)
    first = {k: kinds.index(k) for k in kinds}
    assert first["load balancer"] < first["server"] < first["volume"] < first["floating IP"] < first["trunk"]
    assert first["trunk"] < first["port"] < first["router interface"] < first["router"] < first["subnet"]
    assert first["subnet"] < first["network"] < first["security group"]


def test_a_server_that_never_got_its_port() -> None:
    """A server in ERROR without any address is found by its port's name; a namesake with an address is not."""
    inv = project()
    inv["servers"] += [{"id": "srv-err", "name": "mgmt-cp-c", "status": "ERROR", "addresses": {}},
                       {"id": "srv-twin", "name": "mgmt-cp-c", "status": "ACTIVE", "addresses": {"private": [{}]}}]
    servers = {i.id for i in discovery.find(A, inv) if i.kind == "server"}
    assert servers == {"srv-mgmt-cp-a", "srv-mgmt-md-b", "srv-err"}


def test_a_dangling_volume_is_found_after_its_server_is_gone() -> None:
    """A cleanup killed after the servers: the machines' names still come from their ports."""
    inv = project()
    inv["servers"] = [s for s in inv["servers"] if not s["name"].startswith("mgmt-cp")]
    volumes = {i.id for i in discovery.find(A, inv) if i.kind == "volume"}
    assert volumes == {"vol-mgmt-cp-a", "vol-mgmt-md-b", "vol-mgmt-cp-c"}


def test_volume_markers_are_exact() -> None:
    assert markers.volume_machine("m-1-root", "Root volume for m-1") == "m-1"
    assert markers.volume_machine("m-1-etcd", "Additional block device for m-1") == "m-1"
    assert markers.volume_machine("m-1-etcd", "Root volume for m-1") is None
    assert markers.volume_machine("m-2-root", "Root volume for m-1") is None
    assert markers.volume_machine("data", "") is None
    assert markers.machine_of_port("mgmt-cp-a-0") == "mgmt-cp-a"
    assert markers.machine_of_port("mgmt-cp-a-eth0") is None


def test_plan_text_and_json() -> None:
    items = discovery.find(A, project())
    text = plan.as_text(items, "cluster cluster-init/mgmt")
    assert "1 load balancer" in text and "listener k8s-clusterapi-cluster-cluster-init-mgmt-kubeapi-6443" in text
    assert "3 volumes" in text and "mgmt-cp-c-root" in text
    rows = json.loads(plan.as_json(items, {"lb-mgmt": "deleted"}))
    assert [r["id"] for r in rows] == [i.id for i in items]
    assert rows[0]["result"] == "deleted" and rows[1]["result"] == "not reached"
    assert plan.as_text([], "cluster x") == "cluster x: nothing found\n"


class Scripted:
    """One resource that answers like an API (a stand-in, for the deletion loop's logic only): refuses `refuse`
    delete requests as busy, then goes; or stays `stuck` until its status is reset."""

    def __init__(self, state: str | None, refuse: int = 0, fixable: bool = True) -> None:
        self.state, self.refuse, self.fixable, self.deletes, self.resets = state, refuse, fixable, 0, 0

    def read(self, *_: Any) -> Any:
        return None if self.state is None else {"status": self.state}

    def delete(self, *_: Any) -> None:
        from openstack import exceptions

        self.deletes += 1
        if self.deletes <= self.refuse:
            raise exceptions.ConflictException("busy")
        self.state = None

    def unstick(self, *_: Any) -> None:
        self.resets += 1
        self.state = "ok" if self.fixable else self.state


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Scripted]:
    monkeypatch.setattr(apply, "POLL_FIRST", 0.001)
    monkeypatch.setattr(apply, "POLL_MAX", 0.001)

    def make(state: str | None, refuse: int = 0, fixable: bool = True) -> Scripted:
        res = Scripted(state, refuse, fixable)
        monkeypatch.setitem(apply.KINDS, "volume", apply.Kind(res.read, res.delete, lambda r: r["status"] == "ok",
                                                              res.unstick))
        return res

    return make


ITEM = plan.Item("volume", "v1", "m-root", "", "test")


def test_busy_is_retried_until_deleted(scripted: Callable[..., Scripted]) -> None:
    res = scripted("ok", refuse=2)
    assert apply.delete_one(None, ITEM, timeout=60) == "deleted"  # type: ignore[arg-type]
    assert res.deletes == 3 and res.resets == 0


def test_a_dropped_connection_is_asked_again(scripted: Callable[..., Scripted],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy closing an idle connection under a read or a delete request does not end the cleanup."""
    from keystoneauth1.exceptions import ConnectFailure

    res = scripted("ok")
    drops = {"read": 2, "delete": 1}

    def flaky(call: Callable[..., Any], name: str) -> Callable[..., Any]:
        def once(*args: Any) -> Any:
            if drops[name]:
                drops[name] -= 1
                raise ConnectFailure("Remote end closed connection without response")
            return call(*args)
        return once

    monkeypatch.setitem(apply.KINDS, "volume", apply.Kind(flaky(res.read, "read"), flaky(res.delete, "delete"),
                                                          lambda r: r["status"] == "ok", res.unstick))
    assert apply.delete_one(None, ITEM, timeout=60) == "deleted"  # type: ignore[arg-type]
    assert drops == {"read": 0, "delete": 0} and res.deletes == 1


def test_already_gone_is_not_an_error(scripted: Callable[..., Scripted]) -> None:
    res = scripted(None)
    assert apply.delete_one(None, ITEM, timeout=60) == "already gone"  # type: ignore[arg-type]
    assert res.deletes == 0


def test_stuck_is_reset_then_deleted(scripted: Callable[..., Scripted]) -> None:
    res = scripted("detaching")
    assert apply.delete_one(None, ITEM, timeout=0.05) == "deleted after a status reset"  # type: ignore[arg-type]
    assert res.resets == 1 and res.deletes == 1


def test_a_reset_refused_is_not_claimed(scripted: Callable[..., Scripted], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an admin role the reset is refused (403): the loop goes on, and does not say it reset anything."""
    from openstack import exceptions

    res = scripted("detaching")

    def refused(*_: Any) -> None:
        res.state = "ok"  # it comes loose on its own, later
        raise exceptions.ForbiddenException("admin only")

    monkeypatch.setitem(apply.KINDS, "volume", apply.Kind(res.read, res.delete, lambda r: r["status"] == "ok",
                                                          refused))
    assert apply.delete_one(None, ITEM, timeout=0.05) == "deleted"  # type: ignore[arg-type]


def test_a_deletion_that_never_ends_fails_with_one_line(scripted: Callable[..., Scripted]) -> None:
    from cluster_init.errors import RuntimeFailure

    scripted("detaching", fixable=False)
    with pytest.raises(RuntimeFailure, match=r"volume m-root \(v1\) is still there after 0s \(status detaching\)"):
        apply.delete_one(None, ITEM, timeout=0.02)  # type: ignore[arg-type]


def test_a_load_balancer_stuck_pending_says_what_can_be_done(monkeypatch: pytest.MonkeyPatch) -> None:
    """Octavia cannot reset PENDING_*: past the deadline, the line says so instead of promising a retry helps."""
    from cluster_init.errors import RuntimeFailure

    monkeypatch.setattr(apply, "POLL_FIRST", 0.001)
    monkeypatch.setattr(apply, "POLL_MAX", 0.001)
    stuck = apply.KINDS["load balancer"]
    monkeypatch.setitem(apply.KINDS, "load balancer", apply.Kind(
        lambda *_: {"provisioning_status": "PENDING_UPDATE"}, stuck.delete, stuck.ready, None, stuck.still_there))
    item = plan.Item("load balancer", "lb1", "k8s-clusterapi-cluster-ns-c-kubeapi", "", "test")
    with pytest.raises(RuntimeFailure, match=r"\(status PENDING_UPDATE\); Octavia has no API to reset"):
        apply.delete_one(None, item, timeout=0.02)  # type: ignore[arg-type]


def test_not_an_openstack_environment(cli: Callable[..., Result], make_env: Callable[..., Any]) -> None:
    result = cli("cleanup", str(make_env("kubeadm-capd")))
    assert result.code == 2
    assert "cluster.infra_provider: is capd, not capo" in result.err and result.out == ""


def test_placeholder_credentials(cli: Callable[..., Result], make_env: Callable[..., Any]) -> None:
    result = cli("cleanup", str(make_env("kubeadm-capo")))
    assert result.code == 2
    assert "secrets.yaml:6: secrets.openstack.password: is still the placeholder" in result.err


def test_unreachable_cloud_fails_without_showing_the_password(cli: Callable[..., Result],
                                                              make_env: Callable[..., Any]) -> None:
    env = make_env("kubeadm-capo", secrets=f"""\
        secrets:
          openstack:
            auth_url: http://127.0.0.1:9/v3
            username: admin
            password: {CANARY}
            project_name: admin
        """)
    result = cli("cleanup", str(env), "--timeout", "5")
    assert result.code == 1
    assert "error: OpenStack:" in result.err and len(result.err.strip().splitlines()) == 1
    assert CANARY not in result.out + result.err


def test_unknown_cloud(cli: Callable[..., Result], make_env: Callable[..., Any], tmp_path: Any,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  test:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n      password: {CANARY}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    result = cli("cleanup", str(make_env("kubeadm-capo")), "--os-cloud", "nope")
    assert result.code == 2 and "clouds.nope: cannot be used" in result.err
    assert CANARY not in result.out + result.err
