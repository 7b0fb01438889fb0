"""Offline checks of the pivot's pieces: the move graph semantics, the scheduler, kubeconfig loading, error
redaction and the copy comparison. No API server: these are tier T0, next to the T1 pivot tests they support."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init.kube import KubeConfig, KubeconfigError
from cluster_init.kube.client import _error
from cluster_init.pivot import preflight
from cluster_init.pivot.discovery import template_refs
from cluster_init.pivot.graph import Graph, class_key, secret_cluster_name, types_from_crds
from cluster_init.pivot.names import CAPI_PAUSED, MOVE_HIERARCHY_LABEL, MOVE_LABEL, PAUSED_BY_PIVOT, SOURCE_UID
from cluster_init.pivot.schedule import in_order, run_all
from cluster_init.pivot.verify import differences

pytestmark = pytest.mark.t0

JSON = dict[str, Any]


def crd(group: str, kind: str, *, scope: str = "Namespaced", labels: dict[str, str] | None = None,
        versions: tuple[str, ...] = ("v1beta1", "v1beta2"), storage: str = "v1beta2", status: bool = True) -> JSON:
    return {"metadata": {"name": f"{kind.lower()}s.{group}", "labels": {"clusterctl.cluster.x-k8s.io": "",
                                                                         **(labels or {})}},
            "spec": {"group": group, "scope": scope, "names": {"kind": kind, "plural": f"{kind.lower()}s"},
                     "versions": [{"name": v, "served": True, "storage": v == storage,
                                   **({"subresources": {"status": {}}} if status else {})} for v in versions]}}


TYPES = types_from_crds([
    crd("cluster.x-k8s.io", "Cluster"), crd("cluster.x-k8s.io", "ClusterClass"), crd("cluster.x-k8s.io", "Machine"),
    crd("addons.cluster.x-k8s.io", "ClusterResourceSet"), crd("addons.cluster.x-k8s.io", "ClusterResourceSetBinding"),
    crd("infrastructure.cluster.x-k8s.io", "DockerCluster", versions=("v1beta1", "v1beta2")),
    crd("infrastructure.cluster.x-k8s.io", "OpenStackCluster", versions=("v1beta1",), storage="v1beta1"),
    crd("infrastructure.cluster.x-k8s.io", "DockerMachineTemplate", status=False),
    crd("infrastructure.cluster.x-k8s.io", "TwinIdentity", scope="Cluster", labels={MOVE_HIERARCHY_LABEL: ""}),
    crd("infrastructure.cluster.x-k8s.io", "TwinNetwork", labels={MOVE_LABEL: ""}),
])

_uid = 0


def obj(kind: str, name: str, ns: str = "ns", *, owners: list[JSON] | None = None, api: str = "",
        labels: dict[str, str] | None = None, **fields: Any) -> JSON:
    global _uid
    _uid += 1
    groups = {"Cluster": "cluster.x-k8s.io", "ClusterClass": "cluster.x-k8s.io", "Machine": "cluster.x-k8s.io",
              "ClusterResourceSet": "addons.cluster.x-k8s.io", "ClusterResourceSetBinding": "addons.cluster.x-k8s.io"}
    api = api or ("v1" if kind in ("Secret", "ConfigMap") else
                  f"{groups.get(kind, 'infrastructure.cluster.x-k8s.io')}/v1beta2")
    meta: JSON = {"name": name, "uid": f"uid-{_uid}-{name}", "labels": labels or {}}
    if ns:
        meta["namespace"] = ns
    if owners:
        meta["ownerReferences"] = [{"apiVersion": o["apiVersion"], "kind": o["kind"], "name": o["metadata"]["name"],
                                    "uid": o["metadata"]["uid"]} for o in owners]
    return {"apiVersion": api, "kind": kind, "metadata": meta, **fields}


def graph(*objs: JSON, namespace: str | None = None, other_clusters: list[JSON] | None = None) -> Graph:
    g = Graph(TYPES)
    for o in objs:
        g.add(o)
    g.complete(namespace, other_clusters or [])
    return g


def moved(g: Graph) -> set[str]:
    return {f"{n.kind}/{n.name}" for n in g.plan().nodes}


def test_types_follow_the_crd_labels() -> None:
    cluster = TYPES[("cluster.x-k8s.io", "Cluster")]
    assert cluster.force_move_hierarchy and cluster.force_move and cluster.namespaced and cluster.has_status
    assert TYPES[("infrastructure.cluster.x-k8s.io", "DockerCluster")].version == "v1beta2"  # the storage version
    assert TYPES[("infrastructure.cluster.x-k8s.io", "OpenStackCluster")].version == "v1beta1"  # per kind
    assert not TYPES[("infrastructure.cluster.x-k8s.io", "DockerMachineTemplate")].has_status
    identity = TYPES[("infrastructure.cluster.x-k8s.io", "TwinIdentity")]
    assert identity.force_move_hierarchy and not identity.namespaced
    network = TYPES[("infrastructure.cluster.x-k8s.io", "TwinNetwork")]
    assert network.force_move and not network.force_move_hierarchy
    machine = TYPES[("cluster.x-k8s.io", "Machine")]
    assert not machine.force_move and not machine.force_move_hierarchy
    assert ("", "Secret") in TYPES and ("", "ConfigMap") in TYPES


def test_owned_and_name_linked_objects_move_with_their_cluster() -> None:
    cluster = obj("Cluster", "c1")
    infra = obj("DockerCluster", "c1", owners=[cluster])
    machine = obj("Machine", "m1", owners=[cluster])
    bootstrap_secret = obj("Secret", "m1", owners=[machine])
    g = graph(cluster, infra, machine, bootstrap_secret,
              obj("Secret", "c1-kubeconfig"), obj("Secret", "c1-ca"), obj("Secret", "c1-etcd"),
              # Cluster API v1.14 matches the name against each purpose suffix (earlier: split at the last '-',
              # which missed this one): linked
              obj("Secret", "c1-apiserver-etcd-client"),
              obj("Secret", "c1-client"), obj("Secret", "c1-etcd-proxy-x"),  # no purpose suffix: not linked
              obj("Secret", "c2-kubeconfig"), obj("Secret", "unrelated"), obj("ConfigMap", "c1-kubeconfig"),
              obj("Secret", "c1-sa", ns="other"))
    assert moved(g) == {"Cluster/c1", "DockerCluster/c1", "Machine/m1", "Secret/m1", "Secret/c1-kubeconfig",
                        "Secret/c1-ca", "Secret/c1-etcd", "Secret/c1-apiserver-etcd-client"}
    levels = [{f"{n.kind}/{n.name}" for n in level} for level in g.plan().levels]
    assert levels[0] == {"Cluster/c1"}
    assert levels[1] == {"DockerCluster/c1", "Machine/m1", "Secret/c1-kubeconfig", "Secret/c1-ca", "Secret/c1-etcd",
                         "Secret/c1-apiserver-etcd-client"}
    assert levels[2] == {"Secret/m1"}


def test_secret_names_are_matched_against_each_purpose_in_turn() -> None:
    assert secret_cluster_name("c1-kubeconfig") == "c1"
    assert secret_cluster_name("my-cluster-apiserver-etcd-client") == "my-cluster"
    assert secret_cluster_name("a-b-ca") == "a-b"
    assert secret_cluster_name("c1-etcd-sa") == "c1-etcd"  # only the last purpose is the purpose
    assert secret_cluster_name("kubeconfig") is None and secret_cluster_name("c1-client") is None


def test_a_secret_with_owners_is_not_linked_by_name() -> None:
    cluster, other = obj("Cluster", "c1"), obj("DockerMachineTemplate", "lonely")
    g = graph(cluster, other, obj("Secret", "c1-kubeconfig", owners=[other]))
    assert moved(g) == {"Cluster/c1"}


def test_move_labels_on_objects_and_crds() -> None:
    g = graph(obj("Secret", "cloud-config", labels={MOVE_LABEL: ""}), obj("TwinNetwork", "net"),
              obj("Secret", "plain"))
    assert moved(g) == {"Secret/cloud-config", "TwinNetwork/net"}


def test_an_object_whose_owner_does_not_move_is_skipped() -> None:
    cluster = obj("Cluster", "c1")
    foreign = obj("Deployment", "d", api="apps/v1")  # not a move type: a placeholder node only
    g = graph(cluster, obj("Secret", "shared", owners=[cluster, foreign]))
    plan = g.plan()
    assert moved(g) == {"Cluster/c1"} and [n.name for n in plan.skipped] == ["shared"]


def test_cluster_resource_sets_and_classes() -> None:
    cc = obj("ClusterClass", "quick-start")
    template = obj("DockerMachineTemplate", "qs-worker", owners=[cc])
    cluster = obj("Cluster", "c1", spec={"topology": {"classRef": {"name": "quick-start"}, "version": "v1.36.5"}})
    crs = obj("ClusterResourceSet", "cni")
    manifests = obj("ConfigMap", "cni-manifests", owners=[crs])
    binding = obj("ClusterResourceSetBinding", "c1", owners=[crs], spec={"clusterName": "c1"})
    g = graph(cc, template, cluster, crs, manifests, binding)
    assert moved(g) == {"ClusterClass/quick-start", "DockerMachineTemplate/qs-worker", "Cluster/c1",
                        "ClusterResourceSet/cni", "ConfigMap/cni-manifests", "ClusterResourceSetBinding/c1"}
    order = {f"{n.kind}/{n.name}": i for i, level in enumerate(g.plan().levels) for n in level}
    assert order["ClusterClass/quick-start"] < order["Cluster/c1"] < order["ClusterResourceSetBinding/c1"]
    assert all(n.deletes for n in g.plan().nodes)


def test_a_class_shared_with_other_namespaces_stays_in_the_source() -> None:
    cc = obj("ClusterClass", "shared", ns="classes")
    template = obj("DockerMachineTemplate", "shared-worker", ns="classes", owners=[cc])
    cluster = obj("Cluster", "c1", spec={"topology": {"classRef": {"name": "shared", "namespace": "classes"},
                                                      "version": "v1.36.5"}})
    g = graph(cc, template, cluster, namespace="ns")
    keep = {f"{n.kind}/{n.name}" for n in g.plan().nodes if not n.deletes}
    assert keep == {"ClusterClass/shared", "DockerMachineTemplate/shared-worker"}

    local = obj("ClusterClass", "local")
    outside = obj("Cluster", "x", ns="elsewhere", spec={"topology": {"classRef": {"name": "local", "namespace": "ns"},
                                                                     "version": "v1.36.5"}})
    g = graph(local, namespace="ns", other_clusters=[outside])
    assert not g.plan().nodes[0].deletes


def test_global_identities_are_created_but_never_deleted() -> None:
    identity = obj("TwinIdentity", "id", ns="")
    secret = obj("Secret", "id-credentials", ns="capt-system", owners=[identity])
    g = graph(identity, secret)
    nodes = {n.name: n for n in g.plan().nodes}
    assert set(nodes) == {"id", "id-credentials"}
    assert nodes["id"].is_global and nodes["id-credentials"].is_global_hierarchy
    assert not nodes["id"].deletes and not nodes["id-credentials"].deletes


def test_v1beta2_class_references() -> None:
    """Clusters name their class in `spec.topology.classRef` (namespace defaulting to the Cluster's); a
    ClusterClass names its templates in `templateRef`s ({apiVersion, kind, name}, in its own namespace)."""
    assert class_key(obj("Cluster", "c1", spec={"topology": {"classRef": {"name": "qs"}, "version": "v1"}})) == \
        ("ns", "qs")
    assert class_key(obj("Cluster", "c1", spec={"topology": {"classRef": {"name": "qs", "namespace": "classes"},
                                                             "version": "v1"}})) == ("classes", "qs")
    assert class_key(obj("Cluster", "c1", spec={})) is None
    assert class_key(obj("Cluster", "c1", spec={"topology": {"class": "qs"}})) is None  # v1beta1 fields: not read

    def ref(kind: str, name: str) -> JSON:
        return {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": kind, "name": name}

    cc = obj("ClusterClass", "qs", spec={
        "infrastructure": {"templateRef": ref("DockerClusterTemplate", "a")},
        "controlPlane": {"templateRef": ref("KubeadmControlPlaneTemplate", "b"),
                         "machineInfrastructure": {"templateRef": ref("DockerMachineTemplate", "c")}},
        "workers": {"machineDeployments": [{"class": "w",
                                            "bootstrap": {"templateRef": ref("KubeadmConfigTemplate", "d")},
                                            "infrastructure": {"templateRef": ref("DockerMachineTemplate", "e")}}],
                    "machinePools": [{"class": "p", "bootstrap": {"templateRef": ref("KubeadmConfigTemplate", "f")},
                                      "infrastructure": {"templateRef": ref("DockerMachinePoolTemplate", "g")}}]}})
    assert [r["name"] for r in template_refs(cc)] == ["a", "b", "c", "e", "d", "g", "f"]
    v1beta1 = obj("ClusterClass", "old", spec={"infrastructure": {"ref": ref("DockerClusterTemplate", "a")}})
    assert template_refs(v1beta1) == []


def node_of(o: JSON) -> Any:
    g = Graph(TYPES)
    return g.add(o)


def cluster_with(status: JSON, *, control_plane_ref: bool = True, **meta: Any) -> JSON:
    spec: JSON = {"controlPlaneRef": {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane",
                                      "name": "cp"}} if control_plane_ref else {}
    o = obj("Cluster", "c1", spec=spec, status=status)
    o["metadata"].update(meta)
    return o


def condition(kind: str, value: str) -> JSON:
    return {"type": kind, "status": value, "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


READY = {"initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
         "conditions": [condition("ControlPlaneInitialized", "True")]}


def fields(o: JSON) -> list[str]:
    return [p.field for p in preflight.unprovisioned([node_of(o)])]


def test_provisioned_is_judged_by_the_v1beta2_status() -> None:
    """As `clusterctl move` v1.14 judges it: status.initialization.infrastructureProvisioned, then the
    ControlPlaneInitialized condition (metav1), then status.initialization.controlPlaneInitialized when the
    Cluster has a control plane; Machines by status.nodeRef.name."""
    assert fields(cluster_with(READY)) == []
    assert fields(cluster_with({**READY, "initialization": {"controlPlaneInitialized": True}})) == \
        ["status.initialization.infrastructureProvisioned"]
    assert fields(cluster_with({**READY, "conditions": [condition("ControlPlaneInitialized", "False")]})) == \
        ["status.conditions[ControlPlaneInitialized]"]
    assert fields(cluster_with({**READY, "conditions": []})) == ["status.conditions[ControlPlaneInitialized]"]
    not_initialized = {**READY, "initialization": {"infrastructureProvisioned": True,
                                                   "controlPlaneInitialized": False}}
    assert fields(cluster_with(not_initialized)) == ["status.initialization.controlPlaneInitialized"]
    assert fields(cluster_with(not_initialized, control_plane_ref=False)) == []  # no control plane to wait for
    # The v1beta1 fields (and conditions kept under status.deprecated.v1beta1) no longer count.
    v1beta1 = {"infrastructureReady": True, "controlPlaneReady": True,
               "deprecated": {"v1beta1": {"conditions": [condition("ControlPlaneInitialized", "True")]}}}
    assert fields(cluster_with(v1beta1)) == ["status.initialization.infrastructureProvisioned"]
    assert fields(cluster_with({**v1beta1, "initialization": {"infrastructureProvisioned": True}})) == \
        ["status.conditions[ControlPlaneInitialized]"]
    assert fields(obj("Machine", "m", status={"nodeRef": {"name": "n"}})) == []
    assert fields(obj("Machine", "m", status={"nodeRef": {}})) == ["status.nodeRef"]
    assert fields(obj("Machine", "m", status={})) == ["status.nodeRef"]


def test_clusters_paused_by_someone_else_are_refused() -> None:
    def problems(o: JSON) -> list[str]:
        return [p.field for p in preflight.paused_by_others([node_of(o)])]

    assert problems(cluster_with(READY)) == []
    assert problems(obj("Cluster", "c1", spec={"paused": True})) == ["spec.paused"]
    assert problems(cluster_with(READY, annotations={CAPI_PAUSED: ""})) == [f"metadata.annotations[{CAPI_PAUSED}]"]
    assert problems(obj("ClusterClass", "cc", spec={})) == []
    cc = obj("ClusterClass", "cc", spec={})
    cc["metadata"]["annotations"] = {CAPI_PAUSED: ""}
    assert problems(cc) == [f"metadata.annotations[{CAPI_PAUSED}]"]
    cc["metadata"]["annotations"][PAUSED_BY_PIVOT] = ""  # paused by this move (a resumed run): fine
    assert problems(cc) == []
    ours = obj("Cluster", "c1", spec={"paused": True})
    ours["metadata"]["annotations"] = {PAUSED_BY_PIVOT: ""}
    assert problems(ours) == []


def test_both_clusters_must_store_the_v1beta2_contract() -> None:
    assert preflight.contract("v1beta2", "source s") == [] and preflight.contract(None, "target t") == []
    [problem] = preflight.contract("v1beta1", "target t")
    assert str(problem).startswith("target t: Cluster.cluster.x-k8s.io: stores Clusters in v1beta1, not in the "
                                   "v1beta2 contract this pivot moves")


def test_in_order_respects_dependencies_and_runs_the_rest_concurrently() -> None:
    started: list[str] = []
    running, peak = 0, 0

    async def action(key: str) -> None:
        nonlocal running, peak
        started.append(key)
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    after = {"b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    asyncio.run(in_order(["d", "c", "b", "a", "e"], after, action))
    assert started.index("a") < started.index("b") < started.index("d") and started.index("c") < started.index("d")
    assert peak >= 2


def test_run_all_raises_the_failure_not_a_group() -> None:
    async def fail() -> None:
        raise KeyError("boom")

    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(KeyError):
        asyncio.run(run_all([slow(), fail()]))


def write_kubeconfig(path: Path, user: JSON, cluster: JSON | None = None) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "a", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "a", "user": user}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}, {"name": "b", "context": {}}]}))
    return path


def test_kubeconfig_loading(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cr3t\n")
    config = KubeConfig.load(write_kubeconfig(tmp_path / "k", {"tokenFile": "token"},
                                              {"server": "https://h:1/", "certificate-authority-data":
                                               base64.b64encode(b"ca").decode()}))
    assert (config.server, config.token, config.ca_data, config.context) == ("https://h:1", "s3cr3t", b"ca", "a")
    with pytest.raises(KubeconfigError, match="no context named 'c'"):
        KubeConfig.load(tmp_path / "k", "c")
    with pytest.raises(KubeconfigError, match="names cluster None, which has no server"):
        KubeConfig.load(tmp_path / "k", "b")
    with pytest.raises(KubeconfigError, match="uses auth-provider, which is not supported"):
        KubeConfig.load(write_kubeconfig(tmp_path / "e", {"auth-provider": {"name": "gcp"}}))
    with pytest.raises(KubeconfigError, match="no such kubeconfig file"):
        KubeConfig.load(tmp_path / "missing")


def test_secret_errors_keep_no_data() -> None:
    status = {"kind": "Status", "reason": "Invalid",
              "message": 'Secret "x" is invalid: data[k]: Invalid value: "hunter2"',
              "details": {"name": "x", "causes": [{"field": "data[k]", "message": 'Invalid value: "hunter2"'}]}}
    error = _error(422, "Unprocessable", json.dumps(status).encode(), "POST", "/api/v1/namespaces/n/secrets")
    assert "hunter2" not in str(error) and "data[k]" in str(error) and "Secret x" in str(error)
    error = _error(422, "Unprocessable", json.dumps(status).encode(), "POST", "/api/v1/namespaces/n/configmaps")
    assert "hunter2" in str(error)  # other kinds keep the server's message


def test_differences_name_fields_and_ignore_bookkeeping() -> None:
    source = obj("Secret", "s", data={"k": "dmFsdWU="}, type="Opaque")
    copy = json.loads(json.dumps(source))
    copy["metadata"].update(uid="new", resourceVersion="9", annotations={SOURCE_UID: source["metadata"]["uid"]})
    assert differences(source, copy, {}) == []
    copy["data"]["k"] = "b3RoZXI="
    assert differences(source, copy, {}) == ["data.k"]
