"""A generator of realistic Cluster API object graphs, created in a real API server with the statuses the
controllers would have set. Test-only: it stands in for what Cluster API and its providers create.

One workload cluster is: Cluster, infrastructure cluster (DockerCluster or OpenStackCluster), control plane
(KubeadmControlPlane or RKE2ControlPlane) with its machine template, control-plane Machines each with a
bootstrap config (KubeadmConfig / RKE2Config), its bootstrap data Secret and an infrastructure machine
(DockerMachine / OpenStackMachine), a MachineDeployment with its templates, MachineSet and worker Machines,
the cluster's Secrets (kubeconfig, CA, etcd, service account, front proxy, API server etcd client; two of them
user-provided, so owned only by name), a ClusterResourceSetBinding, and for OpenStack the cloud credentials Secret (an
identity, labelled for move). Per namespace: a ClusterResourceSet with its ConfigMap and Secret, and
optionally a ClusterClass with its templates used by a topology Cluster. Globally: optionally a
cluster-scoped identity (a test CRD labelled move-hierarchy, like the cloud providers' cluster identities)
with its credentials Secret in the infrastructure provider's namespace, and the clusterctl inventory.

API versions are the storage versions at the pins: Cluster API core, its kubeadm providers and CAPD at
v1beta2 (references by apiGroup/kind/name, `status.initialization`, metav1 conditions, the old ones kept under
`status.deprecated.v1beta1` as the controllers keep them); CAPRKE2 and CAPO at their own v1beta1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster_init import pins
from cluster_init.kube import ApiError, Client, Resource

JSON = dict[str, Any]

# API versions: Cluster API core, its kubeadm providers and CAPD at the v1beta2 contract (their storage version);
# CAPRKE2 and CAPO keep their own API versions (their storage versions at the pinned releases).
CAPI = "cluster.x-k8s.io/v1beta2"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta2"  # kubeadm
CONTROLPLANE = "controlplane.cluster.x-k8s.io/v1beta2"  # kubeadm
INFRA = "infrastructure.cluster.x-k8s.io/v1beta2"  # CAPD
RKE2_BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta1"
RKE2_CONTROLPLANE = "controlplane.cluster.x-k8s.io/v1beta1"
OPENSTACK = "infrastructure.cluster.x-k8s.io/v1beta1"  # CAPO
ADDONS = "addons.cluster.x-k8s.io/v1beta2"
CLUSTERCTL = "clusterctl.cluster.x-k8s.io/v1alpha3"
IDENTITY_GROUP = "identity.twin.cluster-init.test"
IDENTITY = f"{IDENTITY_GROUP}/v1"
NOW = "2026-01-01T00:00:00Z"

_PINS: JSON = pins.pins()["upstreams"]
K8S_VERSION = str(_PINS["kubernetes"]["version"])
RKE2_VERSION = str(_PINS["rke2"]["version"])
_CAPI_VERSION = str(_PINS["cluster-api"]["version"])

# The clusterctl inventory: (namespace, name, providerName, type, version), at the pinned versions.
PROVIDERS = (
    ("capi-system", "cluster-api", "cluster-api", "CoreProvider", _CAPI_VERSION),
    ("capi-kubeadm-bootstrap-system", "bootstrap-kubeadm", "kubeadm", "BootstrapProvider", _CAPI_VERSION),
    ("capi-kubeadm-control-plane-system", "control-plane-kubeadm", "kubeadm", "ControlPlaneProvider", _CAPI_VERSION),
    ("rke2-bootstrap-system", "bootstrap-rke2", "rke2", "BootstrapProvider",
     str(_PINS["cluster-api-provider-rke2"]["version"])),
    ("rke2-control-plane-system", "control-plane-rke2", "rke2", "ControlPlaneProvider",
     str(_PINS["cluster-api-provider-rke2"]["version"])),
    ("capd-system", "infrastructure-docker", "docker", "InfrastructureProvider", _CAPI_VERSION),
    ("capo-system", "infrastructure-openstack", "openstack", "InfrastructureProvider",
     str(_PINS["cluster-api-provider-openstack"]["version"])),
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


# v1beta2 condition reasons Cluster API sets when a condition is True (the rest: the condition's own name).
_REASONS = {"Available": "Available", "Ready": "Ready", "InfrastructureReady": "Ready",
            "ControlPlaneInitialized": "Initialized", "ControlPlaneAvailable": "Available",
            "WorkersAvailable": "Available", "RemoteConnectionProbe": "ProbeSucceeded", "UpToDate": "UpToDate",
            "BootstrapConfigReady": "Ready", "NodeHealthy": "NodeHealthy", "NodeReady": "NodeReady",
            "MachinesReady": "Ready", "MachinesUpToDate": "UpToDate", "DataSecretAvailable": "Available",
            "CertificatesAvailable": "Available", "ResourcesApplied": "Applied", "VariablesReady": "VariablesReady",
            "RefVersionsUpToDate": "RefVersionsUpToDate", "LoadBalancerAvailable": "Available",
            "ContainerProvisioned": "Provisioned", "BootstrapExecSucceeded": "Succeeded"}
_FALSE_WHEN_FINE = {"ScalingUp": "NotScalingUp", "ScalingDown": "NotScalingDown", "Remediating": "NotRemediating",
                    "Deleting": "NotDeleting", "RollingOut": "NotRollingOut"}


def _cond(*types: str, generation: int = 1) -> list[JSON]:
    """v1beta2 conditions (metav1.Condition) as a controller sets them on a healthy object: the given types True,
    plus the ones that are False when all is well (ScalingUp, Deleting...) when listed."""
    out = []
    for t in types:
        status, reason = ("False", _FALSE_WHEN_FINE[t]) if t in _FALSE_WHEN_FINE else ("True", _REASONS.get(t, t))
        out.append({"type": t, "status": status, "reason": reason, "message": "", "lastTransitionTime": NOW,
                    "observedGeneration": generation})
    return out


def _v1beta1_cond(*types: str) -> list[JSON]:
    """Cluster API v1beta1 conditions (providers of the v1beta1 contract, and `status.deprecated.v1beta1`)."""
    return [{"type": t, "status": "True", "lastTransitionTime": NOW} for t in types]


def _ref(api_version: str, kind: str, name: str) -> JSON:
    """A v1beta2 ContractVersionedObjectReference: group, kind and name (no version, no namespace)."""
    return {"apiGroup": api_version.rpartition("/")[0], "kind": kind, "name": name}


def _object_ref(api_version: str, kind: str, name: str, namespace: str) -> JSON:
    """A corev1.ObjectReference, as providers of the v1beta1 contract (CAPRKE2) still use."""
    return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}


def _template_ref(api_version: str, kind: str, name: str) -> JSON:
    """A v1beta2 ClusterClass template reference: apiVersion, kind, name (in the ClusterClass's namespace)."""
    return {"apiVersion": api_version, "kind": kind, "name": name}


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


def _replicas(n: int) -> JSON:
    """v1beta2 replica counters."""
    return {"replicas": n, "readyReplicas": n, "availableReplicas": n, "upToDateReplicas": n}


def cluster_objects(name: str, namespace: str, flavor: Flavor = Flavor(), *, control_planes: int = 3,
                    workers: int = 2, provisioned: bool = True, cluster_class: str | None = None) -> list[Obj]:
    """The objects of one workload cluster as Cluster API and its providers would have left them."""
    ns, kubeadm, docker = namespace, flavor.bootstrap == "kubeadm", flavor.infra == "docker"
    label = {"cluster.x-k8s.io/cluster-name": name}
    objs: list[Obj] = []
    infra_api = INFRA if docker else OPENSTACK
    cp_api = CONTROLPLANE if kubeadm else RKE2_CONTROLPLANE
    bootstrap_api = BOOTSTRAP if kubeadm else RKE2_BOOTSTRAP
    infra_cluster_kind = "DockerCluster" if docker else "OpenStackCluster"
    cp_kind = "KubeadmControlPlane" if kubeadm else "RKE2ControlPlane"
    config_template_kind = "KubeadmConfigTemplate" if kubeadm else "RKE2ConfigTemplate"
    template_kind = "DockerMachineTemplate" if docker else "OpenStackMachineTemplate"
    cp_name = f"{name}-control-plane"
    endpoint = {"host": f"10.{len(name) % 200}.{int(_h(name, n=2), 16)}.10", "port": 6443}
    version = K8S_VERSION if kubeadm else RKE2_VERSION

    # Cluster (v1beta2: references by group and kind, topology.classRef, status.initialization)
    spec: JSON = {
        "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "services": {"cidrBlocks": ["10.128.0.0/12"]},
                           "serviceDomain": "cluster.local"},
        "controlPlaneEndpoint": endpoint,
        "controlPlaneRef": _ref(cp_api, cp_kind, cp_name),
        "infrastructureRef": _ref(infra_api, infra_cluster_kind, name),
    }
    if cluster_class:
        spec["topology"] = {"classRef": {"name": cluster_class}, "version": K8S_VERSION,
                            "controlPlane": {"replicas": control_planes},
                            "workers": {"machineDeployments": [{"class": "default-worker", "name": "md-0",
                                                                "replicas": workers}]}}
    if provisioned:
        status: JSON = {
            "phase": "Provisioned", "observedGeneration": 2,
            "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
            "controlPlane": {"desiredReplicas": control_planes, **_replicas(control_planes)},
            "workers": {"desiredReplicas": workers, **_replicas(workers)},
            "conditions": _cond("Available", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable",
                                "WorkersAvailable", "RemoteConnectionProbe", "RollingOut", "ScalingUp",
                                "ScalingDown", "Remediating", "Deleting", generation=2),
            "deprecated": {"v1beta1": {"conditions": _v1beta1_cond(
                "Ready", "ControlPlaneInitialized", "ControlPlaneReady", "InfrastructureReady")}},
        }
    else:
        status = {
            "phase": "Provisioning", "observedGeneration": 2,
            "initialization": {"infrastructureProvisioned": False, "controlPlaneInitialized": False},
            "conditions": [
                {"type": "InfrastructureReady", "status": "False", "reason": "NotReady",
                 "message": f"{infra_cluster_kind} status.initialization.provisioned is false",
                 "lastTransitionTime": NOW, "observedGeneration": 2},
                {"type": "ControlPlaneInitialized", "status": "False", "reason": "NotInitialized",
                 "message": "Control plane not yet initialized", "lastTransitionTime": NOW, "observedGeneration": 2}],
        }
    objs.append(Obj(CAPI, "Cluster", name, ns, {"metadata": _meta(
        name, ns, {"cni": "calico", "flavor": f"{flavor.bootstrap}-{flavor.infra}"}, ["cluster.cluster.x-k8s.io"]),
        "spec": spec}, status))

    # Infrastructure cluster (+ the OpenStack credentials: an identity Secret labelled for move)
    if docker:
        objs.append(Obj(INFRA, "DockerCluster", name, ns, {
            "metadata": _meta(name, ns, label, ["dockercluster.infrastructure.cluster.x-k8s.io"]),
            "spec": {"controlPlaneEndpoint": endpoint, "loadBalancer": {}}},
            {"initialization": {"provisioned": provisioned}, "conditions": _cond("Ready", "LoadBalancerAvailable")},
            [("Cluster", name, True)]))
    else:
        cloud = f"{name}-cloud-config"
        objs.append(_secret(cloud, ns, name, ["clouds.yaml", "cacert"], [], "Opaque",
                            {"clusterctl.cluster.x-k8s.io/move": ""}))
        objs.append(Obj(OPENSTACK, "OpenStackCluster", name, ns, {
            "metadata": _meta(name, ns, label, ["openstackcluster.infrastructure.cluster.x-k8s.io"]),
            "spec": {"identityRef": {"cloudName": "openstack", "name": cloud}, "controlPlaneEndpoint": endpoint,
                     "managedSecurityGroups": {"allowAllInClusterTraffic": True},
                     "externalNetwork": {"id": "5b7a0d44-1b3b-4a5c-9d1e-0e6d0c1a2b3c"}}},
            {"ready": provisioned,
             "network": {"id": "f0e1d2c3-b4a5-4697-8887-766554433221", "name": f"k8s-clusterapi-cluster-{ns}-{name}"}},
            [("Cluster", name, True)]))

    # Control plane, its template and the cluster's secrets
    objs.append(_machine_template(infra_api, template_kind, f"{name}-control-plane", ns, name, docker))
    if kubeadm:
        kubelet_args = [{"name": "eviction-hard", "value": "nodefs.available<0%"}]
        cp_spec: JSON = {"replicas": control_planes, "version": K8S_VERSION,
                         "machineTemplate": {"spec": {"infrastructureRef": _ref(INFRA if docker else OPENSTACK,
                                                                                template_kind, cp_name)}},
                         "kubeadmConfigSpec": {"clusterConfiguration": {"apiServer": {"certSANs": ["localhost"]}},
                                               "initConfiguration": {"nodeRegistration": {
                                                   "kubeletExtraArgs": kubelet_args}},
                                               "joinConfiguration": {"nodeRegistration": {
                                                   "kubeletExtraArgs": kubelet_args}}}}
        cp_status: JSON = {
            **_replicas(control_planes), "version": K8S_VERSION, "observedGeneration": 1,
            "initialization": {"controlPlaneInitialized": provisioned},
            "selector": f"cluster.x-k8s.io/cluster-name={name},cluster.x-k8s.io/control-plane",
            "conditions": _cond("Available", "CertificatesAvailable", "MachinesReady", "MachinesUpToDate",
                                "RollingOut", "ScalingUp", "ScalingDown", "Remediating", "Deleting"),
            "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("Ready", "Available", "MachinesReady"),
                                       "readyReplicas": control_planes, "updatedReplicas": control_planes}}}
        fin = ["kubeadm.controlplane.cluster.x-k8s.io"]
    else:
        cp_spec = {"replicas": control_planes, "version": RKE2_VERSION,
                   "machineTemplate": {"infrastructureRef": _object_ref(infra_api, template_kind, cp_name, ns)},
                   "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                   "serverConfig": {"cni": "calico"}, "agentConfig": {}}
        cp_status = {"replicas": control_planes, "readyReplicas": control_planes, "updatedReplicas": control_planes,
                     "initialized": provisioned, "ready": provisioned, "version": RKE2_VERSION,
                     "observedGeneration": 1, "dataSecretName": f"{cp_name}-config",
                     "conditions": _v1beta1_cond("Ready", "Available", "MachinesReady")}
        fin = ["rke2.controlplane.cluster.x-k8s.io"]
    objs.append(Obj(cp_api, cp_kind, cp_name, ns, {"metadata": _meta(cp_name, ns, label, fin), "spec": cp_spec},
                    cp_status, [("Cluster", name, True)]))
    for purpose, keys in (("kubeconfig", ["value"]), ("ca", ["tls.crt", "tls.key"]), ("sa", ["tls.crt", "tls.key"]),
                          ("proxy", ["tls.crt", "tls.key"]), ("etcd", ["tls.crt", "tls.key"]),
                          ("apiserver-etcd-client", ["tls.crt", "tls.key"])):
        # The etcd CA and the API server's etcd client certificate are user-provided here (as for an external
        # etcd): no owner reference, they belong to the cluster by their names.
        owners = [] if purpose in ("etcd", "apiserver-etcd-client") else [(cp_kind, cp_name, True)]
        objs.append(_secret(f"{name}-{purpose}", ns, name, keys, owners))

    # Control-plane machines
    for i in range(control_planes):
        machine = f"{cp_name}-{_h(name, 'cp', str(i))}"
        objs += _machine(machine, ns, name, flavor, (cp_kind, cp_name), True, provisioned, i)

    # Workers: MachineDeployment -> MachineSet -> Machines
    md = f"{name}-md-0"
    objs.append(_machine_template(infra_api, template_kind, md, ns, name, docker))
    template_spec: JSON = ({"joinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": [
        {"name": "node-labels", "value": "role=worker"}]}}} if kubeadm else {"agentConfig": {}})
    objs.append(Obj(bootstrap_api, config_template_kind, md, ns, {"metadata": _meta(md, ns, label),
                                                                  "spec": {"template": {"spec": template_spec}}},
                    None if kubeadm else {}, [("Cluster", name, False)]))
    selector = {"cluster.x-k8s.io/cluster-name": name, "cluster.x-k8s.io/deployment-name": md}
    template = {"metadata": {"labels": selector},
                "spec": {"clusterName": name, "version": version,
                         "bootstrap": {"configRef": _ref(bootstrap_api, config_template_kind, md)},
                         "infrastructureRef": _ref(infra_api, template_kind, md)}}
    replica_conditions = ("MachinesReady", "MachinesUpToDate", "ScalingUp", "ScalingDown", "Remediating", "Deleting")
    objs.append(Obj(CAPI, "MachineDeployment", md, ns, {
        "metadata": _meta(md, ns, label, ["machinedeployment.cluster.x-k8s.io"]),
        "spec": {"clusterName": name, "replicas": workers, "selector": {"matchLabels": selector},
                 "template": template}},
        {**_replicas(workers), "observedGeneration": 1, "phase": "Running",
         "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
         "conditions": _cond("Available", "RollingOut", *replica_conditions),
         "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("Ready", "Available"), "readyReplicas": workers,
                                    "availableReplicas": workers, "updatedReplicas": workers}}},
        [("Cluster", name, False)]))
    ms = f"{md}-{_h(name, 'ms', n=10)}"
    ms_selector = {**selector, "machine-template-hash": _h(name, "hash", n=10)}
    objs.append(Obj(CAPI, "MachineSet", ms, ns, {
        "metadata": _meta(ms, ns, {**label, "cluster.x-k8s.io/deployment-name": md},
                          ["machineset.cluster.x-k8s.io"]),
        "spec": {"clusterName": name, "replicas": workers, "selector": {"matchLabels": ms_selector},
                 "template": {**template, "metadata": {"labels": ms_selector}}}},
        {**_replicas(workers), "observedGeneration": 1,
         "selector": ",".join(f"{k}={v}" for k, v in ms_selector.items()),
         "conditions": _cond(*replica_conditions),
         "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("Ready", "MachinesCreated", "MachinesReady"),
                                    "fullyLabeledReplicas": workers, "readyReplicas": workers,
                                    "availableReplicas": workers}}},
        [("MachineDeployment", md, True)]))
    for i in range(workers):
        machine = f"{ms}-{_h(name, 'w', str(i))}"
        objs += _machine(machine, ns, name, flavor, ("MachineSet", ms), False, provisioned, i)
    return objs


