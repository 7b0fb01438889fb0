"""The labels, annotations and API names the move reads and writes, in one place."""

from __future__ import annotations

# Set by a provider install on its CRDs: the move discovers its types from these (Cluster API contract).
CLUSTERCTL_LABEL = "clusterctl.cluster.x-k8s.io"
PROVIDER_LABEL = "cluster.x-k8s.io/provider"  # set by the providers' own manifests (and clusterctl): `<type>-<name>`
MOVE_LABEL = "clusterctl.cluster.x-k8s.io/move"  # on a CRD or an object: move it even without owners
MOVE_HIERARCHY_LABEL = "clusterctl.cluster.x-k8s.io/move-hierarchy"  # ...and everything it owns

# Object annotations of the Cluster API contract.
BLOCK_MOVE = "clusterctl.cluster.x-k8s.io/block-move"  # a provider is not ready: wait until it is removed
DELETE_FOR_MOVE = "clusterctl.cluster.x-k8s.io/delete-for-move"  # set on source objects just before deletion
CAPI_PAUSED = "cluster.x-k8s.io/paused"  # pauses a ClusterClass (Clusters use spec.paused)

# Our own bookkeeping, kept in the clusters themselves (see the package docstring).
SOURCE_UID = "cluster-init/pivot-source-uid"  # on every object the move created: the UID it was copied from
PAUSED_BY_PIVOT = "cluster-init/pivot-paused"  # on Clusters/ClusterClasses paused by the move, until unpaused

CAPI_GROUP = "cluster.x-k8s.io"
# The Cluster API contract the move reads objects in (the storage version of the Cluster type, as `clusterctl move`
# of the pinned Cluster API requires of both management clusters).
CONTRACT = "v1beta2"
ADDONS_GROUP = "addons.cluster.x-k8s.io"
CLUSTERCTL_GROUP = "clusterctl.cluster.x-k8s.io"
CRD_API = "apiextensions.k8s.io/v1"

# Suffixes of the Secrets Cluster API names after their cluster (`<cluster>-<purpose>`): soft-owned by it. In this
# order: a name is matched against each suffix in turn (a purpose may contain '-': `apiserver-etcd-client`).
SECRET_PURPOSES = ("kubeconfig", "ca", "etcd", "sa", "proxy", "apiserver-etcd-client")
