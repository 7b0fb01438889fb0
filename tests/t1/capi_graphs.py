"""A generator of realistic Cluster API object graphs, created in a real API server with the statuses the
controllers would have set. Test-only: it stands in for what Cluster API and its providers create.

One workload cluster is: Cluster, infrastructure cluster (DockerCluster or OpenStackCluster), control plane
(KubeadmControlPlane or RKE2ControlPlane) with its machine template, control-plane Machines each with a
bootstrap config (KubeadmConfig / RKE2Config), its bootstrap data Secret and an infrastructure machine
(DockerMachine / OpenStackMachine), a MachineDeployment with its templates, MachineSet and worker Machines,
the cluster's Secrets (kubeconfig, CA, etcd, service account, front proxy; one of them user-provided, so
owned only by name), a ClusterResourceSetBinding, and for OpenStack the cloud credentials Secret (an
identity, labelled for move). Per namespace: a ClusterResourceSet with its ConfigMap and Secret, and
optionally a ClusterClass with its templates used by a topology Cluster. Globally: optionally a
cluster-scoped identity (a test CRD labelled move-hierarchy, like the cloud providers' cluster identities)
with its credentials Secret in the infrastructure provider's namespace, and the clusterctl inventory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster_init.kube import ApiError, Client, Resource

JSON = dict[str, Any]

CAPI = "cluster.x-k8s.io/v1beta1"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta1"
CONTROLPLANE = "controlplane.cluster.x-k8s.io/v1beta1"
INFRA = "infrastructure.cluster.x-k8s.io/v1beta1"
ADDONS = "addons.cluster.x-k8s.io/v1beta1"
CLUSTERCTL = "clusterctl.cluster.x-k8s.io/v1alpha3"
IDENTITY_GROUP = "identity.twin.cluster-init.test"
IDENTITY = f"{IDENTITY_GROUP}/v1"
K8S_VERSION = "v1.33.4"
RKE2_VERSION = "v1.33.4+rke2r1"
NOW = "2026-01-01T00:00:00Z"

# The clusterctl inventory: (namespace, name, providerName, type, version).
PROVIDERS = (
    ("capi-system", "cluster-api", "cluster-api", "CoreProvider", "v1.10.7"),
    ("capi-kubeadm-bootstrap-system", "bootstrap-kubeadm", "kubeadm", "BootstrapProvider", "v1.10.7"),
    ("capi-kubeadm-control-plane-system", "control-plane-kubeadm", "kubeadm", "ControlPlaneProvider", "v1.10.7"),
    ("rke2-bootstrap-system", "bootstrap-rke2", "rke2", "BootstrapProvider", "v0.21.0"),
    ("rke2-control-plane-system", "control-plane-rke2", "rke2", "ControlPlaneProvider", "v0.21.0"),
    ("capd-system", "infrastructure-docker", "docker", "InfrastructureProvider", "v1.10.7"),
    ("capo-system", "infrastructure-openstack", "openstack", "InfrastructureProvider", "v0.12.1"),
)
IDENTITY_NAMESPACE = "capd-system"

# A cluster-scoped identity kind, as cloud providers have (AWSClusterControllerIdentity and the like):
# test-only, labelled as its provider install would label it.
IDENTITY_CRD: JSON = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"twinclusteridentities.{IDENTITY_GROUP}",
                 "labels": {"clusterctl.cluster.x-k8s.io": "", "clusterctl.cluster.x-k8s.io/move-hierarchy": "",
                            "cluster.x-k8s.io/provider": "infrastructure-twin"}},
    "spec": {
        "group": IDENTITY_GROUP,
        "names": {"kind": "TwinClusterIdentity", "listKind": "TwinClusterIdentityList",
                  "plural": "twinclusteridentities", "singular": "twinclusteridentity"},
        "scope": "Cluster",
        "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                          "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                          "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}],
    },
}


@dataclass(frozen=True)
class Flavor:
    bootstrap: str = "kubeadm"  # kubeadm | rke2
    infra: str = "docker"  # docker | openstack


FLAVORS = (Flavor("kubeadm", "docker"), Flavor("rke2", "docker"), Flavor("kubeadm", "openstack"),
           Flavor("rke2", "openstack"))


@dataclass
class Obj:
    """One object to create: its body (no owner references, no status), its owners by (kind, name) in its own
    namespace (or cluster-scoped), and the status a controller would have written."""

    api_version: str
    kind: str
    name: str
    namespace: str
    body: JSON
    status: JSON | None = None
    owners: list[tuple[str, str, bool]] = field(default_factory=list)  # (kind, name, controller)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


def _h(*parts: str, n: int = 5) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _fake(*parts: str) -> str:
    """Stand-in secret material: base64 of bytes derived from the names (no real key or certificate)."""
    return base64.b64encode(hashlib.sha512("/".join(parts).encode()).digest() * 4).decode()


def _cond(*types: str) -> list[JSON]:
    return [{"type": t, "status": "True", "lastTransitionTime": NOW} for t in types]


def _ref(api_version: str, kind: str, name: str, namespace: str) -> JSON:
    return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}


def _meta(name: str, namespace: str, labels: dict[str, str] | None = None,
          finalizers: Sequence[str] = (), annotations: dict[str, str] | None = None) -> JSON:
    meta: JSON = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return meta


def _secret(name: str, namespace: str, cluster: str, keys: Iterable[str], owners: list[tuple[str, str, bool]],
            secret_type: str = "cluster.x-k8s.io/secret", labels: dict[str, str] | None = None) -> Obj:
    data = {k: _fake(namespace, name, k) for k in keys}
    lbl = {"cluster.x-k8s.io/cluster-name": cluster, **(labels or {})}
    return Obj("v1", "Secret", name, namespace,
               {"metadata": _meta(name, namespace, lbl), "type": secret_type, "data": data}, owners=owners)


def cluster_objects(name: str, namespace: str, flavor: Flavor = Flavor(), *, control_planes: int = 3,
                    workers: int = 2, provisioned: bool = True, cluster_class: str | None = None) -> list[Obj]:
    """The objects of one workload cluster as Cluster API and its providers would have left them."""
    ns, kubeadm, docker = namespace, flavor.bootstrap == "kubeadm", flavor.infra == "docker"
    label = {"cluster.x-k8s.io/cluster-name": name}
    objs: list[Obj] = []
    infra_cluster_kind = "DockerCluster" if docker else "OpenStackCluster"
    cp_kind = "KubeadmControlPlane" if kubeadm else "RKE2ControlPlane"
    config_template_kind = "KubeadmConfigTemplate" if kubeadm else "RKE2ConfigTemplate"
    template_kind = "DockerMachineTemplate" if docker else "OpenStackMachineTemplate"
    cp_name = f"{name}-control-plane"
    endpoint = {"host": f"10.{len(name) % 200}.{int(_h(name, n=2), 16)}.10", "port": 6443}

    # Cluster
    spec: JSON = {
        "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "services": {"cidrBlocks": ["10.128.0.0/12"]},
                           "serviceDomain": "cluster.local"},
        "controlPlaneEndpoint": endpoint,
        "controlPlaneRef": _ref(CONTROLPLANE, cp_kind, cp_name, ns),
        "infrastructureRef": _ref(INFRA, infra_cluster_kind, name, ns),
    }
    if cluster_class:
        spec["topology"] = {"class": cluster_class, "version": K8S_VERSION,
                            "controlPlane": {"replicas": control_planes},
                            "workers": {"machineDeployments": [{"class": "default-worker", "name": "md-0",
                                                                "replicas": workers}]}}
    status: JSON = {
        "phase": "Provisioned" if provisioned else "Provisioning",
        "infrastructureReady": provisioned, "controlPlaneReady": provisioned, "observedGeneration": 2,
        "conditions": _cond("Ready", "ControlPlaneInitialized", "ControlPlaneReady", "InfrastructureReady")
        if provisioned else [{"type": "InfrastructureReady", "status": "False", "severity": "Info",
                              "reason": "WaitingForInfrastructure", "lastTransitionTime": NOW}],
    }
    objs.append(Obj(CAPI, "Cluster", name, ns, {"metadata": _meta(
        name, ns, {"cni": "calico", "flavor": f"{flavor.bootstrap}-{flavor.infra}"}, ["cluster.cluster.x-k8s.io"]),
        "spec": spec}, status))

    # Infrastructure cluster (+ the OpenStack credentials: an identity Secret labelled for move)
    if docker:
        objs.append(Obj(INFRA, "DockerCluster", name, ns, {
            "metadata": _meta(name, ns, label, ["dockercluster.infrastructure.cluster.x-k8s.io"]),
            "spec": {"controlPlaneEndpoint": endpoint, "loadBalancer": {}}},
            {"ready": provisioned, "conditions": _cond("Ready", "LoadBalancerAvailable")},
            [("Cluster", name, True)]))
    else:
        cloud = f"{name}-cloud-config"
        objs.append(_secret(cloud, ns, name, ["clouds.yaml", "cacert"], [], "Opaque",
                            {"clusterctl.cluster.x-k8s.io/move": ""}))
        objs.append(Obj(INFRA, "OpenStackCluster", name, ns, {
            "metadata": _meta(name, ns, label, ["openstackcluster.infrastructure.cluster.x-k8s.io"]),
            "spec": {"identityRef": {"cloudName": "openstack", "name": cloud}, "controlPlaneEndpoint": endpoint,
                     "managedSecurityGroups": {"allowAllInClusterTraffic": True},
                     "externalNetwork": {"id": "5b7a0d44-1b3b-4a5c-9d1e-0e6d0c1a2b3c"}}},
            {"ready": provisioned, "conditions": _cond("Ready", "NetworkReady"),
             "network": {"id": "f0e1d2c3-b4a5-4697-8887-766554433221", "name": f"k8s-clusterapi-cluster-{ns}-{name}"}},
            [("Cluster", name, True)]))

    # Control plane, its template and the cluster's secrets
    objs.append(_machine_template(template_kind, f"{name}-control-plane", ns, name, docker))
    cp_version = K8S_VERSION if kubeadm else RKE2_VERSION
    cp_status = {"replicas": control_planes, "readyReplicas": control_planes, "updatedReplicas": control_planes,
                 "initialized": provisioned, "ready": provisioned, "version": cp_version, "observedGeneration": 1,
                 "conditions": _cond("Ready", "Available", "MachinesReady")}
    if kubeadm:
        cp_spec: JSON = {"replicas": control_planes, "version": K8S_VERSION,
                         "machineTemplate": {"infrastructureRef": _ref(INFRA, template_kind, cp_name, ns)},
                         "kubeadmConfigSpec": {"clusterConfiguration": {"apiServer": {"certSANs": ["localhost"]}},
                                               "initConfiguration": {"nodeRegistration": {"kubeletExtraArgs": {
                                                   "eviction-hard": "nodefs.available<0%"}}},
                                               "joinConfiguration": {"nodeRegistration": {}}}}
        cp_status["selector"] = f"cluster.x-k8s.io/cluster-name={name},cluster.x-k8s.io/control-plane"
        fin = ["kubeadm.controlplane.cluster.x-k8s.io"]
    else:
        cp_spec = {"replicas": control_planes, "version": RKE2_VERSION,
                   "machineTemplate": {"infrastructureRef": _ref(INFRA, template_kind, cp_name, ns)},
                   "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                   "serverConfig": {"cni": "calico"}, "agentConfig": {}}
        cp_status["dataSecretName"] = f"{cp_name}-config"
        fin = ["rke2.controlplane.cluster.x-k8s.io"]
    objs.append(Obj(CONTROLPLANE, cp_kind, cp_name, ns, {"metadata": _meta(cp_name, ns, label, fin), "spec": cp_spec},
                    cp_status, [("Cluster", name, True)]))
    for purpose, keys in (("kubeconfig", ["value"]), ("ca", ["tls.crt", "tls.key"]), ("sa", ["tls.crt", "tls.key"]),
                          ("proxy", ["tls.crt", "tls.key"]), ("etcd", ["tls.crt", "tls.key"])):
        # The etcd CA is user-provided here: no owner reference, it belongs to the cluster by its name.
        owners = [] if purpose == "etcd" else [(cp_kind, cp_name, True)]
        objs.append(_secret(f"{name}-{purpose}", ns, name, keys, owners))

    # Control-plane machines
    for i in range(control_planes):
        machine = f"{cp_name}-{_h(name, 'cp', str(i))}"
        objs += _machine(machine, ns, name, flavor, (cp_kind, cp_name), True, provisioned, i)

    # Workers: MachineDeployment -> MachineSet -> Machines
    md = f"{name}-md-0"
    objs.append(_machine_template(template_kind, md, ns, name, docker))
    template_spec: JSON = {"joinConfiguration": {"nodeRegistration": {}}} if kubeadm else {"agentConfig": {}}
    objs.append(Obj(BOOTSTRAP, config_template_kind, md, ns, {"metadata": _meta(md, ns, label),
                                                              "spec": {"template": {"spec": template_spec}}},
                    None if kubeadm else {}, [("Cluster", name, False)]))
    selector = {"cluster.x-k8s.io/cluster-name": name, "cluster.x-k8s.io/deployment-name": md}
    template = {"metadata": {"labels": selector},
                "spec": {"clusterName": name, "version": K8S_VERSION if kubeadm else RKE2_VERSION,
                         "bootstrap": {"configRef": _ref(BOOTSTRAP, config_template_kind, md, ns)},
                         "infrastructureRef": _ref(INFRA, template_kind, md, ns)}}
    replica_status = {"replicas": workers, "readyReplicas": workers, "availableReplicas": workers,
                      "updatedReplicas": workers, "observedGeneration": 1}
    objs.append(Obj(CAPI, "MachineDeployment", md, ns, {
        "metadata": _meta(md, ns, label, ["machinedeployment.cluster.x-k8s.io"]),
        "spec": {"clusterName": name, "replicas": workers, "selector": {"matchLabels": selector},
                 "template": template}},
        {**replica_status, "phase": "Running", "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
         "conditions": _cond("Ready", "Available")}, [("Cluster", name, False)]))
    ms = f"{md}-{_h(name, 'ms', n=10)}"
    ms_selector = {**selector, "machine-template-hash": _h(name, "hash", n=10)}
    objs.append(Obj(CAPI, "MachineSet", ms, ns, {
        "metadata": _meta(ms, ns, {**label, "cluster.x-k8s.io/deployment-name": md},
                          ["machineset.cluster.x-k8s.io"]),
        "spec": {"clusterName": name, "replicas": workers, "selector": {"matchLabels": ms_selector},
                 "template": {**template, "metadata": {"labels": ms_selector}}}},
        {**replica_status, "fullyLabeledReplicas": workers, "selector": ",".join(f"{k}={v}" for k, v in
                                                                                 ms_selector.items()),
         "conditions": _cond("Ready", "MachinesCreated", "MachinesReady")},
        [("MachineDeployment", md, True)]))
    for i in range(workers):
        machine = f"{ms}-{_h(name, 'w', str(i))}"
        objs += _machine(machine, ns, name, flavor, ("MachineSet", ms), False, provisioned, i)
    return objs


def _machine_template(kind: str, name: str, ns: str, cluster: str, docker: bool) -> Obj:
    spec: JSON = ({"extraMounts": [{"containerPath": "/var/run/docker.sock", "hostPath": "/var/run/docker.sock"}]}
                  if docker else {"flavor": "m1.medium", "image": {"filter": {"name": "ubuntu-2204-kube-v1.33.4"}},
                                  "sshKeyName": "cluster-api"})
    return Obj(INFRA, kind, name, ns, {"metadata": _meta(name, ns, {"cluster.x-k8s.io/cluster-name": cluster}),
                                       "spec": {"template": {"spec": spec}}},
               None, [("Cluster", cluster, False)])


def _machine(name: str, ns: str, cluster: str, flavor: Flavor, owner: tuple[str, str], control_plane: bool,
             provisioned: bool, index: int) -> list[Obj]:
    """A Machine with its bootstrap config, bootstrap data Secret and infrastructure machine."""
    kubeadm, docker = flavor.bootstrap == "kubeadm", flavor.infra == "docker"
    labels = {"cluster.x-k8s.io/cluster-name": cluster}
    if control_plane:
        labels["cluster.x-k8s.io/control-plane"] = ""
        labels["cluster.x-k8s.io/control-plane-name"] = owner[1]
    else:
        labels["cluster.x-k8s.io/set-name"] = owner[1]
    config_kind = "KubeadmConfig" if kubeadm else "RKE2Config"
    infra_kind = "DockerMachine" if docker else "OpenStackMachine"
    address = f"172.18.{index}.{int(_h(name, n=2), 16)}"
    version = K8S_VERSION if kubeadm else RKE2_VERSION
    provider_id = f"docker:////{name}" if docker else f"openstack:///{_h(name, n=8)}-0000-4000-8000-000000000000"
    objs = [
        Obj(CAPI, "Machine", name, ns, {
            "metadata": _meta(name, ns, labels, ["machine.cluster.x-k8s.io"]),
            "spec": {"clusterName": cluster, "version": version, "providerID": provider_id,
                     "bootstrap": {"configRef": _ref(BOOTSTRAP, config_kind, name, ns), "dataSecretName": name},
                     "infrastructureRef": _ref(INFRA, infra_kind, name, ns)}},
            {"phase": "Running" if provisioned else "Provisioning", "bootstrapReady": True,
             "infrastructureReady": provisioned, "observedGeneration": 1,
             "addresses": [{"type": "InternalIP", "address": address}],
             "conditions": _cond("Ready", "BootstrapReady", "InfrastructureReady", "NodeHealthy"),
             **({"nodeRef": {"apiVersion": "v1", "kind": "Node", "name": name,
                             "uid": f"{_h(name, 'node', n=8)}-1111-4111-8111-111111111111"},
                 "nodeInfo": {"kubeletVersion": K8S_VERSION, "architecture": "amd64", "operatingSystem": "linux",
                              "bootID": "b", "containerRuntimeVersion": "containerd://2.0.0", "kernelVersion": "6.1",
                              "kubeProxyVersion": K8S_VERSION, "machineID": "m", "osImage": "Ubuntu 24.04",
                              "systemUUID": "s"}} if provisioned else {})},
            [(owner[0], owner[1], True)]),
        Obj(BOOTSTRAP, config_kind, name, ns, {
            "metadata": _meta(name, ns, labels),
            "spec": ({"joinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": {"node-labels": "role=x"}}}}
                     if kubeadm else {"agentConfig": {}})},
            {"ready": True, "dataSecretName": name, "observedGeneration": 1, "conditions": _cond("Ready",
                                                                                                "DataSecretAvailable")},
            [("Machine", name, True)]),
        _secret(name, ns, cluster, ["value", "format"], [(config_kind, name, True)]),
    ]
    if docker:
        objs.append(Obj(INFRA, "DockerMachine", name, ns, {
            "metadata": _meta(name, ns, labels, ["dockermachine.infrastructure.cluster.x-k8s.io"]),
            "spec": {"providerID": provider_id, "bootstrapped": True}},
            {"ready": provisioned, "addresses": [{"type": "InternalIP", "address": address}],
             "conditions": _cond("Ready", "ContainerProvisioned", "BootstrapExecSucceeded")},
            [("Machine", name, True)]))
    else:
        objs.append(Obj(INFRA, "OpenStackMachine", name, ns, {
            "metadata": _meta(name, ns, labels, ["openstackmachine.infrastructure.cluster.x-k8s.io"]),
            "spec": {"providerID": provider_id, "flavor": "m1.medium",
                     "image": {"filter": {"name": "ubuntu-2204-kube-v1.33.4"}},
                     "identityRef": {"cloudName": "openstack", "name": f"{cluster}-cloud-config"}}},
            {"ready": provisioned, "instanceState": "ACTIVE",
             "addresses": [{"type": "InternalIP", "address": address}], "conditions": _cond("Ready")},
            [("Machine", name, True)]))
    return objs


def namespace_objects(ns: str, clusters: Sequence[str], *, cluster_class: str | None = None) -> list[Obj]:
    """Per namespace: a ClusterResourceSet (with its ConfigMap and Secret, owned by it as its controller does)
    and a binding per cluster; optionally a ClusterClass with its templates (owned by it)."""
    crs = "calico-cni"
    objs = [
        Obj(ADDONS, "ClusterResourceSet", crs, ns, {
            "metadata": _meta(crs, ns, finalizers=["addons.cluster.x-k8s.io"]),
            "spec": {"clusterSelector": {"matchLabels": {"cni": "calico"}}, "strategy": "ApplyOnce",
                     "resources": [{"kind": "ConfigMap", "name": "calico-manifests"},
                                   {"kind": "Secret", "name": "calico-credentials"}]}},
            {"observedGeneration": 1, "conditions": _cond("ResourcesApplied")}),
        Obj("v1", "ConfigMap", "calico-manifests", ns, {
            "metadata": _meta("calico-manifests", ns), "data": {"calico.yaml": "# the CNI manifests\n" * 20}},
            owners=[("ClusterResourceSet", crs, False)]),
        Obj("v1", "Secret", "calico-credentials", ns, {
            "metadata": _meta("calico-credentials", ns), "type": "addons.cluster.x-k8s.io/resource-set",
            "data": {"secret.yaml": _fake(ns, "crs")}}, owners=[("ClusterResourceSet", crs, False)]),
    ]
    for cluster in clusters:
        objs.append(Obj(ADDONS, "ClusterResourceSetBinding", cluster, ns, {
            "metadata": _meta(cluster, ns, {"cluster.x-k8s.io/cluster-name": cluster}),
            "spec": {"clusterName": cluster, "bindings": [{"clusterResourceSetName": crs, "resources": [
                {"kind": "ConfigMap", "name": "calico-manifests", "applied": True, "hash": "sha256:" + _h(ns, n=64),
                 "lastAppliedTime": NOW},
                {"kind": "Secret", "name": "calico-credentials", "applied": True, "hash": "sha256:" + _h(ns, "s", n=64),
                 "lastAppliedTime": NOW}]}]}},
            owners=[("ClusterResourceSet", crs, False)]))
    if cluster_class:
        cc = cluster_class
        objs.append(Obj(CAPI, "ClusterClass", cc, ns, {"metadata": _meta(cc, ns), "spec": {
            "infrastructure": {"ref": _ref(INFRA, "DockerClusterTemplate", f"{cc}-cluster", ns)},
            "controlPlane": {"ref": _ref(CONTROLPLANE, "KubeadmControlPlaneTemplate", f"{cc}-control-plane", ns),
                             "machineInfrastructure": {"ref": _ref(INFRA, "DockerMachineTemplate",
                                                                   f"{cc}-control-plane-machine", ns)}},
            "workers": {"machineDeployments": [{"class": "default-worker", "template": {
                "bootstrap": {"ref": _ref(BOOTSTRAP, "KubeadmConfigTemplate", f"{cc}-worker-bootstrap", ns)},
                "infrastructure": {"ref": _ref(INFRA, "DockerMachineTemplate", f"{cc}-worker-machine", ns)}}}]}}},
            {"observedGeneration": 1, "conditions": _cond("VariablesReconciled")}))
        own = [("ClusterClass", cc, False)]
        objs += [
            Obj(INFRA, "DockerClusterTemplate", f"{cc}-cluster", ns, {
                "metadata": _meta(f"{cc}-cluster", ns), "spec": {"template": {"spec": {}}}}, owners=own),
            Obj(CONTROLPLANE, "KubeadmControlPlaneTemplate", f"{cc}-control-plane", ns, {
                "metadata": _meta(f"{cc}-control-plane", ns),
                "spec": {"template": {"spec": {"kubeadmConfigSpec": {"clusterConfiguration": {}}}}}}, owners=own),
            Obj(INFRA, "DockerMachineTemplate", f"{cc}-control-plane-machine", ns, {
                "metadata": _meta(f"{cc}-control-plane-machine", ns), "spec": {"template": {"spec": {}}}}, owners=own),
            Obj(INFRA, "DockerMachineTemplate", f"{cc}-worker-machine", ns, {
                "metadata": _meta(f"{cc}-worker-machine", ns), "spec": {"template": {"spec": {}}}}, owners=own),
            Obj(BOOTSTRAP, "KubeadmConfigTemplate", f"{cc}-worker-bootstrap", ns, {
                "metadata": _meta(f"{cc}-worker-bootstrap", ns), "spec": {"template": {"spec": {}}}}, owners=own),
        ]
    return objs


def global_objects() -> list[Obj]:
    """A cluster-scoped identity and its credentials Secret in the infrastructure provider's namespace."""
    return [
        Obj(IDENTITY, "TwinClusterIdentity", "twin-identity", "", {
            "metadata": {"name": "twin-identity"},
            "spec": {"secretRef": {"name": "twin-identity-credentials", "namespace": IDENTITY_NAMESPACE},
                     "allowedNamespaces": {}}}, {"ready": True}),
        Obj("v1", "Secret", "twin-identity-credentials", IDENTITY_NAMESPACE, {
            "metadata": _meta("twin-identity-credentials", IDENTITY_NAMESPACE), "type": "Opaque",
            "data": {"credentials": _fake("identity")}}, owners=[("TwinClusterIdentity", "twin-identity", False)]),
    ]