def _machine_template(api_version: str, kind: str, name: str, ns: str, cluster: str, docker: bool) -> Obj:
    image = {"filter": {"name": f"ubuntu-2404-kube-{K8S_VERSION}"}}
    spec: JSON = ({"extraMounts": [{"containerPath": "/var/run/docker.sock", "hostPath": "/var/run/docker.sock"}]}
                  if docker else {"flavor": "m1.medium", "image": image, "sshKeyName": "cluster-api"})
    return Obj(api_version, kind, name, ns, {"metadata": _meta(name, ns, {"cluster.x-k8s.io/cluster-name": cluster}),
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
    bootstrap_api = BOOTSTRAP if kubeadm else RKE2_BOOTSTRAP
    infra_api = INFRA if docker else OPENSTACK
    config_kind = "KubeadmConfig" if kubeadm else "RKE2Config"
    infra_kind = "DockerMachine" if docker else "OpenStackMachine"
    address = f"172.18.{index}.{int(_h(name, n=2), 16)}"
    version = K8S_VERSION if kubeadm else RKE2_VERSION
    provider_id = f"docker:////{name}" if docker else f"openstack:///{_h(name, n=8)}-0000-4000-8000-000000000000"
    machine_status: JSON = {
        "phase": "Running" if provisioned else "Provisioning", "observedGeneration": 1,
        "initialization": {"bootstrapDataSecretCreated": True, "infrastructureProvisioned": provisioned},
        "addresses": [{"type": "InternalIP", "address": address}],
        "conditions": _cond("Available", "Ready", "UpToDate", "BootstrapConfigReady", "InfrastructureReady",
                            "NodeHealthy", "NodeReady", "Deleting") if provisioned else
        [*_cond("BootstrapConfigReady", "UpToDate"),
         {"type": "InfrastructureReady", "status": "False", "reason": "NotReady", "message": "",
          "lastTransitionTime": NOW, "observedGeneration": 1}],
        "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("Ready", "BootstrapReady", "InfrastructureReady",
                                                               "NodeHealthy")}},
    }
    if provisioned:
        machine_status["nodeRef"] = {"name": name}
        machine_status["nodeInfo"] = {"kubeletVersion": K8S_VERSION, "architecture": "amd64",
                                      "operatingSystem": "linux", "bootID": "b",
                                      "containerRuntimeVersion": "containerd://2.1.0", "kernelVersion": "6.12",
                                      "kubeProxyVersion": K8S_VERSION, "machineID": "m", "osImage": "Ubuntu 24.04",
                                      "systemUUID": "s"}
    if kubeadm:
        config_status: JSON = {
            "initialization": {"dataSecretCreated": True}, "dataSecretName": name, "observedGeneration": 1,
            "conditions": _cond("Ready", "DataSecretAvailable", "CertificatesAvailable"),
            "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("Ready", "DataSecretAvailable")}}}
        config_spec: JSON = {"joinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": [
            {"name": "node-labels", "value": "role=x"}]}}}
    else:
        config_status = {"ready": True, "dataSecretName": name, "observedGeneration": 1,
                         "conditions": _v1beta1_cond("Ready", "DataSecretAvailable")}
        config_spec = {"agentConfig": {}}
    objs = [
        Obj(CAPI, "Machine", name, ns, {
            "metadata": _meta(name, ns, labels, ["machine.cluster.x-k8s.io"]),
            "spec": {"clusterName": cluster, "version": version, "providerID": provider_id,
                     "bootstrap": {"configRef": _ref(bootstrap_api, config_kind, name), "dataSecretName": name},
                     "infrastructureRef": _ref(infra_api, infra_kind, name)}},
            machine_status, [(owner[0], owner[1], True)]),
        Obj(bootstrap_api, config_kind, name, ns, {"metadata": _meta(name, ns, labels), "spec": config_spec},
            config_status, [("Machine", name, True)]),
        _secret(name, ns, cluster, ["value", "format"], [(config_kind, name, True)]),
    ]
    if docker:
        objs.append(Obj(INFRA, "DockerMachine", name, ns, {
            "metadata": _meta(name, ns, labels, ["dockermachine.infrastructure.cluster.x-k8s.io"]),
            "spec": {"providerID": provider_id}},
            {"initialization": {"provisioned": provisioned}, "addresses": [{"type": "InternalIP", "address": address}],
             "conditions": _cond("Ready", "ContainerProvisioned", "BootstrapExecSucceeded")},
            [("Machine", name, True)]))
    else:
        objs.append(Obj(OPENSTACK, "OpenStackMachine", name, ns, {
            "metadata": _meta(name, ns, labels, ["openstackmachine.infrastructure.cluster.x-k8s.io"]),
            "spec": {"providerID": provider_id, "flavor": "m1.medium",
                     "image": {"filter": {"name": f"ubuntu-2404-kube-{K8S_VERSION}"}},
                     "identityRef": {"cloudName": "openstack", "name": f"{cluster}-cloud-config"}}},
            {"ready": provisioned, "instanceState": "ACTIVE",
             "addresses": [{"type": "InternalIP", "address": address}], "conditions": _v1beta1_cond("Ready")},
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
            {"observedGeneration": 1, "conditions": _cond("ResourcesApplied"),
             "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("ResourcesApplied")}}}),
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
            "infrastructure": {"templateRef": _template_ref(INFRA, "DockerClusterTemplate", f"{cc}-cluster")},
            "controlPlane": {"templateRef": _template_ref(CONTROLPLANE, "KubeadmControlPlaneTemplate",
                                                          f"{cc}-control-plane"),
                             "machineInfrastructure": {"templateRef": _template_ref(
                                 INFRA, "DockerMachineTemplate", f"{cc}-control-plane-machine")}},
            "workers": {"machineDeployments": [{
                "class": "default-worker",
                "bootstrap": {"templateRef": _template_ref(BOOTSTRAP, "KubeadmConfigTemplate",
                                                           f"{cc}-worker-bootstrap")},
                "infrastructure": {"templateRef": _template_ref(INFRA, "DockerMachineTemplate",
                                                                f"{cc}-worker-machine")}}]}}},
            {"observedGeneration": 1, "conditions": _cond("VariablesReady", "RefVersionsUpToDate"),
             "deprecated": {"v1beta1": {"conditions": _v1beta1_cond("VariablesReconciled")}}}))
        own = [("ClusterClass", cc, False)]
        docker_spec = {"extraMounts": [{"containerPath": "/var/run/docker.sock", "hostPath": "/var/run/docker.sock"}]}
        objs += [
            Obj(INFRA, "DockerClusterTemplate", f"{cc}-cluster", ns, {
                "metadata": _meta(f"{cc}-cluster", ns),
                "spec": {"template": {"spec": {"loadBalancer": {}}}}}, owners=own),
            Obj(CONTROLPLANE, "KubeadmControlPlaneTemplate", f"{cc}-control-plane", ns, {
                "metadata": _meta(f"{cc}-control-plane", ns),
                "spec": {"template": {"spec": {"kubeadmConfigSpec": {"clusterConfiguration": {
                    "apiServer": {"certSANs": ["localhost"]}}}}}}}, owners=own),
            Obj(INFRA, "DockerMachineTemplate", f"{cc}-control-plane-machine", ns, {
                "metadata": _meta(f"{cc}-control-plane-machine", ns), "spec": {"template": {"spec": docker_spec}}},
                owners=own),
            Obj(INFRA, "DockerMachineTemplate", f"{cc}-worker-machine", ns, {
                "metadata": _meta(f"{cc}-worker-machine", ns), "spec": {"template": {"spec": docker_spec}}},
                owners=own),
            Obj(BOOTSTRAP, "KubeadmConfigTemplate", f"{cc}-worker-bootstrap", ns, {
                "metadata": _meta(f"{cc}-worker-bootstrap", ns),
                "spec": {"template": {"spec": {"joinConfiguration": {"nodeRegistration": {"kubeletExtraArgs": [
                    {"name": "node-labels", "value": "role=worker"}]}}}}}}, owners=own),
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