def inventory_objects() -> list[Obj]:
    """The clusterctl inventory: one Provider object per installed provider, in its namespace."""
    return [Obj(CLUSTERCTL, "Provider", name, ns, {
        "metadata": _meta(name, ns, {"cluster.x-k8s.io/provider": name,
                                     "clusterctl.cluster.x-k8s.io": ""}),
        "providerName": provider, "type": ptype, "version": version})
        for ns, name, provider, ptype, version in PROVIDERS]


@dataclass
class Fleet:
    """What `fleet` generated: the objects, and the workload clusters by (namespace, name)."""

    objects: list[Obj]
    clusters: list[tuple[str, str]]

    def count(self, kind: str | None = None) -> int:
        return sum(1 for o in self.objects if kind is None or o.kind == kind)


def fleet(count: int, *, namespaces: int = 1, prefix: str = "wl", flavors: Sequence[Flavor] = FLAVORS,
          control_planes: int = 3, workers: int = 2, cluster_class: bool = False, identity: bool = False,
          namespace_prefix: str = "fleet") -> Fleet:
    """`count` clusters spread over `namespaces` namespaces, flavors in turn; with `cluster_class`, the first
    cluster of each namespace uses a ClusterClass; with `identity`, the global identity too."""
    objs: list[Obj] = []
    clusters: list[tuple[str, str]] = []
    spaces = [f"{namespace_prefix}-{i}" for i in range(namespaces)]
    by_ns: dict[str, list[str]] = {ns: [] for ns in spaces}
    for i in range(count):
        ns = spaces[i % namespaces]
        name = f"{prefix}-{i:03d}"
        use_class = "quick-start" if cluster_class and not by_ns[ns] else None
        objs += cluster_objects(name, ns, flavors[i % len(flavors)], control_planes=control_planes, workers=workers,
                                cluster_class=use_class)
        by_ns[ns].append(name)
        clusters.append((ns, name))
    for ns, names in by_ns.items():
        if names:
            objs += namespace_objects(ns, names, cluster_class="quick-start" if cluster_class else None)
    if identity:
        objs += global_objects()
    return Fleet(objs, clusters)


# -- creating them -------------------------------------------------------------------------------------------


async def create(client: Client, objects: Sequence[Obj], *, with_namespaces: bool = True) -> dict[tuple[str, str, str],
                                                                                                    JSON]:
    """Create `objects` (owners first, owner references with the real UIDs), then write their statuses through
    the status subresource. Returns the created objects by (kind, namespace, name)."""
    if with_namespaces:
        await ensure_namespaces(client, sorted({o.namespace for o in objects if o.namespace}))
    created: dict[tuple[str, str, str], JSON] = {}
    pending = list(objects)
    while pending:
        ready = [o for o in pending if all((k, o.namespace if k != "TwinClusterIdentity" else "", n) in created
                                           for k, n, _ in o.owners)]
        if not ready:
            raise ValueError(f"owners missing for {[o.key for o in pending[:5]]}")
        results = await asyncio.gather(*(_create_one(client, o, created) for o in ready))
        for o, obj in zip(ready, results, strict=True):
            created[o.key] = obj
        pending = [o for o in pending if o.key not in created]
    return created


# What Flux's kustomize-controller applies from git (server-side apply): the cluster definitions. Everything
# else is created by controllers (here: plain creates).
APPLIED = {"Cluster", "DockerCluster", "OpenStackCluster", "KubeadmControlPlane", "RKE2ControlPlane",
           "MachineDeployment", "DockerMachineTemplate", "OpenStackMachineTemplate", "KubeadmConfigTemplate",
           "RKE2ConfigTemplate", "ClusterClass", "DockerClusterTemplate", "KubeadmControlPlaneTemplate",
           "ClusterResourceSet"}
APPLY_MANAGER = "kustomize-controller"


async def _create_one(client: Client, o: Obj, created: dict[tuple[str, str, str], JSON]) -> JSON:
    res = await client.resource(o.api_version, o.kind)
    body = {"apiVersion": o.api_version, "kind": o.kind, **o.body}
    refs = []
    for kind, name, controller in o.owners:
        owner = created[(kind, o.namespace if kind != "TwinClusterIdentity" else "", name)]
        ref: JSON = {"apiVersion": owner["apiVersion"], "kind": kind, "name": name, "uid": owner["metadata"]["uid"]}
        if controller:
            ref["controller"] = True
            ref["blockOwnerDeletion"] = True
        refs.append(ref)
    if refs:
        body["metadata"] = {**body["metadata"], "ownerReferences": refs}
    obj: JSON
    if o.kind in APPLIED:
        body["metadata"] = {**body["metadata"], "name": o.name, **({"namespace": o.namespace} if o.namespace else {})}
        obj = await client.request("PATCH", res.path(o.namespace or None, o.name), body=body,
                                   params={"fieldManager": APPLY_MANAGER, "force": "true"},
                                   content_type="application/apply-patch+yaml")
    else:
        obj = await client.create(res, body, o.namespace or None)
    if o.status is not None and res.has_status:
        patch = [{"op": "add", "path": "/status", "value": o.status}]
        obj = await client.patch(res, o.name, o.namespace or None, patch, json_patch=True, subresource="status")
    return obj


async def ensure_namespaces(client: Client, names: Iterable[str]) -> None:
    ns_res = Resource("v1", "Namespace", "namespaces", False, True)

    async def one(name: str) -> None:
        try:
            await client.create(ns_res, {"metadata": {"name": name}})
        except ApiError as e:
            if not e.already_exists:
                raise

    await asyncio.gather(*(one(n) for n in names))
